// A GoogleTest main that runs every test in a fresh process image.
//
// Why: a KFD process lives as long as its address space, not as long as its /dev/kfd fd. Closing the
// fds and opening them again in the same program finds the same KFD process, with its VMs still bound
// to the render-node files of the first open (ACQUIRE_VM with a new file is then -EBUSY) and its BOs
// still allocated. So tests that each want a clean KFD process need a new address space each — on
// vkfd exactly as on a real /dev/kfd. The parent lists the tests and re-executes itself once per test
// (`/proc/self/exe --gtest_filter=Suite.Name`); exec keeps the environment, so under `vkfd run` the
// child is emulated too, and on a real machine it gets its own KFD process from the real driver.
//
// The parent asks a child for the test list (`--gtest_list_tests` with the same arguments), so a
// --gtest_filter selects which tests get a process each. With --gtest_list_tests or
// VKFD_TEST_IN_PROCESS=1 everything runs in this process instead (for debugging one test).
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {

bool HasFlag(int argc, char** argv, const char* prefix) {
  for (int i = 1; i < argc; ++i) {
    if (strncmp(argv[i], prefix, strlen(prefix)) == 0) return true;
  }
  return false;
}

std::string ShellQuote(const std::string& s) {
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

// The tests the arguments select, as a child lists them: "Suite.Name", in order.
bool ListTests(const std::vector<std::string>& args, std::vector<std::string>* names) {
  std::string command = "VKFD_TEST_IN_PROCESS=1 exec /proc/" + std::to_string(getpid()) + "/exe";
  for (size_t i = 1; i < args.size(); ++i) command += " " + ShellQuote(args[i]);
  command += " --gtest_list_tests";
  FILE* list = popen(command.c_str(), "r");
  if (list == nullptr) return false;
  char line[1024];
  std::string suite;
  while (fgets(line, sizeof(line), list) != nullptr) {
    std::string text(line);
    while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
    if (text.empty()) continue;
    const bool is_test = text[0] == ' ';
    const size_t start = text.find_first_not_of(' ');
    const size_t end = text.find_first_of(" #", start);
    const std::string word = text.substr(start, end == std::string::npos ? end : end - start);
    if (!is_test) {
      suite = word;  // "Suite." (with its dot)
    } else if (word.rfind("DISABLED_", 0) != 0) {
      names->push_back(suite + word);
    }
  }
  return pclose(list) == 0;
}

// Runs one test in a child process; returns its exit status (0 passed or skipped).
int RunOne(const std::vector<std::string>& args, const std::string& name) {
  fflush(stdout);
  fflush(stderr);
  const pid_t pid = fork();
  if (pid < 0) {
    perror("fork");
    return 1;
  }
  if (pid == 0) {
    setenv("VKFD_TEST_IN_PROCESS", "1", 1);
    std::vector<std::string> child_args = args;
    child_args.push_back("--gtest_filter=" + name);
    std::vector<char*> argv;
    for (auto& a : child_args) argv.push_back(a.data());
    argv.push_back(nullptr);
    execv("/proc/self/exe", argv.data());
    perror("execv /proc/self/exe");
    _exit(127);
  }
  int status = 0;
  while (waitpid(pid, &status, 0) < 0) {
  }
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  fprintf(stderr, "%s: killed by signal %d\n", name.c_str(), WTERMSIG(status));
  return 128 + WTERMSIG(status);
}

}  // namespace

int main(int argc, char** argv) {
  const std::vector<std::string> original(argv, argv + argc);
  const bool in_process = getenv("VKFD_TEST_IN_PROCESS") != nullptr ||
                          HasFlag(argc, argv, "--gtest_list_tests");
  ::testing::InitGoogleTest(&argc, argv);
  if (in_process) return RUN_ALL_TESTS();

  std::vector<std::string> names;
  if (!ListTests(original, &names)) {
    fprintf(stderr, "cannot list the tests\n");
    return 1;
  }
  std::vector<std::string> failed;
  for (const std::string& name : names) {
    if (RunOne(original, name) != 0) failed.push_back(name);
  }
  printf("[fresh process per test] %zu tests, %zu passed or skipped, %zu failed\n", names.size(),
         names.size() - failed.size(), failed.size());
  for (const std::string& name : failed) printf("[  FAILED  ] %s\n", name.c_str());
  return failed.empty() ? 0 : 1;
}

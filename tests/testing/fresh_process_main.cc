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

#include "test_list.h"  // beside this file: some programs using it have no tests/ include path

namespace {

using vkfd::testing::ListTests;

bool HasFlag(int argc, char** argv, const char* prefix) {
  for (int i = 1; i < argc; ++i) {
    if (strncmp(argv[i], prefix, strlen(prefix)) == 0) return true;
  }
  return false;
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

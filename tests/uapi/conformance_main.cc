// vkfd-conformance: vkfd's raw-ioctl conformance tests (tests/uapi: VKFD_CONFORMANCE_RULES in
// tests/CMakeLists.txt — conformance_test.cc, memory_rules_test.cc, ... — and queue_ioctl_test.cc,
// queue_test.cc, through preload_backend.cc: plain open/ioctl/mmap on /dev/kfd)
// as a program that checks whatever serves /dev/kfd: the amdgpu driver of a real machine, vkfd under
// `vkfd run`, another emulator. `vkfd conformance` runs it (src/tools/conformance_command.cc); it
// prints one row per rule: the rule, the 6.1 kernel function it follows, and pass / fail (what came
// back) / skip (why).
//
//   vkfd-conformance [--json FILE] [--filter PATTERN] [--destructive] [--list]
//
// The rules are the tests, one per process (as tests/testing/fresh_process_main.cc runs them): a KFD
// process lives as long as its address space, so each rule gets a clean one, and everything a rule
// allocates — BOs, mappings, queues, events, doorbells — is released by the kernel when its process
// ends, however it ends (kfd_process_notifier_release, then kfd_process_wq_release). Each rule's
// process is its own process group; SIGINT, SIGTERM and SIGHUP are passed on to it, the runner waits
// for it to end, reports the rules not run and exits 128 + the signal. Nothing is written but the
// --json file (results go through a temporary directory that is removed).
//
// A rule names its function in its test name, <function>_<Rule> ("kfd_ioctl_map_memory_to_gpu_
// ResumesAtNSuccessAfterABogusDevice"), or its fixture records a "follows" property. Destructive rules
// (VKFD_DESTRUCTIVE in uapi/device_test.h: all VRAM allocated, packets run on GPU queues) are skipped
// unless --destructive is given. Rules that need what the machine lacks (GPUs, large BAR, a hive, the
// timing model, vkfd's page-table view) are skipped saying so.
//
// Child mode (VKFD_TEST_IN_PROCESS=1): a plain GoogleTest run plus a listener that appends one line per
// test to the file VKFD_CONFORMANCE_RESULTS: "name \t follows \t pass|fail|skip \t message".
#include <fcntl.h>
#include <linux/kfd_ioctl.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <regex>
#include <string>
#include <vector>

#include "testing/test_list.h"

namespace {

constexpr char kAssumes[] = "Linux 6.1 amdkfd (KFD ioctl 1.11, Debian 12's 6.1.y)";
constexpr int kTestTimeoutSeconds = 300;

// ---- child ----------------------------------------------------------------------------------------

std::string OneLine(std::string text) {
  for (char& c : text) {
    if (c == '\n' || c == '\t' || c == '\r') c = ' ';
  }
  return text;
}

class ResultWriter : public ::testing::EmptyTestEventListener {
 public:
  explicit ResultWriter(const char* path) : path_(path) {}
  void OnTestPartResult(const ::testing::TestPartResult& r) override {
    if (r.failed() || r.skipped()) {
      std::string where;
      if (r.file_name() != nullptr && r.failed()) {
        const char* base = strrchr(r.file_name(), '/');
        where = std::string(base != nullptr ? base + 1 : r.file_name()) + ":" +
                std::to_string(r.line_number()) + ": ";
      }
      if (!message_.empty()) message_ += " | ";
      message_ += where + r.message();
    }
  }
  void OnTestEnd(const ::testing::TestInfo& info) override {
    const ::testing::TestResult& result = *info.result();
    const char* status = result.Failed() ? "fail" : result.Skipped() ? "skip" : "pass";
    std::string follows;
    for (int i = 0; i < result.test_property_count(); ++i) {
      if (strcmp(result.GetTestProperty(i).key(), "follows") == 0) {
        follows = result.GetTestProperty(i).value();
      }
    }
    std::ofstream out(path_, std::ios::app);
    out << info.test_suite_name() << "." << info.name() << "\t" << OneLine(follows) << "\t" << status
        << "\t" << OneLine(message_) << "\n";
    message_.clear();
  }

 private:
  std::string path_;
  std::string message_;
};

int ChildMain(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  if (const char* results = getenv("VKFD_CONFORMANCE_RESULTS")) {
    ::testing::UnitTest::GetInstance()->listeners().Append(new ResultWriter(results));
  }
  return RUN_ALL_TESTS();
}

// ---- parent ---------------------------------------------------------------------------------------

struct Options {
  std::string json;
  std::string filter = "*";
  bool destructive = false;
  bool list = false;
};

struct Row {
  std::string test;     // Suite.Name
  std::string rule;     // words
  std::string follows;  // the kernel function
  std::string result;   // pass, fail, skip, not run
  std::string detail;
};

volatile sig_atomic_t g_signal = 0;
volatile pid_t g_child_group = 0;

void OnSignal(int signo) {
  g_signal = signo;
  if (g_child_group > 0) kill(-g_child_group, signo);
}

constexpr char kUsage[] =
    "usage: vkfd-conformance [--json FILE] [--filter PATTERN] [--destructive] [--list]\n";

int Usage(const std::string& error) {
  fprintf(stderr, "vkfd conformance: %s\n%s", error.c_str(), kUsage);
  return 2;
}

// "kfd_ioctl_map_memory_to_gpu_ResumesAtNSuccess" -> {"kfd_ioctl_map_memory_to_gpu", "ResumesAtNSuccess"}.
std::pair<std::string, std::string> SplitName(const std::string& name) {
  static const std::regex prefixed("^([a-z][a-z0-9_]*?)_([A-Z0-9].*)$");
  std::smatch m;
  if (std::regex_match(name, m, prefixed)) return {m[1], m[2]};
  return {"", name};
}

// "ResumesAtNSuccessAfterABogusDevice" -> "resumes at n success after a bogus device".
std::string Words(const std::string& camel) {
  std::string out;
  for (size_t i = 0; i < camel.size(); ++i) {
    const char c = camel[i];
    const bool upper = isupper(static_cast<unsigned char>(c));
    const bool boundary =
        i > 0 && upper &&
        (islower(static_cast<unsigned char>(camel[i - 1])) ||
         isdigit(static_cast<unsigned char>(camel[i - 1])) ||
         (i + 1 < camel.size() && islower(static_cast<unsigned char>(camel[i + 1]))));
    if (c == '_') {
      out += ' ';
      continue;
    }
    if (boundary && !out.empty() && out.back() != ' ') out += ' ';
    out += static_cast<char>(tolower(static_cast<unsigned char>(c)));
  }
  return out;
}

std::string JsonString(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (static_cast<unsigned char>(c) < 0x20) {
      char buf[8];
      snprintf(buf, sizeof(buf), "\\u%04x", c);
      out += buf;
    } else {
      out += c;
    }
  }
  return out + "\"";
}

// What serves /dev/kfd, and the version it reports.
std::string DescribeDevice(int* gpus) {
  std::string served = getenv("VKFD_ROOT") != nullptr
                           ? "vkfd (vkfd run)"
                           : "not vkfd (the kernel's driver, or another emulator)";
  const int fd = open("/dev/kfd", O_RDWR | O_CLOEXEC);
  if (fd < 0) return served + ", /dev/kfd: " + strerror(errno);
  kfd_ioctl_get_version_args v{};
  std::string version = ioctl(fd, AMDKFD_IOC_GET_VERSION, &v) == 0
                            ? std::to_string(v.major_version) + "." + std::to_string(v.minor_version)
                            : std::string("GET_VERSION failed: ") + strerror(errno);
  close(fd);
  *gpus = 0;
  for (int n = 0;; ++n) {
    std::ifstream id("/sys/devices/virtual/kfd/kfd/topology/nodes/" + std::to_string(n) + "/gpu_id");
    if (!id) break;
    unsigned gpu = 0;
    id >> gpu;
    if (gpu != 0) ++*gpus;
  }
  return served + ", KFD ioctl " + version;
}

// Runs one test in its own process group; fills `row` from the listener's line.
void RunOne(const std::string& self, const Options& o, const std::string& results, Row* row) {
  unlink(results.c_str());
  fflush(stdout);
  const pid_t pid = fork();
  if (pid < 0) {
    row->result = "fail";
    row->detail = std::string("fork: ") + strerror(errno);
    return;
  }
  if (pid == 0) {
    setpgid(0, 0);
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    signal(SIGHUP, SIG_DFL);
    setenv("VKFD_TEST_IN_PROCESS", "1", 1);
    setenv("VKFD_CONFORMANCE_RESULTS", results.c_str(), 1);
    if (!o.destructive) setenv("VKFD_CONFORMANCE_SAFE", "1", 1);
    // The test's own output goes nowhere: the table says what matters.
    const int null = open("/dev/null", O_WRONLY);
    if (null >= 0) {
      dup2(null, 1);
      dup2(null, 2);
      close(null);
    }
    const std::string filter = "--gtest_filter=" + row->test;
    execl(self.c_str(), self.c_str(), filter.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  setpgid(pid, pid);  // either side may win the race; both ask for the same
  g_child_group = pid;
  int status = 0;
  const time_t deadline = time(nullptr) + kTestTimeoutSeconds;
  bool timed_out = false;
  for (;;) {
    const pid_t r = waitpid(pid, &status, WNOHANG);
    if (r == pid) break;
    if (r < 0 && errno != EINTR) break;
    if (!timed_out && time(nullptr) > deadline) {
      timed_out = true;
      kill(-pid, SIGKILL);
    }
    usleep(5000);
  }
  g_child_group = 0;
  kill(-pid, SIGKILL);  // whatever the rule forked and left behind
  std::ifstream in(results);
  std::string line;
  if (std::getline(in, line)) {
    std::vector<std::string> f;
    size_t at = 0;
    for (int i = 0; i < 3; ++i) {
      const size_t tab = line.find('\t', at);
      f.push_back(line.substr(at, tab - at));
      at = tab == std::string::npos ? line.size() : tab + 1;
    }
    f.push_back(line.substr(at));
    if (row->follows.empty()) row->follows = f[1];
    row->result = f[2];
    row->detail = f[3];
  }
  unlink(results.c_str());
  if (g_signal != 0 && (row->result.empty() || row->result == "fail")) {
    row->result = "not run";
    row->detail = std::string("interrupted by ") + strsignal(g_signal);
  } else if (timed_out) {
    row->result = "fail";
    row->detail = "no result after " + std::to_string(kTestTimeoutSeconds) + " s (killed)";
  } else if (row->result.empty()) {
    row->result = "fail";
    row->detail = WIFSIGNALED(status) ? std::string("the rule's process died: ") +
                                            strsignal(WTERMSIG(status))
                                      : "the rule's process exited " +
                                            std::to_string(WEXITSTATUS(status)) + " with no result";
  }
}

std::string Clip(const std::string& s, size_t n) {
  return s.size() <= n ? s : s.substr(0, n - 3) + "...";
}

int ParentMain(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&](const char* name, std::string* out) {
      const std::string eq = std::string(name) + "=";
      if (a.rfind(eq, 0) == 0) {
        *out = a.substr(eq.size());
        return true;
      }
      if (a == name && i + 1 < argc) {
        *out = argv[++i];
        return true;
      }
      return false;
    };
    if (value("--json", &o.json) || value("--filter", &o.filter)) continue;
    if (a == "--destructive") {
      o.destructive = true;
    } else if (a == "--list") {
      o.list = true;
    } else if (a == "--help" || a == "-h") {
      printf("%s", kUsage);
      return 0;
    } else {
      return Usage("unknown argument '" + a + "'");
    }
  }
  if (o.filter.empty()) return Usage("--filter needs a pattern");

  char self[4096];
  const ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
  if (n <= 0) return Usage("cannot find /proc/self/exe");
  self[n] = '\0';
  std::vector<std::string> names;
  if (!vkfd::testing::ListTests({self, "--gtest_filter=" + o.filter}, &names)) {
    fprintf(stderr, "vkfd conformance: cannot list the rules\n");
    return 1;
  }
  std::vector<Row> rows;
  for (const std::string& name : names) {
    Row row;
    row.test = name;
    const size_t dot = name.find('.');
    auto [function, rule] = SplitName(name.substr(dot + 1));
    row.follows = function;
    row.rule = Words(rule);
    rows.push_back(row);
  }
  if (o.list) {
    for (const Row& r : rows) printf("%-48s %s\n", r.test.c_str(), r.follows.c_str());
    return 0;
  }

  // Without a /dev/kfd to check every rule would be skipped for want of GPUs: say so instead.
  if (const int fd = open("/dev/kfd", O_RDWR | O_CLOEXEC); fd < 0) {
    fprintf(stderr,
            "vkfd conformance: cannot open /dev/kfd: %s\n(no amdgpu driver loaded, or not in the group "
            "that owns /dev/kfd — usually 'render'; to check vkfd: vkfd run -- vkfd conformance)\n",
            strerror(errno));
    return 1;
  } else {
    close(fd);
  }
  utsname u{};
  uname(&u);
  int gpus = 0;
  const std::string device = DescribeDevice(&gpus);
  printf("vkfd conformance: the rules of %s\n", kAssumes);
  printf("this machine: Linux %s %s; /dev/kfd: %s; %d GPU(s)\n", u.release, u.machine,
         device.c_str(), gpus);
  if (strncmp(u.release, "6.1.", 4) != 0 && getenv("VKFD_ROOT") == nullptr) {
    printf("note: this kernel is not 6.1; where a later driver changed a rule the row fails, and the "
           "detail says what came back\n");
  }
  printf("%zu rule(s)%s\n\n", rows.size(),
         o.destructive ? ", destructive ones included" : " (destructive ones skipped: --destructive)");

  char dir_template[] = "/tmp/vkfd-conformance-XXXXXX";
  const char* dir = mkdtemp(dir_template);
  if (dir == nullptr) {
    fprintf(stderr, "vkfd conformance: mkdtemp: %s\n", strerror(errno));
    return 1;
  }
  const std::string results = std::string(dir) + "/result";
  struct sigaction sa {};
  sa.sa_handler = OnSignal;
  sigemptyset(&sa.sa_mask);
  for (int s : {SIGINT, SIGTERM, SIGHUP}) sigaction(s, &sa, nullptr);

  std::map<std::string, int> counts;
  printf("%-7s %-40s %s\n", "result", "follows (6.1)", "rule");
  for (Row& row : rows) {
    if (g_signal != 0) {
      row.result = "not run";
      row.detail = std::string("interrupted by ") + strsignal(g_signal);
    } else {
      RunOne(self, o, results, &row);
    }
    ++counts[row.result];
    printf("%-7s %-40s %s\n", row.result.c_str(), Clip(row.follows.empty() ? "-" : row.follows, 40).c_str(),
           row.rule.c_str());
    if (row.result != "pass" && !row.detail.empty()) printf("        %s\n", Clip(row.detail, 300).c_str());
    fflush(stdout);
  }
  rmdir(dir);
  printf("\n%d passed, %d failed, %d skipped, %d not run (of %zu)\n", counts["pass"], counts["fail"],
         counts["skip"], counts["not run"], rows.size());

  if (!o.json.empty()) {
    std::string out = "{\n  \"assumes\": " + JsonString(kAssumes) + ",\n  \"machine\": {\"kernel\": " +
                      JsonString(u.release) + ", \"arch\": " + JsonString(u.machine) +
                      ", \"device\": " + JsonString(device) + ", \"gpus\": " + std::to_string(gpus) +
                      "},\n  \"destructive\": " + (o.destructive ? "true" : "false") +
                      ",\n  \"filter\": " + JsonString(o.filter) + ",\n  \"rules\": [\n";
    for (size_t i = 0; i < rows.size(); ++i) {
      const Row& r = rows[i];
      out += "    {\"test\": " + JsonString(r.test) + ", \"rule\": " + JsonString(r.rule) +
             ", \"follows\": " + JsonString(r.follows) + ", \"result\": " + JsonString(r.result) +
             ", \"detail\": " + JsonString(r.detail) + "}" + (i + 1 < rows.size() ? ",\n" : "\n");
    }
    out += "  ],\n  \"summary\": {\"pass\": " + std::to_string(counts["pass"]) +
           ", \"fail\": " + std::to_string(counts["fail"]) + ", \"skip\": " +
           std::to_string(counts["skip"]) + ", \"not_run\": " + std::to_string(counts["not run"]) +
           "}\n}\n";
    std::ofstream file(o.json);
    file << out;
    if (!file) {
      fprintf(stderr, "vkfd conformance: cannot write %s\n", o.json.c_str());
      return 1;
    }
  }
  if (g_signal != 0) return 128 + g_signal;
  return counts["fail"] == 0 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  if (getenv("VKFD_TEST_IN_PROCESS") != nullptr) return ChildMain(argc, argv);
  for (int i = 1; i < argc; ++i) {
    if (strncmp(argv[i], "--gtest_", 8) == 0) return ChildMain(argc, argv);  // by hand: plain gtest
  }
  return ParentMain(argc, argv);
}

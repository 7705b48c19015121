// vkfd conformance [--json FILE] [--filter PATTERN] [--destructive] [--list]
//
// Runs vkfd's raw-ioctl conformance rules against whatever serves /dev/kfd — the amdgpu driver of a
// real machine, vkfd (inside `vkfd run`), another emulator — and prints one row per rule. The rules are
// the tests of tests/uapi built into one program, vkfd-conformance, installed in ../libexec/vkfd
// relative to this binary (tests/uapi/conformance_main.cc runs them, one process per rule); this
// command checks the options and execs it. VKFD_CONFORMANCE_BIN overrides where it is.
#include <limits.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "tools/cli.h"
#include "tools/commands.h"

namespace vkfd::tools {
namespace {

struct ConformanceOptions {
  std::optional<std::string> json, filter;
  bool destructive = false;
  bool list = false;
};

std::optional<std::string> FindRunner() {
  if (const char* env = getenv("VKFD_CONFORMANCE_BIN"); env != nullptr && *env != '\0') return env;
  char exe[PATH_MAX];
  const ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
  if (n <= 0) return std::nullopt;
  exe[n] = '\0';
  std::string dir(exe);
  dir = dir.substr(0, dir.rfind('/'));
  const std::string candidate = dir + "/../libexec/vkfd/vkfd-conformance";
  if (access(candidate.c_str(), X_OK) == 0) return candidate;
  return std::nullopt;
}

int Conformance(const ConformanceOptions& o) {
  const std::optional<std::string> runner = FindRunner();
  if (!runner) {
    return UsageError(
        "conformance: vkfd-conformance is not installed next to vkfd (../libexec/vkfd; it is built "
        "with the tests: BUILD_TESTING=ON)");
  }
  std::vector<std::string> args = {*runner};
  if (o.json) args.insert(args.end(), {"--json", *o.json});
  if (o.filter) args.insert(args.end(), {"--filter", *o.filter});
  if (o.destructive) args.push_back("--destructive");
  if (o.list) args.push_back("--list");
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  execv(argv[0], argv.data());
  fprintf(stderr, "vkfd: conformance: cannot run %s: %s\n", argv[0], strerror(errno));
  return 126;
}

constexpr char kAbout[] =
    "Checks whatever serves /dev/kfd against the rules of Linux 6.1's amdkfd (KFD ioctl 1.11): a\n"
    "real AMD GPU's driver, vkfd (run it inside 'vkfd run'), another emulator. Prints one row per\n"
    "rule: pass, fail with what came back, or skip with why (needs 2 GPUs, large BAR, ...). Each\n"
    "rule runs in its own process, so the kernel frees whatever it allocated, also when it is\n"
    "interrupted (SIGINT, SIGTERM); nothing else is written but the --json file. Exit status: 0\n"
    "when no rule failed, 1 when one did (or /dev/kfd cannot be opened), 2 on usage errors,\n"
    "128+N when stopped by signal N.";

constexpr char kFooter[] =
    "On a machine with an AMD GPU (README: 'Checking a real driver'):\n"
    "  vkfd conformance --json kfd-conformance.json\n"
    "Inside vkfd:\n"
    "  vkfd run --gpus 4 -- vkfd conformance --destructive";

}  // namespace

Command AddConformanceCommand(CLI::App& vkfd) {
  auto o = std::make_shared<ConformanceOptions>();
  CLI::App* app = vkfd.add_subcommand(
      "conformance", "check /dev/kfd against the 6.1 driver's rules (real GPU or emulator)");
  app->add_option("--json", o->json, "also write the table as JSON to FILE (to send it back)")
      ->type_name("FILE")
      ->check([](const std::string& path) { return path.empty() ? "needs a file name" : ""; });
  app->add_option("--filter", o->filter,
                  "only the rules whose test names match (GoogleTest filter: '*map*',\n"
                  "'ConformanceTest.*:-*Signal*'); --list shows the names")
      ->type_name("PATTERN")
      ->check([](const std::string& f) { return f.empty() ? "needs a pattern" : ""; });
  app->add_flag("--destructive", o->destructive,
                "also run the rules that could disturb a real machine: all of a\n"
                "GPU's VRAM allocated, packets run on GPU queues (a GPU may hang)");
  app->add_flag("--list", o->list, "list the rules (test name, kernel function) and exit");
  SetHelp(*app, {.usage = "usage: vkfd conformance [--json FILE] [--filter PATTERN] [--destructive] "
                          "[--list]",
                 .about = kAbout,
                 .synopsis = "[--json FILE] [--filter PATTERN] [--destructive] [--list]",
                 .column = 17});
  app->footer(kFooter);
  return {app, [o] { return Conformance(*o); }};
}

}  // namespace vkfd::tools

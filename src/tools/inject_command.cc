// vkfd inject --list | --check SPEC: the fault-injection points, one name per line, and a spec check
// that gives the same one-line error `vkfd run --inject` would.
#include <cstdio>
#include <string>

#include "uapi/fault_spec.h"
#include "tools/commands.h"

namespace vkfd::tools {
namespace {

constexpr char kHelp[] =
    "usage: vkfd inject --list | --check SPEC\n"
    "\n"
    "  --list         the named fault-injection points, one per line\n"
    "  --check SPEC   parse SPEC as 'vkfd run --inject' would; exit 0 if valid, 2 with the reason\n"
    "\n"
    "SPEC := RULE (';' RULE)*    RULE := POINT ['[' OPTION (',' OPTION)* ']'] ':' EFFECT\n"
    "OPTION := gpu=INDEX | nth=N | every=K | p=FLOAT | times=N\n"
    "EFFECT := an errno the driver can return there (ENOMEM, EINVAL, EIO, ...) | delay=DURATION |\n"
    "          signal=SIGNAME\n"
    "e.g. 'map.page_tables[gpu=3]:ENOMEM;map.wait[nth=2]:signal=SIGUSR1;dma.job[p=0.01]:EIO'\n"
    "docs/fault-injection.md has the points, what each can return, and examples.\n";

}  // namespace

int InjectCommand(int argc, char** argv) {
  if (argc < 2) return UsageError("inject: expected --list or --check SPEC (try 'vkfd inject --help')");
  const std::string arg = argv[1];
  if (arg == "-h" || arg == "--help") {
    fputs(kHelp, stdout);
    return 0;
  }
  if (arg == "--list" && argc == 2) {
    for (const std::string& name : uapi::FaultPointNames()) printf("%s\n", name.c_str());
    return 0;
  }
  if (arg == "--check" && argc == 3) {
    if (auto rules = uapi::ParseFaultSpec(argv[2]); !rules.ok()) {
      return UsageError(("inject: " + rules.error()).c_str());
    }
    printf("ok\n");
    return 0;
  }
  return UsageError(("inject: unexpected '" + arg + "' (try 'vkfd inject --help')").c_str());
}

}  // namespace vkfd::tools

// vkfd inject --list | --check SPEC: the fault-injection points, one name per line, and a spec check
// that gives the same one-line error `vkfd run --inject` would.
#include <cstdio>
#include <memory>
#include <optional>
#include <string>

#include "uapi/fault_spec.h"
#include "tools/cli.h"
#include "tools/commands.h"

namespace vkfd::tools {
namespace {

constexpr char kGrammar[] =
    "SPEC := RULE (';' RULE)*    RULE := POINT ['[' OPTION (',' OPTION)* ']'] ':' EFFECT\n"
    "OPTION := gpu=INDEX | nth=N | every=K | p=FLOAT | times=N\n"
    "EFFECT := an errno the driver can return there (ENOMEM, EINVAL, EIO, ...) | delay=DURATION |\n"
    "          signal=SIGNAME\n"
    "e.g. 'map.page_tables[gpu=3]:ENOMEM;map.wait[nth=2]:signal=SIGUSR1;dma.job[p=0.01]:EIO'\n"
    "docs/fault-injection.md has the points, what each can return, and examples.";

struct InjectOptions {
  bool list = false;
  std::optional<std::string> check;
};

int Inject(const InjectOptions& o) {
  if (o.list) {
    for (const std::string& name : uapi::FaultPointNames()) printf("%s\n", name.c_str());
    return 0;
  }
  if (o.check) {
    // Here, not as a CLI11 check: the error line is the one `vkfd run --inject` prints, after
    // "inject: " rather than "--check: ".
    if (const auto rules = uapi::ParseFaultSpec(*o.check); !rules.ok()) {
      return UsageError("inject: " + rules.error());
    }
    printf("ok\n");
    return 0;
  }
  return UsageError("inject: expected --list or --check SPEC (try 'vkfd inject --help')");
}

}  // namespace

Command AddInjectCommand(CLI::App& vkfd) {
  auto o = std::make_shared<InjectOptions>();
  CLI::App* inject =
      vkfd.add_subcommand("inject", "list the fault-injection points, or check a spec");
  CLI::Option* list =
      inject->add_flag("--list", o->list, "the named fault-injection points, one per line");
  inject
      ->add_option("--check", o->check,
                   "parse SPEC as 'vkfd run --inject' would; exit 0 if valid, 2 with the reason")
      ->type_name("SPEC")
      ->excludes(list);
  inject->footer(kGrammar);
  SetHelp(*inject, {.usage = "usage: vkfd inject --list | --check SPEC",
                    .synopsis = "--list | --check SPEC",
                    .column = 17});
  return {inject, [o] { return Inject(*o); }};
}

}  // namespace vkfd::tools

// vkfd: run programs on an emulated KFD node, and inspect topologies. The command line is CLI11's
// (tools/cli.h has vkfd's help layout and usage errors); each command is in its own file.
#include <cstdio>

#include "tools/cli.h"
#include "tools/commands.h"

namespace {

constexpr char kAbout[] =
    "Emulates AMD KFD (/dev/kfd) GPU memory management in user space, so that unmodified ROCm\n"
    "programs run on an emulated multi-GPU node.";

}  // namespace

int main(int argc, char** argv) {
  namespace tools = vkfd::tools;
  CLI::App vkfd("", "vkfd");
  // Inherited by the commands, which are added below: an option given twice takes the last value,
  // as vkfd's options always did (CLI11 would refuse it), and options are listed under "options:".
  vkfd.option_defaults()->multi_option_policy(CLI::MultiOptionPolicy::TakeLast)->group("options");
  // One command at most. With that, once a command is given no later word is taken for one: in
  // `vkfd run bench`, bench is the program.
  vkfd.require_subcommand(0, 1);
  tools::SetHelp(vkfd, {.usage = "usage: vkfd <command> [options]",
                        .about = kAbout,
                        .column = 17,
                        .help_flag = "show help (also after a command: vkfd run --help)"});
  vkfd.set_version_flag("--version", "vkfd " VKFD_VERSION, "print the version");

  const tools::Command commands[] = {
      tools::AddRunCommand(vkfd),
      tools::AddTopologyCommand(vkfd),
      tools::AddInjectCommand(vkfd),
      tools::AddBenchCommand(vkfd),
      tools::AddSupportMatrixCommand(vkfd),
      tools::AddConformanceCommand(vkfd),
  };
  // `vkfd help [COMMAND]`: as --help. Unlisted, and silent: not a given command, so that help()
  // below shows vkfd's help, or that of the COMMAND after it; other words after it are ignored, as
  // they always were.
  CLI::App* help = vkfd.add_subcommand("help")->silent()->group("")->allow_extras();

  if (const auto status = tools::Parse(vkfd, argc, argv)) return *status;
  if (help->parsed()) {
    fputs(vkfd.help().c_str(), stdout);
    return 0;
  }
  for (const tools::Command& command : commands) {
    if (command.app->parsed()) return command.run();
  }
  // No command: the help on stderr, as it always was, and a usage error.
  fputs(vkfd.help().c_str(), stderr);
  return tools::kExitUsage;
}

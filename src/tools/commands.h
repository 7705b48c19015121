// The `vkfd` command's subcommands. Each Add*Command adds its subcommand (options, help) to the
// CLI11 app `vkfd` and returns what runs it: main calls that, after a successful parse, for the
// command given. It returns the process exit status: 0 success, 2 usage errors (unknown preset,
// invalid topology file, ...) after printing one line "vkfd: ..." to stderr. `vkfd run` does not
// return on success: it execs the program.
#pragma once

#include <functional>
#include <string>

namespace CLI {
class App;
}

namespace vkfd::tools {

inline constexpr int kExitUsage = 2;

struct Command {
  CLI::App* app;
  std::function<int()> run;
};

Command AddRunCommand(CLI::App& vkfd);
Command AddTopologyCommand(CLI::App& vkfd);
Command AddInjectCommand(CLI::App& vkfd);
Command AddBenchCommand(CLI::App& vkfd);
Command AddSupportMatrixCommand(CLI::App& vkfd);
Command AddConformanceCommand(CLI::App& vkfd);

// Prints "vkfd: <message>" and returns kExitUsage.
int UsageError(const std::string& message);

}  // namespace vkfd::tools

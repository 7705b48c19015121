// The `vkfd` command's subcommands. Each returns the process exit status: 0 success, 2 usage errors
// (bad option, unknown preset, invalid topology file) after printing one line "vkfd: ..." to stderr.
// `vkfd run` does not return on success: it execs the program.
#pragma once

namespace vkfd::tools {

inline constexpr int kExitUsage = 2;

int RunCommand(int argc, char** argv);       // argv[0] == "run"
int TopologyCommand(int argc, char** argv);  // argv[0] == "topology"
int InjectCommand(int argc, char** argv);    // argv[0] == "inject"
int BenchCommand(int argc, char** argv);     // argv[0] == "bench"
int SupportMatrixCommand(int argc, char** argv);  // argv[0] == "support-matrix"
// Prints "vkfd: <message>" and returns kExitUsage.
int UsageError(const char* message);

}  // namespace vkfd::tools

// vkfd: run programs on an emulated KFD node, and inspect topologies.
#include <cstdio>
#include <cstring>
#include <string>

#include "tools/commands.h"

namespace vkfd::tools {

int UsageError(const char* message) {
  fprintf(stderr, "vkfd: %s\n", message);
  return kExitUsage;
}

}  // namespace vkfd::tools

namespace {

constexpr char kHelp[] =
    "usage: vkfd <command> [options]\n"
    "\n"
    "Emulates AMD KFD (/dev/kfd) GPU memory management in user space, so that unmodified ROCm\n"
    "programs run on an emulated multi-GPU node.\n"
    "\n"
    "commands:\n"
    "  run [--gpus N | --topology PRESET|FILE] [--log-ioctls[=FILE]] [--inject SPEC]\n"
    "      [--inject-seed N] [--inject-log FILE] [--dma-latency D] -- PROGRAM [ARGS...]\n"
    "                 run PROGRAM on an emulated node (vkfd run --help)\n"
    "  topology list | show NAME | validate FILE\n"
    "                 list the built-in presets, print one, or check a topology file\n"
    "  inject --list | --check SPEC\n"
    "                 list the fault-injection points, or check a spec\n"
    "  bench [--quick] [--json FILE]\n"
    "                 measure the 2018 map designs side by side (docs/api-designs-measured.md)\n"
    "  support-matrix the ioctls vkfd serves and how (docs/support-matrix.md)\n"
    "\n"
    "options:\n"
    "  -h, --help     show help (also after a command: vkfd run --help)\n"
    "  --version      print the version\n";

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    fputs(kHelp, stderr);
    return vkfd::tools::kExitUsage;
  }
  const std::string command = argv[1];
  if (command == "-h" || command == "--help" || command == "help") {
    fputs(kHelp, stdout);
    return 0;
  }
  if (command == "--version") {
    printf("vkfd %s\n", VKFD_VERSION);
    return 0;
  }
  if (command == "run") return vkfd::tools::RunCommand(argc - 1, argv + 1);
  if (command == "topology") return vkfd::tools::TopologyCommand(argc - 1, argv + 1);
  if (command == "inject") return vkfd::tools::InjectCommand(argc - 1, argv + 1);
  if (command == "bench") return vkfd::tools::BenchCommand(argc - 1, argv + 1);
  if (command == "support-matrix") return vkfd::tools::SupportMatrixCommand(argc - 1, argv + 1);
  return vkfd::tools::UsageError(
      ("unknown command '" + command + "' (try 'vkfd --help')").c_str());
}

// vkfd topology list | show NAME | validate FILE
#include <cinttypes>
#include <cstdio>
#include <string>

#include "base/expected.h"
#include "hw/topology/topology.h"
#include "tools/commands.h"

namespace vkfd::tools {
namespace {

constexpr char kHelp[] =
    "usage: vkfd topology list\n"
    "       vkfd topology show NAME\n"
    "       vkfd topology validate FILE\n"
    "\n"
    "  list       the built-in presets, one per line with a description\n"
    "  show       print a preset's TOML (a starting point for your own file)\n"
    "  validate   check a topology file (or preset); prints a summary, or one error line and exit 2\n";

bool IsHelp(const std::string& arg) { return arg == "-h" || arg == "--help"; }

void Summary(const hw::Topology& t) {
  printf("%s: %zu GPU%s, %u CPU cores, %" PRIu64 " GiB system memory, PCIe peer access %s\n",
         t.name.c_str(), t.gpus.size(), t.gpus.size() == 1 ? "" : "s", t.cpu.cores,
         t.cpu.memory_bytes >> 30, t.pcie_peer_access ? "on" : "off");
  for (const hw::GpuSpec& g : t.gpus) {
    printf("  %s: %s gpu_id 0x%x renderD%u, VRAM %" PRIu64 " MiB (%" PRIu64 " MiB visible)%s\n",
           g.name.c_str(), g.model.c_str(), g.gpu_id, g.drm_render_minor, g.vram_bytes >> 20,
           g.visible_vram_bytes >> 20,
           g.hive_id != 0 ? (", XGMI hive " + std::to_string(g.hive_id)).c_str() : "");
  }
}

}  // namespace

int TopologyCommand(int argc, char** argv) {
  if (argc < 2) {
    fputs(kHelp, stderr);
    return kExitUsage;
  }
  const std::string sub = argv[1];
  if (IsHelp(sub)) {
    fputs(kHelp, stdout);
    return 0;
  }
  for (int i = 2; i < argc; ++i) {
    if (IsHelp(argv[i])) {
      fputs(kHelp, stdout);
      return 0;
    }
  }
  if (sub == "list") {
    if (argc != 2) return UsageError("topology list: takes no arguments");
    for (const std::string& name : hw::PresetNames()) {
      const Expected<hw::Topology> t = hw::LoadPreset(name);
      printf("%-12s %s\n", name.c_str(), t.ok() ? t->description.c_str() : t.error().c_str());
    }
    return 0;
  }
  if (sub == "show") {
    if (argc != 3) return UsageError("topology show: expects one preset name");
    const std::string_view text = hw::PresetText(argv[2]);
    if (text.empty()) {
      std::string names;
      for (const std::string& n : hw::PresetNames()) names += (names.empty() ? "" : ", ") + n;
      return UsageError(("unknown preset '" + std::string(argv[2]) + "' (presets: " + names + ")")
                            .c_str());
    }
    fwrite(text.data(), 1, text.size(), stdout);
    return 0;
  }
  if (sub == "validate") {
    if (argc != 3) return UsageError("topology validate: expects one file");
    const Expected<hw::Topology> t = hw::LoadTopology(argv[2]);
    if (!t.ok()) return UsageError(t.error().c_str());
    Summary(*t);
    return 0;
  }
  return UsageError(("topology: unknown subcommand '" + sub + "' (list, show, validate)").c_str());
}

}  // namespace vkfd::tools

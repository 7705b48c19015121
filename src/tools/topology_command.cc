// vkfd topology list | show NAME | validate FILE
#include <cinttypes>
#include <cstdio>
#include <memory>
#include <string>
#include <string_view>

#include "base/expected.h"
#include "hw/topology/topology.h"
#include "tools/cli.h"
#include "tools/commands.h"

namespace vkfd::tools {
namespace {

constexpr char kUsage[] =
    "usage: vkfd topology list\n"
    "       vkfd topology show NAME\n"
    "       vkfd topology validate FILE";

void Summary(const hw::Topology& t) {
  printf("%s: %zu GPU%s, %u CPU cores, %" PRIu64 " GiB system memory%s, PCIe peer access %s\n",
         t.name.c_str(), t.gpus.size(), t.gpus.size() == 1 ? "" : "s", t.cpu.cores,
         t.cpu.memory_bytes >> 30, t.cpu.memory_from_host ? " (the host's)" : "",
         t.pcie_peer_access ? "on" : "off");
  for (const hw::GpuSpec& g : t.gpus) {
    printf("  %s: %s gpu_id 0x%x renderD%u, VRAM %" PRIu64 " MiB (%" PRIu64 " MiB visible)%s\n",
           g.name.c_str(), g.model.c_str(), g.gpu_id, g.drm_render_minor, g.vram_bytes >> 20,
           g.visible_vram_bytes >> 20,
           g.hive_id != 0 ? (", XGMI hive " + std::to_string(g.hive_id)).c_str() : "");
  }
}

int List() {
  for (const std::string& name : hw::PresetNames()) {
    const Expected<hw::Topology> t = hw::LoadPreset(name);
    printf("%-12s %s\n", name.c_str(), t.ok() ? t->description.c_str() : t.error().c_str());
  }
  return 0;
}

int Show(const std::string& name) {
  const std::string_view text = hw::PresetText(name);
  if (text.empty()) {
    std::string names;
    for (const std::string& n : hw::PresetNames()) names += (names.empty() ? "" : ", ") + n;
    return UsageError("unknown preset '" + name + "' (presets: " + names + ")");
  }
  fwrite(text.data(), 1, text.size(), stdout);
  return 0;
}

int Validate(const std::string& file) {
  const Expected<hw::Topology> t = hw::LoadTopology(file);
  if (!t.ok()) return UsageError(t.error());
  Summary(*t);
  return 0;
}

}  // namespace

Command AddTopologyCommand(CLI::App& vkfd) {
  CLI::App* topology = vkfd.add_subcommand(
      "topology", "list the built-in presets, print one, or check a topology file");
  // Each subcommand's help is its usage line and the line `vkfd topology --help` lists it with.
  const auto add = [topology](const char* name, const char* usage, const char* description) {
    CLI::App* sub = topology->add_subcommand(name, description);
    SetHelp(*sub, {.usage = usage, .about = description, .column = 13});
    return sub;
  };
  CLI::App* list = add("list", "usage: vkfd topology list",
                       "the built-in presets, one per line with a description");
  CLI::App* show = add("show", "usage: vkfd topology show NAME",
                       "print a preset's TOML (a starting point for your own file)");
  CLI::App* validate =
      add("validate", "usage: vkfd topology validate FILE",
          "check a topology file (or preset); prints a summary, or one error line and exit 2");
  auto name = std::make_shared<std::string>();
  show->add_option("NAME", *name)->required();
  auto file = std::make_shared<std::string>();
  validate->add_option("FILE", *file)->required();

  SetHelp(*topology,
          {.usage = kUsage, .synopsis = "list | show NAME | validate FILE", .column = 13});
  return {topology, [=] {
            if (list->parsed()) return List();
            if (show->parsed()) return Show(*name);
            if (validate->parsed()) return Validate(*file);
            // No subcommand: the help on stderr, as it always was, and a usage error.
            fputs(topology->help().c_str(), stderr);
            return kExitUsage;
          }};
}

}  // namespace vkfd::tools

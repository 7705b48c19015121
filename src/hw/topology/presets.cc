// The built-in presets (presets/*.toml, compiled in by src/CMakeLists.txt), and the one place that
// decides whether a name on the command line or in VKFD_TOPOLOGY is a preset or a file.
#include "hw/topology/topology.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <span>
#include <string>

#include "hw/topology/internal.h"

namespace vkfd::hw {

// Defined in the file that src/CMakeLists.txt generates from presets/*.toml.
extern const std::pair<std::string_view, std::string_view> kBuiltinPresets[];
extern const int kBuiltinPresetCount;

using namespace topology_internal;  // NOLINT: this folder's own helpers

namespace {

std::span<const std::pair<std::string_view, std::string_view>> Presets() {
  return {kBuiltinPresets, static_cast<size_t>(kBuiltinPresetCount)};
}

std::string PresetList() {
  std::string list;
  for (const std::string& name : PresetNames()) {
    if (!list.empty()) list += ", ";
    list += name;
  }
  return list;
}

}  // namespace

std::vector<std::string> PresetNames() {
  std::vector<std::string> names;
  for (const auto& [name, text] : Presets()) names.emplace_back(name);
  std::sort(names.begin(), names.end());
  return names;
}

std::string_view PresetText(std::string_view name) {
  for (const auto& [preset, text] : Presets()) {
    if (preset == name) return text;
  }
  return {};
}

Expected<Topology> LoadPreset(std::string_view name) {
  const std::string_view text = PresetText(name);
  if (text.empty()) {
    return Fail(FormatError(name, "", "unknown preset (presets: " + PresetList() + ")"));
  }
  return ParseTopology(text, "presets/" + std::string(name) + ".toml");
}

Expected<Topology> LoadTopology(std::string_view preset_or_path) {
  if (!PresetText(preset_or_path).empty()) return LoadPreset(preset_or_path);
  const std::string path(preset_or_path);
  std::string text;
  const int err = ReadFile(path, &text);
  if (err == ENOENT || err == ENOTDIR) {
    return Fail("unknown topology '" + path + "' (presets: " + PresetList() + ") and no such file");
  }
  if (err != 0) {
    return Fail(FormatError(path, "", std::string("cannot read: ") + std::strerror(err)));
  }
  return ParseTopology(text, path);
}

}  // namespace vkfd::hw

// The methods of the topology value types, and the helpers the other files of this folder share
// (internal.h): property lookup and the message format.
#include "hw/topology/topology.h"

#include "hw/topology/internal.h"

namespace vkfd::hw {

std::optional<uint64_t> GpuSpec::property(std::string_view key) const {
  for (const auto& [name, value] : properties) {
    if (name == key) return value;
  }
  return std::nullopt;
}

bool Topology::SameHive(size_t a, size_t b) const {
  return a < gpus.size() && b < gpus.size() && gpus[a].hive_id != 0 &&
         gpus[a].hive_id == gpus[b].hive_id;
}

bool Topology::PeerAccessible(size_t from, size_t to) const {
  if (from >= gpus.size() || to >= gpus.size()) return false;
  if (from == to || SameHive(from, to)) return true;
  // Over PCIe the peer reaches VRAM through the target's BAR, so all of it must be visible there.
  return pcie_peer_access && gpus[to].large_bar();
}

int Topology::IndexOfGpuId(uint32_t gpu_id) const {
  for (size_t i = 0; i < gpus.size(); ++i) {
    if (gpus[i].gpu_id == gpu_id) return static_cast<int>(i);
  }
  return -1;
}

namespace topology_internal {

uint64_t* FindProperty(Properties* properties, std::string_view key) {
  for (auto& [name, value] : *properties) {
    if (name == key) return &value;
  }
  return nullptr;
}

std::string FormatError(std::string_view source, std::string_view path, std::string_view what) {
  std::string message(source.empty() ? "topology" : source);
  message += ": ";
  if (!path.empty()) {
    message += path;
    message += ": ";
  }
  message += what;
  return message;
}

std::string FormatSize(uint64_t bytes) {
  static constexpr std::pair<uint64_t, const char*> kUnits[] = {
      {1ull << 40, "TiB"}, {kGiB, "GiB"}, {kMiB, "MiB"}, {kKiB, "KiB"}};
  for (const auto& [unit, suffix] : kUnits) {
    if (bytes != 0 && bytes % unit == 0) return std::to_string(bytes / unit) + " " + suffix;
  }
  return std::to_string(bytes) + " bytes";
}

std::string GpuPath(size_t index) { return "gpu[" + std::to_string(index) + "]"; }

}  // namespace topology_internal
}  // namespace vkfd::hw

// What the files of hw/topology/ share and nobody else needs: limits, the cache types the models
// and the reader agree on, the properties validation derives, the one message format, and the
// hooks one file offers another (the reader adds to validation's problems, presets read files as
// the reader does). Include only from src/hw/topology/*.cc; nothing here is a public interface.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "hw/topology/topology.h"

namespace vkfd::hw::topology_internal {

constexpr uint64_t kKiB = 1ull << 10;
constexpr uint64_t kMiB = 1ull << 20;
constexpr uint64_t kGiB = 1ull << 30;

constexpr size_t kMaxGpus = 16;
constexpr uint32_t kFirstRenderMinor = 128;

// HSA_CACHE_TYPE_* bits as the thunk reads them from caches/C/properties.
constexpr uint32_t kCacheTypeData = 1;
constexpr uint32_t kCacheTypeCpu = 4;
constexpr uint32_t kCacheTypeHsaCu = 8;
// ROCr gives up on a GPU node without a cache that is both data and HSA CU.
constexpr uint32_t kCacheTypeGpuData = kCacheTypeData | kCacheTypeHsaCu;
constexpr uint32_t kCacheTypeCpuData = kCacheTypeData | kCacheTypeCpu;

using Properties = std::vector<std::pair<std::string, uint64_t>>;

// Properties that follow from other fields: validation writes them (validate.cc,
// FillDerivedProperties) and files may not override them (toml_reader.cc).
inline constexpr std::string_view kGpuDerivedKeys[] = {
    "cpu_cores_count", "mem_banks_count", "caches_count",     "io_links_count", "simd_id_base",
    "location_id",     "domain",          "drm_render_minor", "hive_id",        "unique_id",
};
inline constexpr std::string_view kCpuDerivedKeys[] = {
    "cpu_cores_count", "mem_banks_count", "caches_count", "io_links_count", "vendor_id",
};

// The slot of `key`, or nullptr (topology.cc).
uint64_t* FindProperty(Properties* properties, std::string_view key);

// gpu_models.cc.
bool IsKnownModel(std::string_view name);
// "mi210, mi250x", for messages.
std::string KnownModels();
// The fields that depend on the GPU's position; explicit values in a file replace them.
void AssignIndexDefaults(GpuSpec* gpu, size_t index);

// Messages (topology.cc). Every error is "<source>: <path>: <what>", or "<source>: <what>" without
// a path; an empty source reads "topology".
std::string FormatError(std::string_view source, std::string_view path, std::string_view what);
// "64 GiB", "65 MiB", "1000 bytes".
std::string FormatSize(uint64_t bytes);
// "gpu[3]".
std::string GpuPath(size_t index);

// What is wrong with a topology, before the source name is put in front.
struct Problem {
  std::string path;
  std::string what;
  std::optional<size_t> gpu;  // the GPU the problem is about, if any
};

// validate.cc: ValidateTopology without the source name, so that the reader can say where a GPU
// came from before the message is formatted. Fills the derived properties when there is no problem.
std::optional<Problem> Validate(Topology* topology);

// toml_reader.cc: the text of a file of at most 1 MiB. Returns 0 or an errno value.
int ReadFile(const std::string& path, std::string* text);

}  // namespace vkfd::hw::topology_internal

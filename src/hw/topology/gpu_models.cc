// GPU models and the CPU node as vkfd describes them by default: what a [[gpu]] entry naming only
// its model, or a file without [cpu], stands for; and `--gpus N`, built from the same blocks.
//
// Node properties are kept in the order KFD's node_show() prints them (kfd_topology.c), without
// p2p_links_count (its presence stops the thunk from synthesising GPU<->GPU links). The properties
// that follow from other fields (drm_render_minor, hive_id, location_id, domain, unique_id,
// simd_id_base, caches_count, ...) are zero here: validation writes them (validate.cc) and files
// cannot override them, so the vector is exactly what sysfs prints, except io_links_count, which
// the sysfs generator computes.
#include "hw/topology/topology.h"

#include <string>

#include "hw/topology/internal.h"

namespace vkfd::hw {

using namespace topology_internal;  // NOLINT: this folder's own helpers

namespace {

struct GpuModel {
  std::string_view name;
  uint64_t device_id;
  uint64_t simd_count;  // compute units * simd_per_cu (4)
  uint64_t vram_bytes;
};

constexpr GpuModel kGpuModels[] = {
    {"mi210", 0x740F, 104 * 4, 64 * kGiB},
    {"mi250x", 0x7408, 110 * 4, 64 * kGiB},  // one GCD; a card is two of them in one hive
};

const GpuModel* FindModel(std::string_view name) {
  for (const GpuModel& model : kGpuModels) {
    if (model.name == name) return &model;
  }
  return nullptr;
}

// All MI200 GCDs share everything but the device id and the number of CUs.
Properties GpuProperties(const GpuModel& model) {
  return {
      {"cpu_cores_count", 0},
      {"simd_count", model.simd_count},
      {"mem_banks_count", 1},
      {"caches_count", 0},
      {"io_links_count", 0},
      {"cpu_core_id_base", 0},
      {"simd_id_base", 0},
      {"max_waves_per_simd", 8},
      {"lds_size_in_kb", 64},
      {"gds_size_in_kb", 0},
      {"num_gws", 64},
      {"wave_front_size", 64},
      {"array_count", 8},
      {"simd_arrays_per_engine", 1},
      {"cu_per_simd_array", 14},
      {"simd_per_cu", 4},
      {"max_slots_scratch_cu", 32},
      {"gfx_target_version", 90010},  // gfx90a
      {"vendor_id", 0x1002},
      {"device_id", model.device_id},
      {"location_id", 0},
      {"domain", 0},
      {"drm_render_minor", 0},
      {"hive_id", 0},
      {"num_sdma_engines", 2},
      {"num_sdma_xgmi_engines", 3},
      {"num_sdma_queues_per_engine", 8},
      {"num_cp_queues", 24},
      {"max_engine_clk_fcompute", 1700},
      {"local_mem_size", 0},
      {"fw_version", 78},
      {"capability", 615752320},  // HSA_CAP_SVMAPI_SUPPORTED (bit 27) clear: built without SVM
      {"debug_prop", 0},
      {"sdma_fw_version", 8},
      {"unique_id", 0},
      {"num_xcc", 1},
      {"max_engine_clk_ccompute", 2800},
  };
}

// KFD prints the same keys for a CPU node minus the GPU-only block (max_engine_clk_fcompute ..
// num_xcc); all are zero except the clock and the derived ones validation fills in.
Properties CpuProperties() {
  Properties properties;
  for (const auto& [key, value] : GpuProperties(kGpuModels[0])) {
    if (key == "max_engine_clk_fcompute") break;
    properties.emplace_back(key, 0);
  }
  properties.emplace_back("max_engine_clk_ccompute", 2800);
  return properties;
}

CacheSpec MakeCache(uint32_t level, uint32_t size_kb, uint32_t line_size, uint32_t association,
                    uint32_t type) {
  CacheSpec cache;
  cache.level = level;
  cache.size_kb = size_kb;
  cache.line_size = line_size;
  cache.association = association;
  cache.type = type;
  return cache;
}

std::vector<CacheSpec> GpuCaches() {
  return {MakeCache(1, 16, 64, 16, kCacheTypeGpuData),
          MakeCache(2, 8192, 128, 16, kCacheTypeGpuData)};
}

std::vector<CacheSpec> CpuCaches() {
  return {MakeCache(1, 32, 64, 8, kCacheTypeCpuData), MakeCache(2, 512, 64, 8, kCacheTypeCpuData),
          MakeCache(3, 32768, 64, 16, kCacheTypeCpuData)};
}

GpuSpec MakeGpu(const GpuModel& model, size_t index) {
  GpuSpec gpu;
  gpu.model = std::string(model.name);
  gpu.vram_bytes = model.vram_bytes;
  gpu.visible_vram_bytes = model.vram_bytes;
  gpu.properties = GpuProperties(model);
  gpu.caches = GpuCaches();
  AssignIndexDefaults(&gpu, index);
  return gpu;
}

}  // namespace

namespace topology_internal {

bool IsKnownModel(std::string_view name) { return FindModel(name) != nullptr; }

std::string KnownModels() {
  std::string names;
  for (const GpuModel& model : kGpuModels) {
    if (!names.empty()) names += ", ";
    names += model.name;
  }
  return names;
}

// The fields that depend on the GPU's position; explicit values in a file replace them.
void AssignIndexDefaults(GpuSpec* gpu, size_t index) {
  gpu->name = "gpu" + std::to_string(index);
  gpu->gpu_id = static_cast<uint32_t>(0x1000 + 0x111 * index);
  gpu->drm_render_minor = static_cast<uint32_t>(kFirstRenderMinor + index);
  gpu->location_id = static_cast<uint32_t>((0x03 + 0x10 * index) << 8);
}

}  // namespace topology_internal

CpuSpec DefaultCpu() {
  CpuSpec cpu;
  cpu.properties = CpuProperties();
  cpu.caches = CpuCaches();
  return cpu;
}

std::optional<GpuSpec> DefaultGpu(std::string_view model, size_t index) {
  const GpuModel* found = FindModel(model);
  if (found == nullptr) return std::nullopt;
  return MakeGpu(*found, index);
}

Expected<Topology> UniformMi210(int n) {
  if (n < 1 || n > static_cast<int>(kMaxGpus)) {
    return Fail(FormatError("--gpus", "", "must be between 1 and 16, not " + std::to_string(n)));
  }
  // Keep in step with presets/mi210x{1,2,4,8}.toml; a test compares them.
  Topology topology;
  topology.name = "mi210x" + std::to_string(n);
  topology.description =
      std::to_string(n) + " x MI210, 64 GiB VRAM each, large BAR, PCIe peer access";
  topology.pcie_peer_access = true;
  topology.cpu = DefaultCpu();
  // cpu.memory_bytes stays 0: validation puts the host's memory there.
  for (int i = 0; i < n; ++i) topology.gpus.push_back(*DefaultGpu("mi210", static_cast<size_t>(i)));
  if (Expected<void> valid = ValidateTopology(&topology, "--gpus"); !valid.ok()) {
    return Fail(valid.error());
  }
  return topology;
}

}  // namespace vkfd::hw

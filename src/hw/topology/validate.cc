// Validation: every rule that the real driver's output always satisfies and ROCm relies on, for
// topologies read from TOML (toml_reader.cc runs it) and built in code alike. A topology that
// passes gets its derived properties written — the ones that follow from other fields
// (drm_render_minor, hive_id, location_id, unique_id, simd_id_base, caches_count, ...) — so that
// its property lists are what sysfs prints. Validating twice changes nothing.
#include "hw/topology/topology.h"

#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <map>
#include <string>

#include "hw/topology/internal.h"

namespace vkfd::hw {

using namespace topology_internal;  // NOLINT: this folder's own helpers

namespace {

constexpr uint32_t kGpuIdLimit = 0x10000;  // mmap offsets carry 16 bits of gpu_id
constexpr uint32_t kLastRenderMinor = 255;
constexpr uint64_t kVramAlignment = 2 * kMiB;  // amdgpu's VRAM manager works in 2 MiB pages
constexpr uint64_t kMinVram = 64 * kMiB;
constexpr uint64_t kMaxVram = 512 * kGiB;
constexpr uint64_t kMinCpuMemory = 1 * kGiB;

// KFD numbers GPU SIMDs from here on, each node continuing where the previous one stopped.
constexpr uint64_t kFirstGpuSimdId = 0x80001000;

// Deterministic, non-zero, and distinct per gpu_id (the splitmix64 finaliser is a bijection).
uint64_t UniqueIdFor(uint32_t gpu_id) {
  uint64_t z = 0x766b666400000000ull | gpu_id;  // "vkfd"
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  z ^= z >> 31;
  return z != 0 ? z : 1;
}

// Updates the value in place, keeping the sysfs order; appends keys a hand-built spec lacks.
void SetProperty(Properties* properties, std::string_view key, uint64_t value) {
  if (uint64_t* slot = FindProperty(properties, key)) {
    *slot = value;
  } else {
    properties->emplace_back(std::string(key), value);
  }
}

std::string Hex(uint64_t value) {
  char text[24];
  std::snprintf(text, sizeof(text), "0x%" PRIx64, value);
  return text;
}

Problem GpuProblem(size_t gpu, std::string_view key, std::string what) {
  return Problem{GpuPath(gpu) + "." + std::string(key), std::move(what), gpu};
}

std::optional<std::string> DuplicateKey(const Properties& properties) {
  for (size_t i = 0; i < properties.size(); ++i) {
    for (size_t j = 0; j < i; ++j) {
      if (properties[i].first == properties[j].first) return properties[i].first;
    }
  }
  return std::nullopt;
}

std::optional<Problem> CheckCaches(const std::vector<CacheSpec>& caches, const std::string& path,
                                   std::optional<size_t> gpu) {
  if (caches.empty()) {
    // Without caches/* the thunk reads the host's cache files (CPU) or ROCr aborts (GPU).
    return Problem{path, "at least one cache is required", gpu};
  }
  for (size_t i = 0; i < caches.size(); ++i) {
    const CacheSpec& cache = caches[i];
    const std::string cache_path = path + "[" + std::to_string(i) + "]";
    if (cache.level < 1 || cache.level > 4) {
      return Problem{cache_path + ".level",
                     "must be between 1 and 4, not " + std::to_string(cache.level), gpu};
    }
    if (cache.size_kb == 0) return Problem{cache_path + ".size", "must be non-zero", gpu};
    if (cache.line_size == 0 || (cache.line_size & (cache.line_size - 1)) != 0) {
      return Problem{cache_path + ".line_size",
                     "must be a power of two, not " + std::to_string(cache.line_size), gpu};
    }
  }
  return std::nullopt;
}

Problem CpuProblem(std::string_view key, std::string what) {
  return Problem{"cpu." + std::string(key), std::move(what), std::nullopt};
}

std::optional<Problem> CheckCpu(const CpuSpec& cpu) {
  if (cpu.cores == 0) return CpuProblem("cores", "must be > 0 (ROCr needs a CPU agent)");
  if (cpu.memory_bytes % kVramAlignment != 0) {
    return CpuProblem("memory", "must be a multiple of 2 MiB, not " + FormatSize(cpu.memory_bytes));
  }
  if (cpu.memory_bytes < kMinCpuMemory) {
    return CpuProblem("memory", "must be at least 1 GiB, not " + FormatSize(cpu.memory_bytes));
  }
  if (auto problem = CheckCaches(cpu.caches, "cpu.cache", std::nullopt)) return problem;
  if (cpu.properties.empty()) return CpuProblem("properties", "empty (start from DefaultCpu())");
  if (auto key = DuplicateKey(cpu.properties)) {
    return CpuProblem("properties." + *key, "appears more than once");
  }
  return std::nullopt;
}

std::optional<Problem> CheckGpu(const GpuSpec& gpu, size_t i) {
  if (!IsKnownModel(gpu.model)) {
    return GpuProblem(i, "model",
                      "unknown model '" + gpu.model + "' (known: " + KnownModels() + ")");
  }
  if (gpu.gpu_id == 0) return GpuProblem(i, "gpu_id", "must be non-zero (0 is the CPU node)");
  if (gpu.gpu_id >= kGpuIdLimit) {
    return GpuProblem(i, "gpu_id",
                      "must be below 0x10000 (mmap offsets carry 16 bits), not " + Hex(gpu.gpu_id));
  }
  if (gpu.drm_render_minor < kFirstRenderMinor || gpu.drm_render_minor > kLastRenderMinor) {
    return GpuProblem(i, "render_minor",
                      "must be between 128 and 255 (a DRM render node), not " +
                          std::to_string(gpu.drm_render_minor));
  }
  if (gpu.location_id >= 0x10000) {
    return GpuProblem(
        i, "location_id",
        "must be a PCI bus/device/function below 0x10000, not " + Hex(gpu.location_id));
  }
  if (gpu.vram_bytes % kVramAlignment != 0) {
    return GpuProblem(i, "vram", "must be a multiple of 2 MiB, not " + FormatSize(gpu.vram_bytes));
  }
  if (gpu.vram_bytes < kMinVram || gpu.vram_bytes > kMaxVram) {
    return GpuProblem(i, "vram",
                      "must be between 64 MiB and 512 GiB, not " + FormatSize(gpu.vram_bytes));
  }
  if (gpu.visible_vram_bytes == 0 || gpu.visible_vram_bytes % kVramAlignment != 0) {
    return GpuProblem(
        i, "visible_vram",
        "must be a non-zero multiple of 2 MiB, not " + FormatSize(gpu.visible_vram_bytes));
  }
  if (gpu.visible_vram_bytes > gpu.vram_bytes) {
    return GpuProblem(
        i, "visible_vram",
        FormatSize(gpu.visible_vram_bytes) + " exceeds vram (" + FormatSize(gpu.vram_bytes) + ")");
  }
  if (auto problem = CheckCaches(gpu.caches, GpuPath(i) + ".cache", i)) return problem;
  const bool has_gpu_data_cache = std::any_of(
      gpu.caches.begin(), gpu.caches.end(),
      [](const CacheSpec& cache) { return (cache.type & kCacheTypeGpuData) == kCacheTypeGpuData; });
  if (!has_gpu_data_cache) {
    return GpuProblem(i, "cache", "needs a cache of type 9 (data | HSA CU); ROCr rejects the GPU");
  }
  if (auto key = DuplicateKey(gpu.properties)) {
    return GpuProblem(i, "properties." + *key, "appears more than once");
  }
  // ROCr divides by these or picks the ISA from them; zero or missing ends in SIGFPE/SIGABRT.
  for (std::string_view key : {"simd_count", "simd_per_cu", "gfx_target_version"}) {
    const std::optional<uint64_t> value = gpu.property(key);
    if (!value) return GpuProblem(i, "properties." + std::string(key), "required, must be > 0");
    if (*value == 0) return GpuProblem(i, "properties." + std::string(key), "must be > 0");
  }
  return std::nullopt;
}

std::optional<Problem> CheckUniqueness(const std::vector<GpuSpec>& gpus) {
  for (size_t i = 0; i < gpus.size(); ++i) {
    for (size_t j = 0; j < i; ++j) {
      if (gpus[i].gpu_id == gpus[j].gpu_id) {
        return GpuProblem(i, "gpu_id", Hex(gpus[i].gpu_id) + " is already used by " + GpuPath(j));
      }
      if (gpus[i].drm_render_minor == gpus[j].drm_render_minor) {
        return GpuProblem(
            i, "render_minor",
            std::to_string(gpus[i].drm_render_minor) + " is already used by " + GpuPath(j));
      }
      if (gpus[i].domain == gpus[j].domain && gpus[i].location_id == gpus[j].location_id) {
        return GpuProblem(i, "location_id",
                          Hex(gpus[i].location_id) + " in domain " +
                              std::to_string(gpus[i].domain) + " is already used by " + GpuPath(j));
      }
    }
  }
  return std::nullopt;
}

std::optional<Problem> CheckHives(const std::vector<GpuSpec>& gpus) {
  std::map<uint32_t, std::vector<size_t>> hives;
  for (size_t i = 0; i < gpus.size(); ++i) {
    if (gpus[i].hive_id != 0) hives[gpus[i].hive_id].push_back(i);
  }
  for (const auto& [hive, members] : hives) {
    const size_t first = members.front();
    if (members.size() < 2) {
      return GpuProblem(
          first, "hive",
          "hive " + std::to_string(hive) + " has only this GPU; an XGMI hive links at least two");
    }
    // amdgpu builds a hive from identical GPUs; peers map each other's VRAM 1:1 through it.
    for (size_t member : members) {
      if (gpus[member].vram_bytes != gpus[first].vram_bytes) {
        return GpuProblem(member, "vram",
                          FormatSize(gpus[member].vram_bytes) + " differs from " + GpuPath(first) +
                              "'s " + FormatSize(gpus[first].vram_bytes) + " in hive " +
                              std::to_string(hive) + " (hive members have equal VRAM)");
      }
    }
  }
  return std::nullopt;
}

void FillDerivedProperties(Topology* topology) {
  CpuSpec& cpu = topology->cpu;
  SetProperty(&cpu.properties, "cpu_cores_count", cpu.cores);
  SetProperty(&cpu.properties, "mem_banks_count", 1);
  SetProperty(&cpu.properties, "caches_count", cpu.caches.size());
  SetProperty(&cpu.properties, "io_links_count", 0);
  SetProperty(&cpu.properties, "vendor_id", cpu.vendor_id);

  uint64_t simd_id_base = kFirstGpuSimdId;
  for (size_t i = 0; i < topology->gpus.size(); ++i) {
    GpuSpec& gpu = topology->gpus[i];
    if (gpu.name.empty()) gpu.name = "gpu" + std::to_string(i);
    for (CacheSpec& cache : gpu.caches) {
      if (cache.processor_id_low == 0) cache.processor_id_low = static_cast<uint32_t>(simd_id_base);
    }
    Properties& properties = gpu.properties;
    SetProperty(&properties, "cpu_cores_count", 0);
    SetProperty(&properties, "mem_banks_count", 1);
    SetProperty(&properties, "caches_count", gpu.caches.size());
    SetProperty(&properties, "io_links_count", 0);
    SetProperty(&properties, "simd_id_base", simd_id_base);
    SetProperty(&properties, "location_id", gpu.location_id);
    SetProperty(&properties, "domain", gpu.domain);
    SetProperty(&properties, "drm_render_minor", gpu.drm_render_minor);
    SetProperty(&properties, "hive_id", gpu.hive_id);
    SetProperty(&properties, "unique_id", UniqueIdFor(gpu.gpu_id));
    simd_id_base += *gpu.property("simd_count");
  }
}

}  // namespace

namespace topology_internal {

std::optional<Problem> Validate(Topology* topology) {
  if (topology->gpus.empty()) return Problem{"gpu", "at least one GPU ([[gpu]]) is required", {}};
  if (topology->gpus.size() > kMaxGpus) {
    return Problem{"gpu",
                   std::to_string(topology->gpus.size()) + " GPUs; at most " +
                       std::to_string(kMaxGpus) + " are supported",
                   {}};
  }
  if (topology->cpu.memory_bytes == 0 || topology->cpu.memory_from_host) {
    // No size given: the host's (amdgpu's limits and the CPU node's bank both come from the
    // host's RAM, so a preset never promises more system memory than the machine has).
    topology->cpu.memory_bytes = HostMemoryBytes();
    topology->cpu.memory_from_host = true;
  }
  if (auto problem = CheckCpu(topology->cpu)) return problem;
  for (size_t i = 0; i < topology->gpus.size(); ++i) {
    if (auto problem = CheckGpu(topology->gpus[i], i)) return problem;
  }
  if (auto problem = CheckUniqueness(topology->gpus)) return problem;
  if (auto problem = CheckHives(topology->gpus)) return problem;
  FillDerivedProperties(topology);
  return std::nullopt;
}

}  // namespace topology_internal

Expected<void> ValidateTopology(Topology* topology, std::string_view source_name) {
  if (std::optional<Problem> problem = Validate(topology)) {
    return Fail(FormatError(source_name, problem->path, problem->what));
  }
  return {};
}

}  // namespace vkfd::hw

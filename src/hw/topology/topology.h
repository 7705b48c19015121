// Topology: the declarative description of an emulated node — one CPU node and N GPU nodes, their
// memory, caches, XGMI hives and PCIe peer access, plus the DMA timing model.
//
// A Topology is a plain value: parsed from TOML (a file or a built-in preset), validated once, then
// only read. Everything that ROCm reads from sysfs is derived from it (shim/ generates the tree), and
// hw::Node builds the emulated GPUs from it. Validation rejects anything the real driver could never
// report (duplicate gpu_id, render minor outside 128..255, VRAM not a multiple of 2 MiB, a hive with one
// member, ...), with one clear message naming the file, the GPU and the key.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/expected.h"
#include "hw/dma_timing.h"

namespace vkfd::hw {

// A cache as KFD reports it in nodes/N/caches/C/properties.
struct CacheSpec {
  uint32_t level = 1;
  uint32_t size_kb = 16;
  uint32_t line_size = 64;
  uint32_t lines_per_tag = 1;
  uint32_t association = 16;
  uint32_t latency = 0;
  uint32_t type = 9;  // HSA_CACHE_TYPE_DATA | HSA_CACHE_TYPE_HSACU (ROCr needs one of these)
  uint32_t processor_id_low = 0;  // filled by validation for GPU nodes when zero

  bool operator==(const CacheSpec&) const = default;
};

struct GpuSpec {
  std::string name;       // "gpu0": for messages and the inspection view
  std::string model;      // "mi210", "mi250x": picks the default properties below
  uint32_t gpu_id = 0;    // KFD gpu_id: non-zero, unique, < 0x10000 (mmap offsets carry 16 bits)
  uint32_t drm_render_minor = 128;  // 128..255, unique
  uint64_t vram_bytes = 0;          // multiple of 2 MiB
  uint64_t visible_vram_bytes = 0;  // CPU-visible part; == vram_bytes means large BAR
  uint32_t hive_id = 0;             // XGMI hive, 0 = none
  uint32_t location_id = 0;         // PCI BDF as KFD reports it
  uint32_t domain = 0;
  DmaTiming dma;
  // Numeric node properties in the order KFD prints them (sysfs nodes/N/properties), including
  // gfx_target_version, simd_count, device_id, ... Keys are unique. Overridable from TOML.
  std::vector<std::pair<std::string, uint64_t>> properties;
  std::vector<CacheSpec> caches;
  // Memory bank: width and clock as nodes/N/mem_banks/0/properties reports them.
  uint32_t mem_width = 4096;
  uint32_t mem_clk_max = 1600;

  bool large_bar() const { return visible_vram_bytes == vram_bytes; }
  // Value of a numeric property, if present.
  std::optional<uint64_t> property(std::string_view key) const;

  bool operator==(const GpuSpec&) const = default;
};

struct CpuSpec {
  uint32_t cores = 16;
  // The emulated system memory (the heap_type 0 bank, and what KFD's system and TTM limits derive
  // from). 0 before validation means "the host's": ValidateTopology fills in HostMemoryBytes() and
  // sets memory_from_host, so a topology that does not name a size never promises more than the host
  // can back.
  uint64_t memory_bytes = 0;
  bool memory_from_host = false;
  uint32_t vendor_id = 0;
  std::vector<std::pair<std::string, uint64_t>> properties;
  std::vector<CacheSpec> caches;

  bool operator==(const CpuSpec&) const = default;
};

struct Topology {
  std::string name;
  std::string description;
  CpuSpec cpu;
  std::vector<GpuSpec> gpus;
  // GPUs not in a common hive may reach each other's VRAM over PCIe when this is set and the
  // target's VRAM is fully CPU-visible (large BAR), as amdgpu's peer checks require.
  bool pcie_peer_access = true;

  // True if GPU `from` (index) may map VRAM of GPU `to` (index). Always true for from == to.
  bool PeerAccessible(size_t from, size_t to) const;
  bool SameHive(size_t a, size_t b) const;
  // Index of the GPU with this gpu_id, or -1.
  int IndexOfGpuId(uint32_t gpu_id) const;

  bool operator==(const Topology&) const = default;
};

// Parsing and validation. On failure the functions return a one-line message:
// "<source>: <path>: <what is wrong>" — e.g. "x.toml: gpu[2].vram: must be a multiple of 2 MiB".
// Where each part lives (all in hw/topology/; internal.h holds what they share):
//   topology.cc     the methods of the value types above
//   toml_reader.cc  TOML -> Topology; the schema is described at its top and in docs/topology.md
//   validate.cc     the rules every topology obeys, and the properties derived from the others
//   gpu_models.cc   what a GPU of each model and the CPU node are by default
//   presets.cc      the built-in presets (presets/*.toml) and picking a preset or a file by name
//   host_memory.cc  the host's memory, for topologies that do not name a system memory size
Expected<Topology> ParseTopology(std::string_view toml_text, std::string_view source_name);
Expected<Topology> LoadTopologyFile(const std::string& path);
// A built-in preset by name (mi210x2, mi210x4, mi250x8, small-bar, ...).
Expected<Topology> LoadPreset(std::string_view name);
// A preset name or a path to a TOML file.
Expected<Topology> LoadTopology(std::string_view preset_or_path);
std::vector<std::string> PresetNames();
// The TOML text of a preset (for `vkfd topology show`), or empty.
std::string_view PresetText(std::string_view name);
// `--gpus N`: N MI210-like GPUs with 64 GiB VRAM each, large BAR, PCIe peer access. 1 <= n <= 16.
Expected<Topology> UniformMi210(int n);
// The CPU node of a file without [cpu]: CpuSpec's defaults plus caches and properties.
CpuSpec DefaultCpu();
// GPU number `index` of a known model ("mi210", "mi250x") as a [[gpu]] entry naming only the model
// describes it; nullopt for an unknown model. Building blocks for topologies made in code.
std::optional<GpuSpec> DefaultGpu(std::string_view model, size_t index);
// The host's RAM (sysinfo's totalram × mem_unit, what /proc/meminfo calls MemTotal), rounded down to
// 2 MiB and at least 1 GiB: the system memory of a topology that does not name one.
uint64_t HostMemoryBytes();
// Checks a topology built in code (tests, --gpus); ParseTopology calls it too.
// It also writes the derived properties (drm_render_minor, hive_id, unique_id, caches_count, ...).
Expected<void> ValidateTopology(Topology* topology, std::string_view source_name);

}  // namespace vkfd::hw

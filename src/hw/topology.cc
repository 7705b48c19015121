// Topology files: TOML schema, defaults, parsing and validation.
//
// Schema (every key is optional unless marked "required"; unknown keys are errors, so a typo never
// silently falls back to a default). docs/topology.md has the same with examples.
//
//   name = "mi210x2"               # default: the file name without .toml
//   description = "..."
//   pcie_peer_access = true        # GPUs outside a common hive may map each other's large-BAR VRAM
//
//   [cpu]
//   cores = 16                     # cpu_cores_count, > 0
//   memory = "256GiB"              # system memory (heap_type 0 bank): multiple of 2 MiB, >= 1 GiB
//   vendor_id = 0
//   [[cpu.cache]]                  # replaces the default L1 32 KiB / L2 512 KiB / L3 32 MiB
//   level = 1                      # required, 1..4
//   size = "32KiB"                 # required, multiple of 1 KiB
//   line_size = 64                 # also lines_per_tag, association, latency
//   type = 5                       # HSA cache type bits: 1 data, 2 instruction, 4 CPU, 8 HSA CU
//   [cpu.properties]               # overrides of CPU node properties (not the derived ones)
//
//   [dma]                          # page-table update timing of every GPU; default 0 = host speed
//   job_latency = "200us"          # durations: ns, us, ms, s; "0"
//   pte_cost = "50ns"
//   job_cost = "2us"
//
//   [[gpu]]                        # one entry per GPU, or per group of identical GPUs
//   model = "mi210"                # required: "mi210" | "mi250x" (per GCD)
//   count = 1                      # 1..16: expands into `count` GPUs numbered in file order
//   vram = "64GiB"                 # default: the model's; multiple of 2 MiB, 64 MiB .. 512 GiB
//   visible_vram = "256MiB"        # CPU-visible part; default = vram (large BAR)
//   hive = 0                       # XGMI hive, 0 = none; >= 2 members, all with the same vram
//   gpu_id = 0x1234                # default 0x1000 + 0x111 * index; non-zero, unique, < 0x10000
//   render_minor = 128             # default 128 + index; 128..255, unique
//   location_id = 0x300            # PCI bus/device/function; default (0x03 + 0x10 * index) << 8
//   domain = 0                     # PCI domain; (domain, location_id) unique
//   mem_width = 4096               # mem_banks/0: width and mem_clk_max
//   mem_clk_max = 1600
//   [gpu.properties]               # integer overrides of the model's node properties
//   num_cp_queues = 16
//   [[gpu.cache]]                  # replaces the model's caches (type defaults to 9 here)
//   [gpu.dma]                      # per-key override of the global [dma]
//
// gpu_id, render_minor and location_id cannot be combined with count > 1 (each GPU needs its own).
// GPUs are numbered 0.. in file order after expanding `count`; validation messages name them
// gpu[i] by that number and say which [[gpu]] entry a copy came from.
//
// Node properties are kept in the order KFD's node_show() prints them (kfd_topology.c), without
// p2p_links_count (its presence stops the thunk from synthesising GPU<->GPU links). The properties
// that follow from other fields (drm_render_minor, hive_id, location_id, domain, unique_id,
// simd_id_base, caches_count, ...) are written by validation and cannot be overridden, so the
// vector is exactly what sysfs prints, except io_links_count, which the sysfs generator computes.
#include "hw/topology.h"

#include <toml++/toml.h>

#include <algorithm>
#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <initializer_list>
#include <limits>
#include <map>
#include <span>

namespace vkfd::hw {

// Defined in the file that src/CMakeLists.txt generates from presets/*.toml.
extern const std::pair<std::string_view, std::string_view> kBuiltinPresets[];
extern const int kBuiltinPresetCount;

namespace {

constexpr uint64_t kKiB = 1ull << 10;
constexpr uint64_t kMiB = 1ull << 20;
constexpr uint64_t kGiB = 1ull << 30;

constexpr size_t kMaxGpus = 16;
constexpr uint32_t kGpuIdLimit = 0x10000;  // mmap offsets carry 16 bits of gpu_id
constexpr uint32_t kFirstRenderMinor = 128;
constexpr uint32_t kLastRenderMinor = 255;
constexpr uint64_t kVramAlignment = 2 * kMiB;  // amdgpu's VRAM manager works in 2 MiB pages
constexpr uint64_t kMinVram = 64 * kMiB;
constexpr uint64_t kMaxVram = 512 * kGiB;
constexpr uint64_t kMinCpuMemory = 1 * kGiB;
constexpr uint64_t kMaxFileBytes = 1 * kMiB;

// HSA_CACHE_TYPE_* bits as the thunk reads them from caches/C/properties.
constexpr uint32_t kCacheTypeData = 1;
constexpr uint32_t kCacheTypeCpu = 4;
constexpr uint32_t kCacheTypeHsaCu = 8;
// ROCr gives up on a GPU node without a cache that is both data and HSA CU.
constexpr uint32_t kCacheTypeGpuData = kCacheTypeData | kCacheTypeHsaCu;
constexpr uint32_t kCacheTypeCpuData = kCacheTypeData | kCacheTypeCpu;

// KFD numbers GPU SIMDs from here on, each node continuing where the previous one stopped.
constexpr uint64_t kFirstGpuSimdId = 0x80001000;

using Properties = std::vector<std::pair<std::string, uint64_t>>;

// ---------------------------------------------------------------------------------------------
// Defaults.

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

std::string KnownModels() {
  std::string names;
  for (const GpuModel& model : kGpuModels) {
    if (!names.empty()) names += ", ";
    names += model.name;
  }
  return names;
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
      {"capability", 749970048},
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

// The fields that depend on the GPU's position; explicit values in a file replace them.
void AssignIndexDefaults(GpuSpec* gpu, size_t index) {
  gpu->name = "gpu" + std::to_string(index);
  gpu->gpu_id = static_cast<uint32_t>(0x1000 + 0x111 * index);
  gpu->drm_render_minor = static_cast<uint32_t>(kFirstRenderMinor + index);
  gpu->location_id = static_cast<uint32_t>((0x03 + 0x10 * index) << 8);
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

// Deterministic, non-zero, and distinct per gpu_id (the splitmix64 finaliser is a bijection).
uint64_t UniqueIdFor(uint32_t gpu_id) {
  uint64_t z = 0x766b666400000000ull | gpu_id;  // "vkfd"
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  z ^= z >> 31;
  return z != 0 ? z : 1;
}

// Properties that follow from other fields; validation writes them and files may not override them.
constexpr std::string_view kGpuDerivedKeys[] = {
    "cpu_cores_count", "mem_banks_count", "caches_count",     "io_links_count", "simd_id_base",
    "location_id",     "domain",          "drm_render_minor", "hive_id",        "unique_id",
};
constexpr std::string_view kCpuDerivedKeys[] = {
    "cpu_cores_count", "mem_banks_count", "caches_count", "io_links_count", "vendor_id",
};

// Which field or key a derived property comes from, for the "cannot override" message.
std::string_view DerivedSource(std::string_view key) {
  if (key == "drm_render_minor") return "render_minor";
  if (key == "hive_id") return "hive";
  if (key == "location_id") return "location_id";
  if (key == "domain") return "domain";
  if (key == "vendor_id") return "cpu.vendor_id";
  if (key == "cpu_cores_count") return "cpu.cores";
  if (key == "caches_count") return "the cache list";
  return "the topology";
}

template <size_t N>
bool Contains(const std::string_view (&keys)[N], std::string_view key) {
  return std::find(std::begin(keys), std::end(keys), key) != std::end(keys);
}

uint64_t* FindProperty(Properties* properties, std::string_view key) {
  for (auto& [name, value] : *properties) {
    if (name == key) return &value;
  }
  return nullptr;
}

// Updates the value in place, keeping the sysfs order; appends keys a hand-built spec lacks.
void SetProperty(Properties* properties, std::string_view key, uint64_t value) {
  if (uint64_t* slot = FindProperty(properties, key)) {
    *slot = value;
  } else {
    properties->emplace_back(std::string(key), value);
  }
}

// ---------------------------------------------------------------------------------------------
// Messages.

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

std::string Hex(uint64_t value) {
  char text[24];
  std::snprintf(text, sizeof(text), "0x%" PRIx64, value);
  return text;
}

std::string GpuPath(size_t index) { return "gpu[" + std::to_string(index) + "]"; }

struct Problem {
  std::string path;
  std::string what;
  std::optional<size_t> gpu;  // the GPU the problem is about, if any
};

// ---------------------------------------------------------------------------------------------
// Size and duration text.

std::string_view Trim(std::string_view text) {
  constexpr std::string_view kSpace = " \t";
  const size_t first = text.find_first_not_of(kSpace);
  if (first == std::string_view::npos) return {};
  return text.substr(first, text.find_last_not_of(kSpace) - first + 1);
}

// Splits "<digits><spaces><unit>"; fails on no digits, signs, or a value above 2^64 - 1.
bool SplitNumber(std::string_view text, uint64_t* number, std::string_view* unit) {
  text = Trim(text);
  size_t pos = 0;
  uint64_t value = 0;
  while (pos < text.size() && text[pos] >= '0' && text[pos] <= '9') {
    const uint64_t digit = static_cast<uint64_t>(text[pos] - '0');
    if (value > (std::numeric_limits<uint64_t>::max() - digit) / 10) return false;
    value = value * 10 + digit;
    ++pos;
  }
  if (pos == 0) return false;
  *number = value;
  *unit = Trim(text.substr(pos));
  return true;
}

std::optional<uint64_t> Scale(uint64_t number, uint64_t factor) {
  if (number > std::numeric_limits<uint64_t>::max() / factor) return std::nullopt;
  return number * factor;
}

// ---------------------------------------------------------------------------------------------
// TOML access. Each accessor leaves *out untouched when the key is absent, so callers preload the
// default; on a wrong type or value it records the problem and returns false.

std::string_view TypeName(const toml::node& node) {
  switch (node.type()) {
    case toml::node_type::table: return "a table";
    case toml::node_type::array: return "an array";
    case toml::node_type::string: return "a string";
    case toml::node_type::integer: return "an integer";
    case toml::node_type::floating_point: return "a float";
    case toml::node_type::boolean: return "a boolean";
    default: return "a date/time";
  }
}

class TableReader {
 public:
  TableReader(const toml::table& table, std::string path, Problem* problem)
      : table_(table), path_(std::move(path)), problem_(problem) {}

  const toml::table& table() const { return table_; }
  std::string PathOf(std::string_view key) const {
    return path_.empty() ? std::string(key) : path_ + "." + std::string(key);
  }
  bool Has(std::string_view key) const { return table_.get(key) != nullptr; }

  bool Fail(std::string_view key, std::string what) const {
    *problem_ = Problem{PathOf(key), std::move(what), std::nullopt};
    return false;
  }

  bool CheckKeys(std::initializer_list<std::string_view> allowed) const {
    for (auto&& [key, node] : table_) {
      if (std::find(allowed.begin(), allowed.end(), key.str()) != allowed.end()) continue;
      std::string expected;
      for (std::string_view name : allowed) {
        if (!expected.empty()) expected += ", ";
        expected += name;
      }
      return Fail(key.str(), "unknown key (expected one of: " + expected + ")");
    }
    return true;
  }

  bool String(std::string_view key, std::string* out) const {
    const toml::node* node = table_.get(key);
    if (node == nullptr) return true;
    if (!node->is_string()) return WrongType(key, *node, "a string");
    *out = node->as_string()->get();
    return true;
  }

  bool Bool(std::string_view key, bool* out) const {
    const toml::node* node = table_.get(key);
    if (node == nullptr) return true;
    if (!node->is_boolean()) return WrongType(key, *node, "true or false");
    *out = node->as_boolean()->get();
    return true;
  }

  template <typename T>
  bool Integer(std::string_view key, uint64_t min, uint64_t max, T* out) const {
    const toml::node* node = table_.get(key);
    if (node == nullptr) return true;
    if (!node->is_integer()) return WrongType(key, *node, "an integer");
    const int64_t value = node->as_integer()->get();
    if (value < 0 || static_cast<uint64_t>(value) < min || static_cast<uint64_t>(value) > max) {
      return Fail(key, "must be between " + std::to_string(min) + " and " + std::to_string(max) +
                           ", not " + std::to_string(value));
    }
    *out = static_cast<T>(value);
    return true;
  }

  template <typename T>
  bool Integer(std::string_view key, T* out) const {
    return Integer(key, 0, std::numeric_limits<T>::max(), out);
  }

  // A size string ("64GiB") or a plain integer number of bytes.
  bool Size(std::string_view key, uint64_t* out) const {
    const toml::node* node = table_.get(key);
    if (node == nullptr) return true;
    if (node->is_integer()) return Integer(key, out);
    if (!node->is_string()) return WrongType(key, *node, "a size like \"64GiB\"");
    const std::string& text = node->as_string()->get();
    std::optional<uint64_t> bytes = ParseSize(text);
    if (!bytes) {
      return Fail(key, "'" + text + "' is not a size (like \"64GiB\", \"256MiB\", \"4096\")");
    }
    *out = *bytes;
    return true;
  }

  // Durations are strings with a unit; a bare number other than 0 would be ambiguous.
  bool Duration(std::string_view key, uint64_t* out) const {
    const toml::node* node = table_.get(key);
    if (node == nullptr) return true;
    if (!node->is_string()) return WrongType(key, *node, "a duration like \"200us\"");
    const std::string& text = node->as_string()->get();
    std::optional<uint64_t> ns = ParseDurationNs(text);
    if (!ns) {
      return Fail(key, "'" + text + "' is not a duration (like \"200us\", \"50ns\", \"1ms\")");
    }
    *out = *ns;
    return true;
  }

  // *out is nullptr when the key is absent.
  bool Table(std::string_view key, const toml::table** out) const {
    *out = nullptr;
    const toml::node* node = table_.get(key);
    if (node == nullptr) return true;
    if (!node->is_table()) return WrongType(key, *node, "a table ([" + PathOf(key) + "])");
    *out = node->as_table();
    return true;
  }

  bool TableArray(std::string_view key, const toml::array** out) const {
    *out = nullptr;
    const toml::node* node = table_.get(key);
    if (node == nullptr) return true;
    if (!node->is_array_of_tables()) {
      return WrongType(key, *node, "an array of tables ([[" + PathOf(key) + "]])");
    }
    *out = node->as_array();
    return true;
  }

 private:
  bool WrongType(std::string_view key, const toml::node& node, std::string_view expected) const {
    return Fail(key, "must be " + std::string(expected) + ", not " + std::string(TypeName(node)));
  }

  const toml::table& table_;
  std::string path_;
  Problem* problem_;
};

// ---------------------------------------------------------------------------------------------
// TOML -> Topology. Only types and syntax are checked here; what the values mean is checked by
// Validate(), which also sees topologies built in code.

class TopologyParser {
 public:
  explicit TopologyParser(Problem* problem) : problem_(problem) {}

  // origins[i] describes where gpus[i] came from when that is not obvious from its index.
  bool Parse(const toml::table& root, Topology* topology, std::vector<std::string>* origins) {
    TableReader top(root, "", problem_);
    if (!top.CheckKeys({"name", "description", "pcie_peer_access", "cpu", "dma", "gpu"}) ||
        !top.String("name", &topology->name) ||
        !top.String("description", &topology->description) ||
        !top.Bool("pcie_peer_access", &topology->pcie_peer_access)) {
      return false;
    }

    const toml::table* cpu = nullptr;
    if (!top.Table("cpu", &cpu) ||
        (cpu != nullptr && !ParseCpu(TableReader(*cpu, "cpu", problem_), &topology->cpu))) {
      return false;
    }

    DmaTiming dma;
    const toml::table* dma_table = nullptr;
    if (!top.Table("dma", &dma_table) ||
        (dma_table != nullptr && !ParseDma(TableReader(*dma_table, "dma", problem_), &dma))) {
      return false;
    }

    const toml::array* gpus = nullptr;
    if (!top.TableArray("gpu", &gpus)) return false;
    for (size_t entry = 0; gpus != nullptr && entry < gpus->size(); ++entry) {
      const toml::table& table = *(*gpus)[entry].as_table();
      if (!ParseGpuEntry(TableReader(table, GpuPath(entry), problem_), entry, dma, topology,
                         origins)) {
        return false;
      }
    }
    return true;
  }

 private:
  bool ParseCpu(const TableReader& cpu, CpuSpec* spec) {
    const toml::table* properties = nullptr;
    return cpu.CheckKeys({"cores", "memory", "vendor_id", "cache", "properties"}) &&
           cpu.Integer("cores", &spec->cores) && cpu.Size("memory", &spec->memory_bytes) &&
           cpu.Integer("vendor_id", &spec->vendor_id) &&
           ParseCaches(cpu, kCacheTypeCpuData, &spec->caches) &&
           cpu.Table("properties", &properties) &&
           (properties == nullptr ||
            ParseProperties(TableReader(*properties, cpu.PathOf("properties"), problem_),
                            kCpuDerivedKeys, "the CPU node", &spec->properties));
  }

  bool ParseDma(const TableReader& dma, DmaTiming* timing) {
    return dma.CheckKeys({"job_latency", "pte_cost", "job_cost"}) &&
           dma.Duration("job_latency", &timing->job_latency_ns) &&
           dma.Duration("pte_cost", &timing->pte_cost_ns) &&
           dma.Duration("job_cost", &timing->job_cost_ns);
  }

  // [[x.cache]]: when present, the list replaces the defaults entirely.
  bool ParseCaches(const TableReader& owner, uint32_t default_type,
                   std::vector<CacheSpec>* caches) {
    const toml::array* array = nullptr;
    if (!owner.TableArray("cache", &array)) return false;
    if (array == nullptr) return true;
    caches->clear();
    for (size_t i = 0; i < array->size(); ++i) {
      TableReader cache(*(*array)[i].as_table(),
                        owner.PathOf("cache") + "[" + std::to_string(i) + "]", problem_);
      CacheSpec spec;
      spec.type = default_type;
      uint64_t size_bytes = 0;
      if (!cache.CheckKeys(
              {"level", "size", "line_size", "lines_per_tag", "association", "latency", "type"})) {
        return false;
      }
      if (!cache.Has("level")) return cache.Fail("level", "required");
      if (!cache.Has("size")) return cache.Fail("size", "required");
      if (!cache.Integer("level", &spec.level) || !cache.Size("size", &size_bytes) ||
          !cache.Integer("line_size", &spec.line_size) ||
          !cache.Integer("lines_per_tag", &spec.lines_per_tag) ||
          !cache.Integer("association", &spec.association) ||
          !cache.Integer("latency", &spec.latency) || !cache.Integer("type", &spec.type)) {
        return false;
      }
      if (size_bytes % kKiB != 0 || size_bytes / kKiB > std::numeric_limits<uint32_t>::max()) {
        return cache.Fail("size",
                          "must be a multiple of 1 KiB below 4 TiB, not " + FormatSize(size_bytes));
      }
      spec.size_kb = static_cast<uint32_t>(size_bytes / kKiB);
      caches->push_back(spec);
    }
    return true;
  }

  // Overrides may only change properties the node already has, so a misspelt key is an error.
  template <size_t N>
  bool ParseProperties(const TableReader& reader, const std::string_view (&derived)[N],
                       std::string_view node_kind, Properties* properties) {
    for (auto&& [key, node] : reader.table()) {
      const std::string_view name = key.str();
      if (Contains(derived, name)) {
        return reader.Fail(name, "is derived from " + std::string(DerivedSource(name)) +
                                     " and cannot be overridden");
      }
      uint64_t* slot = FindProperty(properties, name);
      if (slot == nullptr) {
        return reader.Fail(name, "unknown property for " + std::string(node_kind));
      }
      if (!reader.Integer(name, slot)) return false;
    }
    return true;
  }

  bool ParseGpuEntry(const TableReader& entry, size_t entry_index, const DmaTiming& global_dma,
                     Topology* topology, std::vector<std::string>* origins) {
    if (!entry.CheckKeys({"model", "count", "vram", "visible_vram", "hive", "gpu_id",
                          "render_minor", "location_id", "domain", "mem_width", "mem_clk_max",
                          "properties", "cache", "dma"})) {
      return false;
    }
    std::string model_name;
    if (!entry.Has("model")) return entry.Fail("model", "required (one of: " + KnownModels() + ")");
    if (!entry.String("model", &model_name)) return false;
    const GpuModel* model = FindModel(model_name);
    if (model == nullptr) {
      return entry.Fail("model",
                        "unknown model '" + model_name + "' (known: " + KnownModels() + ")");
    }

    uint32_t count = 1;
    if (!entry.Integer("count", 1, kMaxGpus, &count)) return false;
    if (count > 1) {
      for (std::string_view key : {"gpu_id", "render_minor", "location_id"}) {
        if (entry.Has(key)) {
          return entry.Fail(key, "cannot be combined with count = " + std::to_string(count) +
                                     " (each GPU needs its own)");
        }
      }
    }
    const size_t first_index = topology->gpus.size();
    if (first_index + count > kMaxGpus) {
      return entry.Fail("count", "makes " + std::to_string(first_index + count) +
                                     " GPUs; at most " + std::to_string(kMaxGpus) +
                                     " are supported");
    }

    GpuSpec gpu = MakeGpu(*model, first_index);
    gpu.dma = global_dma;
    const bool has_visible_vram = entry.Has("visible_vram");
    const toml::table* properties = nullptr;
    const toml::table* dma = nullptr;
    if (!entry.Size("vram", &gpu.vram_bytes) ||
        !entry.Size("visible_vram", &gpu.visible_vram_bytes) ||
        !entry.Integer("hive", &gpu.hive_id) || !entry.Integer("gpu_id", &gpu.gpu_id) ||
        !entry.Integer("render_minor", &gpu.drm_render_minor) ||
        !entry.Integer("location_id", &gpu.location_id) || !entry.Integer("domain", &gpu.domain) ||
        !entry.Integer("mem_width", &gpu.mem_width) ||
        !entry.Integer("mem_clk_max", &gpu.mem_clk_max) ||
        !ParseCaches(entry, kCacheTypeGpuData, &gpu.caches) ||
        !entry.Table("properties", &properties) || !entry.Table("dma", &dma)) {
      return false;
    }
    if (!has_visible_vram) gpu.visible_vram_bytes = gpu.vram_bytes;
    if (properties != nullptr &&
        !ParseProperties(TableReader(*properties, entry.PathOf("properties"), problem_),
                         kGpuDerivedKeys, "model " + model_name, &gpu.properties)) {
      return false;
    }
    if (dma != nullptr && !ParseDma(TableReader(*dma, entry.PathOf("dma"), problem_), &gpu.dma)) {
      return false;
    }

    for (uint32_t copy = 0; copy < count; ++copy) {
      const size_t index = first_index + copy;
      // Copies differ only in the per-index fields, which an entry with count > 1 cannot set.
      if (copy > 0) AssignIndexDefaults(&gpu, index);
      topology->gpus.push_back(gpu);
      origins->push_back(count == 1
                             ? std::string()
                             : "copy " + std::to_string(copy + 1) + " of " + std::to_string(count) +
                                   " from [[gpu]] entry " + std::to_string(entry_index));
    }
    return true;
  }

  Problem* problem_;
};

// ---------------------------------------------------------------------------------------------
// Validation: every rule that the real driver's output always satisfies and ROCm relies on.

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
  if (FindModel(gpu.model) == nullptr) {
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

std::optional<Problem> Validate(Topology* topology) {
  if (topology->gpus.empty()) return Problem{"gpu", "at least one GPU ([[gpu]]) is required", {}};
  if (topology->gpus.size() > kMaxGpus) {
    return Problem{"gpu",
                   std::to_string(topology->gpus.size()) + " GPUs; at most " +
                       std::to_string(kMaxGpus) + " are supported",
                   {}};
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

// ---------------------------------------------------------------------------------------------
// Files and presets.

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

// Returns 0 or an errno value. The size limit keeps `--topology /dev/zero` from eating memory.
int ReadFile(const std::string& path, std::string* text) {
  std::FILE* file = std::fopen(path.c_str(), "rb");
  if (file == nullptr) return errno;
  char buffer[16384];
  int error = 0;
  size_t n;
  while ((n = std::fread(buffer, 1, sizeof(buffer), file)) > 0) {
    text->append(buffer, n);
    if (text->size() > kMaxFileBytes) {
      error = EFBIG;
      break;
    }
  }
  if (error == 0 && std::ferror(file)) error = errno != 0 ? errno : EIO;
  std::fclose(file);
  return error;
}

void SetError(std::string* error, std::string message) {
  if (error != nullptr) *error = std::move(message);
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Public interface.

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

bool ValidateTopology(Topology* topology, std::string_view source_name, std::string* error) {
  if (std::optional<Problem> problem = Validate(topology)) {
    SetError(error, FormatError(source_name, problem->path, problem->what));
    return false;
  }
  return true;
}

std::optional<Topology> ParseTopology(std::string_view toml_text, std::string_view source_name,
                                      std::string* error) {
  toml::table root;
  try {
    root = toml::parse(toml_text, source_name);
  } catch (const toml::parse_error& e) {
    const toml::source_position& where = e.source().begin;
    SetError(error, FormatError(source_name,
                                "line " + std::to_string(where.line) + ", column " +
                                    std::to_string(where.column),
                                e.description()));
    return std::nullopt;
  }

  Topology topology;
  topology.name = std::filesystem::path(source_name).stem().string();
  topology.cpu = DefaultCpu();
  Problem problem;
  std::vector<std::string> origins;
  if (!TopologyParser(&problem).Parse(root, &topology, &origins)) {
    SetError(error, FormatError(source_name, problem.path, problem.what));
    return std::nullopt;
  }
  if (std::optional<Problem> invalid = Validate(&topology)) {
    if (invalid->gpu && !origins[*invalid->gpu].empty()) {
      invalid->what += " (" + GpuPath(*invalid->gpu) + " is " + origins[*invalid->gpu] + ")";
    }
    SetError(error, FormatError(source_name, invalid->path, invalid->what));
    return std::nullopt;
  }
  return topology;
}

std::optional<Topology> LoadTopologyFile(const std::string& path, std::string* error) {
  std::string text;
  if (int err = ReadFile(path, &text); err != 0) {
    SetError(error, FormatError(path, "", std::string("cannot read: ") + std::strerror(err)));
    return std::nullopt;
  }
  return ParseTopology(text, path, error);
}

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

std::optional<Topology> LoadPreset(std::string_view name, std::string* error) {
  const std::string_view text = PresetText(name);
  if (text.empty()) {
    SetError(error, FormatError(name, "", "unknown preset (presets: " + PresetList() + ")"));
    return std::nullopt;
  }
  return ParseTopology(text, "presets/" + std::string(name) + ".toml", error);
}

std::optional<Topology> LoadTopology(std::string_view preset_or_path, std::string* error) {
  if (!PresetText(preset_or_path).empty()) return LoadPreset(preset_or_path, error);
  const std::string path(preset_or_path);
  std::string text;
  const int err = ReadFile(path, &text);
  if (err == ENOENT || err == ENOTDIR) {
    SetError(error,
             "unknown topology '" + path + "' (presets: " + PresetList() + ") and no such file");
    return std::nullopt;
  }
  if (err != 0) {
    SetError(error, FormatError(path, "", std::string("cannot read: ") + std::strerror(err)));
    return std::nullopt;
  }
  return ParseTopology(text, path, error);
}

std::optional<Topology> UniformMi210(int n, std::string* error) {
  if (n < 1 || n > static_cast<int>(kMaxGpus)) {
    SetError(error,
             FormatError("--gpus", "", "must be between 1 and 16, not " + std::to_string(n)));
    return std::nullopt;
  }
  // Keep in step with presets/mi210x{1,2,4,8}.toml; a test compares them.
  Topology topology;
  topology.name = "mi210x" + std::to_string(n);
  topology.description =
      std::to_string(n) + " x MI210, 64 GiB VRAM each, large BAR, PCIe peer access";
  topology.pcie_peer_access = true;
  topology.cpu = DefaultCpu();
  topology.cpu.memory_bytes = 256 * kGiB;
  for (int i = 0; i < n; ++i) topology.gpus.push_back(*DefaultGpu("mi210", static_cast<size_t>(i)));
  if (!ValidateTopology(&topology, "--gpus", error)) return std::nullopt;
  return topology;
}

// "64GiB", "256 MiB", "4096", "2G". Binary units only: "GB" is rejected rather than guessed at.
std::optional<uint64_t> ParseSize(std::string_view text) {
  static constexpr std::pair<std::string_view, uint64_t> kUnits[] = {
      {"", 1},       {"B", 1},    {"K", kKiB},   {"KiB", kKiB},     {"M", kMiB},
      {"MiB", kMiB}, {"G", kGiB}, {"GiB", kGiB}, {"T", kGiB << 10}, {"TiB", kGiB << 10}};
  uint64_t number = 0;
  std::string_view unit;
  if (!SplitNumber(text, &number, &unit)) return std::nullopt;
  for (const auto& [name, factor] : kUnits) {
    if (unit == name) return Scale(number, factor);
  }
  return std::nullopt;
}

// "200us", "1ms", "50ns", "2s", "0". A unitless number other than 0 is rejected as ambiguous.
std::optional<uint64_t> ParseDurationNs(std::string_view text) {
  static constexpr std::pair<std::string_view, uint64_t> kUnits[] = {
      {"ns", 1}, {"us", 1000}, {"ms", 1000 * 1000}, {"s", 1000 * 1000 * 1000}};
  uint64_t number = 0;
  std::string_view unit;
  if (!SplitNumber(text, &number, &unit)) return std::nullopt;
  if (unit.empty()) return number == 0 ? std::optional<uint64_t>(0) : std::nullopt;
  for (const auto& [name, factor] : kUnits) {
    if (unit == name) return Scale(number, factor);
  }
  return std::nullopt;
}

}  // namespace vkfd::hw

// Topology files: TOML -> Topology. Only types and syntax are checked here; what the values mean is
// checked by validation (validate.cc), which also sees topologies built in code.
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
//   memory = "256GiB"              # system memory (heap_type 0 bank): multiple of 2 MiB, >= 1 GiB;
//                                  # absent: the host's (HostMemoryBytes, set by validation)
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
// [gpu.properties] and [cpu.properties] may only change properties the node already has (the
// model's, gpu_models.cc, in the order KFD prints them), and not the ones validation derives from
// other fields (drm_render_minor, hive_id, location_id, domain, unique_id, simd_id_base,
// caches_count, ...).
#include "hw/topology/topology.h"

#include <toml++/toml.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <initializer_list>
#include <limits>
#include <string>

#include "base/parse.h"
#include "hw/topology/internal.h"

namespace vkfd::hw {

using namespace topology_internal;  // NOLINT: this folder's own helpers

namespace {

constexpr uint64_t kMaxFileBytes = 1 * kMiB;

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
    std::optional<uint64_t> bytes = vkfd::ParseSize(text);
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
    std::optional<uint64_t> ns = vkfd::ParseDurationNs(text);
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
// Validate() (validate.cc), which also sees topologies built in code.

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
    if (!IsKnownModel(model_name)) {
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

    GpuSpec gpu = *DefaultGpu(model_name, first_index);
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

}  // namespace

namespace topology_internal {

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

}  // namespace topology_internal

Expected<Topology> ParseTopology(std::string_view toml_text, std::string_view source_name) {
  toml::table root;
  try {
    root = toml::parse(toml_text, source_name);
  } catch (const toml::parse_error& e) {
    const toml::source_position& where = e.source().begin;
    return Fail(FormatError(source_name,
                            "line " + std::to_string(where.line) + ", column " +
                                std::to_string(where.column),
                            e.description()));
  }

  Topology topology;
  topology.name = std::filesystem::path(source_name).stem().string();
  topology.cpu = DefaultCpu();
  Problem problem;
  std::vector<std::string> origins;
  if (!TopologyParser(&problem).Parse(root, &topology, &origins)) {
    return Fail(FormatError(source_name, problem.path, problem.what));
  }
  if (std::optional<Problem> invalid = Validate(&topology)) {
    if (invalid->gpu && !origins[*invalid->gpu].empty()) {
      invalid->what += " (" + GpuPath(*invalid->gpu) + " is " + origins[*invalid->gpu] + ")";
    }
    return Fail(FormatError(source_name, invalid->path, invalid->what));
  }
  return topology;
}

Expected<Topology> LoadTopologyFile(const std::string& path) {
  std::string text;
  if (int err = ReadFile(path, &text); err != 0) {
    return Fail(FormatError(path, "", std::string("cannot read: ") + std::strerror(err)));
  }
  return ParseTopology(text, path);
}

}  // namespace vkfd::hw

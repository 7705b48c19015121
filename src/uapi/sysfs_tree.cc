#include "uapi/sysfs_tree.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "uapi/module_parameters.h"

namespace vkfd::uapi {
namespace {

constexpr char kTopology[] = "sys/devices/virtual/kfd/kfd/topology/";
constexpr char kSymlinkTag[] = "\x01symlink:";
constexpr char kDirTag[] = "\x01dir";

// HSA_IOLINKTYPE values and the weights amdgpu reports.
constexpr uint32_t kIoLinkPcie = 2;
constexpr uint32_t kIoLinkXgmi = 11;
constexpr uint32_t kWeightPcie = 20;
constexpr uint32_t kWeightXgmi = 15;
// HSA_MEM_HEAP_TYPE_*.
constexpr uint32_t kHeapSystem = 0;
constexpr uint32_t kHeapFbPublic = 1;
constexpr uint32_t kHeapFbPrivate = 2;

void Line(std::string* out, const char* key, uint64_t value) {
  char buf[96];
  snprintf(buf, sizeof(buf), "%s %" PRIu64 "\n", key, value);
  *out += buf;
}

std::string CacheFile(const hw::CacheSpec& c, size_t siblings) {
  std::string s;
  Line(&s, "processor_id_low", c.processor_id_low);
  Line(&s, "level", c.level);
  Line(&s, "size", c.size_kb);
  Line(&s, "cache_line_size", c.line_size);
  Line(&s, "cache_lines_per_tag", c.lines_per_tag);
  Line(&s, "association", c.association);
  Line(&s, "latency", c.latency);
  Line(&s, "type", c.type);
  s += "sibling_map ";
  for (size_t i = 0; i < siblings; ++i) s += i == 0 ? "1," : "0,";
  s += "\n";
  return s;
}

struct Link {
  uint32_t type, from, to, weight;
};

std::string LinkFile(const Link& l) {
  std::string s;
  Line(&s, "type", l.type);
  Line(&s, "version_major", 0);
  Line(&s, "version_minor", 0);
  Line(&s, "node_from", l.from);
  Line(&s, "node_to", l.to);
  Line(&s, "weight", l.weight);
  Line(&s, "min_latency", 0);
  Line(&s, "max_latency", 0);
  Line(&s, "min_bandwidth", 0);
  Line(&s, "max_bandwidth", 0);
  Line(&s, "recommended_transfer_size", 0);
  Line(&s, "flags", 1);
  return s;
}

std::string BankFile(uint32_t heap, uint64_t size, uint32_t width, uint32_t clk) {
  std::string s;
  Line(&s, "heap_type", heap);
  Line(&s, "size_in_bytes", size);
  Line(&s, "flags", 0);
  Line(&s, "width", width);
  Line(&s, "mem_clk_max", clk);
  return s;
}

std::string PropertiesFile(const std::vector<std::pair<std::string, uint64_t>>& props,
                           size_t io_links) {
  std::string s;
  for (const auto& [key, value] : props) {
    Line(&s, key.c_str(), key == "io_links_count" ? io_links : value);
  }
  return s;
}

uint64_t Fnv1a(const FileMap& files) {
  uint64_t h = 0xcbf29ce484222325ull;
  auto mix = [&h](const std::string& s) {
    for (unsigned char c : s) h = (h ^ c) * 0x100000001b3ull;
    h = (h ^ 0xff) * 0x100000001b3ull;
  };
  for (const auto& [path, content] : files) {
    mix(path);
    mix(content);
  }
  return h;
}

bool WriteTree(const std::string& dir, const FileMap& files) {
  namespace fs = std::filesystem;
  std::error_code ec;
  for (const auto& [rel, content] : files) {
    const fs::path path = fs::path(dir) / rel;
    fs::create_directories(path.parent_path(), ec);
    if (ec) return false;
    if (content.rfind(kSymlinkTag, 0) == 0) {
      fs::create_directory_symlink(content.substr(sizeof(kSymlinkTag) - 1), path, ec);
      if (ec) return false;
      continue;
    }
    if (content == kDirTag) {
      fs::create_directories(path, ec);
      if (ec) return false;
      continue;
    }
    std::ofstream out(path, std::ios::binary);
    out << content;
    if (!out) return false;
  }
  return true;
}

}  // namespace

FileMap SysfsTreeFiles(const hw::Topology& t) {
  FileMap files;
  const std::string topo = kTopology;
  files[topo + "generation_id"] = "1\n";
  files[topo + "system_properties"] = "platform_oem 0\nplatform_id 0\nplatform_rev 0\n";
  const size_t n_gpus = t.gpus.size();

  // io links: CPU <-> every GPU over PCIe; XGMI between members of a hive.
  std::vector<std::vector<Link>> links(n_gpus + 1);
  for (size_t g = 0; g < n_gpus; ++g) {
    const uint32_t node = static_cast<uint32_t>(g + 1);
    links[0].push_back(Link{kIoLinkPcie, 0, node, kWeightPcie});
    links[node].push_back(Link{kIoLinkPcie, node, 0, kWeightPcie});
  }
  for (size_t a = 0; a < n_gpus; ++a) {
    for (size_t b = 0; b < n_gpus; ++b) {
      if (a != b && t.SameHive(a, b)) {
        links[a + 1].push_back(Link{kIoLinkXgmi, static_cast<uint32_t>(a + 1),
                                    static_cast<uint32_t>(b + 1), kWeightXgmi});
      }
    }
  }

  // Node 0: the CPU.
  {
    const std::string node = topo + "nodes/0/";
    files[node + "gpu_id"] = "0\n";
    files[node + "name"] = "\n";
    files[node + "properties"] = PropertiesFile(t.cpu.properties, links[0].size());
    files[node + "mem_banks/0/properties"] = BankFile(kHeapSystem, t.cpu.memory_bytes, 64, 0);
    for (size_t c = 0; c < t.cpu.caches.size(); ++c) {
      files[node + "caches/" + std::to_string(c) + "/properties"] =
          CacheFile(t.cpu.caches[c], t.cpu.cores);
    }
    for (size_t l = 0; l < links[0].size(); ++l) {
      files[node + "io_links/" + std::to_string(l) + "/properties"] = LinkFile(links[0][l]);
    }
  }
  for (size_t g = 0; g < n_gpus; ++g) {
    const hw::GpuSpec& gpu = t.gpus[g];
    const std::string node = topo + "nodes/" + std::to_string(g + 1) + "/";
    files[node + "gpu_id"] = std::to_string(gpu.gpu_id) + "\n";
    files[node + "name"] = "aldebaran\n";
    files[node + "properties"] = PropertiesFile(gpu.properties, links[g + 1].size());
    files[node + "mem_banks/0/properties"] =
        BankFile(gpu.large_bar() ? kHeapFbPublic : kHeapFbPrivate, gpu.vram_bytes, gpu.mem_width,
                 gpu.mem_clk_max);
    for (size_t c = 0; c < gpu.caches.size(); ++c) {
      files[node + "caches/" + std::to_string(c) + "/properties"] = CacheFile(gpu.caches[c], 1);
    }
    for (size_t l = 0; l < links[g + 1].size(); ++l) {
      files[node + "io_links/" + std::to_string(l) + "/properties"] = LinkFile(links[g + 1][l]);
    }
    // The inspection directory; its `vm` file is served per process by the interposer.
    files["sys/kernel/debug/vkfd/" + std::to_string(gpu.gpu_id) + "/vm"] = "";
    files["dev/dri/renderD" + std::to_string(gpu.drm_render_minor)] = "";
  }
  files["sys/class/kfd/kfd"] = std::string(kSymlinkTag) + "../../devices/virtual/kfd/kfd";
  files["dev/kfd"] = "";
  // lsmod's view: `lsmod | grep amdgpu` must print a line.
  files["proc/modules"] = "amdgpu 9469952 0 - Live 0x0000000000000000\n";
  files["sys/module/amdgpu/refcnt"] = "0\n";
  files["sys/module/amdgpu/initstate"] = "live\n";
  files["sys/module/amdgpu/coresize"] = "9469952\n";
  files["sys/module/amdgpu/holders"] = kDirTag;
  // modinfo's and the runtime's view of the driver's options (cwsr_enable, noretry, ...).
  AddModuleParameters(t, &files);
  return files;
}

Expected<std::string> EnsureSysfsTree(const hw::Topology& topology) {
  const FileMap files = SysfsTreeFiles(topology);
  const char* base_env = getenv("VKFD_RUNTIME_DIR");
  if (base_env == nullptr || *base_env == '\0') base_env = getenv("TMPDIR");
  if (base_env == nullptr || *base_env == '\0') base_env = "/tmp";
  const std::string base = std::string(base_env) + "/vkfd-" + std::to_string(getuid());
  char name[40];
  snprintf(name, sizeof(name), "/root-%016" PRIx64, Fnv1a(files));
  const std::string dir = base + name;
  struct stat st;
  if (stat((dir + "/.complete").c_str(), &st) == 0) return dir;
  if (mkdir(base.c_str(), 0700) != 0 && errno != EEXIST) {
    return Fail("cannot create " + base + ": " + strerror(errno));
  }
  const std::string tmp = base + "/tmp-" + std::to_string(getpid()) + "-" + std::to_string(gettid());
  std::error_code ec;
  std::filesystem::remove_all(tmp, ec);
  FileMap with_marker = files;
  with_marker[".complete"] = "";
  if (!WriteTree(tmp, with_marker)) {
    std::filesystem::remove_all(tmp, ec);
    return Fail("cannot write the sysfs tree under " + tmp);
  }
  if (rename(tmp.c_str(), dir.c_str()) != 0) {
    // Another process won the race: its tree is identical.
    std::filesystem::remove_all(tmp, ec);
    if (stat((dir + "/.complete").c_str(), &st) != 0) {
      return Fail("cannot create " + dir + ": " + strerror(errno));
    }
  }
  return dir;
}

}  // namespace vkfd::uapi

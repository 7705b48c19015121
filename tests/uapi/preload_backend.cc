// Backend for the conformance tests as a real program: plain open(2)/ioctl(2) on /dev/kfd and the
// render nodes, topology from sysfs, the page-table view from the inspection file. Run it under
// `vkfd run` (or on a machine with a real /dev/kfd, where the vkfd-only checks are skipped).
//
// Under `vkfd run` the topology is the one the program was started on: a test asking for another one
// is skipped (ctest runs each test in its own `vkfd run --topology NAME` process, see
// tests/CMakeLists.txt). On another driver (a real /dev/kfd) a test runs when the machine has what
// its topology stands for — enough GPUs, large or small BAR, an XGMI hive — on the first GPUs that do,
// and is skipped with what is missing otherwise.
#include <dirent.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>
#include <string>

#include "uapi/backend.h"

namespace vkfd::conformance {
namespace {

constexpr const char* kTopologyDir = "/sys/devices/virtual/kfd/kfd/topology/nodes";

std::map<std::string, uint64_t> ReadProperties(const std::string& path) {
  std::map<std::string, uint64_t> props;
  std::ifstream in(path);
  std::string key;
  uint64_t value;
  while (in >> key >> value) props[key] = value;
  return props;
}

// "200us", "50ms", "1s", "500ns" -> nanoseconds; 0 if unparsable.
uint64_t ParseNs(const std::string& text) {
  size_t digits = 0;
  while (digits < text.size() && isdigit(static_cast<unsigned char>(text[digits]))) ++digits;
  if (digits == 0) return 0;
  const uint64_t value = std::stoull(text.substr(0, digits));
  const std::string unit = text.substr(digits);
  if (unit == "ns") return value;
  if (unit == "us") return value * 1000;
  if (unit == "ms") return value * 1000000;
  if (unit == "s") return value * 1000000000;
  return 0;
}

struct GpuNode {
  uint32_t gpu_id;
  int minor;
  bool public_vram;
  uint64_t hive_id;
  uint64_t vram_bytes;
};

class PreloadBackend : public Backend {
 public:
  PreloadBackend() {
    for (int n = 0;; ++n) {
      const std::string dir = std::string(kTopologyDir) + "/" + std::to_string(n);
      std::ifstream id_file(dir + "/gpu_id");
      if (!id_file) break;
      uint32_t gpu_id = 0;
      id_file >> gpu_id;
      if (gpu_id == 0) {  // the CPU node
        system_bytes_ += ReadProperties(dir + "/mem_banks/0/properties")["size_in_bytes"];
        continue;
      }
      auto props = ReadProperties(dir + "/properties");
      auto bank = ReadProperties(dir + "/mem_banks/0/properties");
      gpus_.push_back(GpuNode{gpu_id, static_cast<int>(props["drm_render_minor"]),
                              bank["heap_type"] == 1, props["hive_id"], bank["size_in_bytes"]});
    }
  }
  int OpenKfd(int access) override { return open("/dev/kfd", access | O_CLOEXEC); }
  int OpenRender(int minor, int access) override {
    return open(("/dev/dri/renderD" + std::to_string(minor)).c_str(), access | O_CLOEXEC);
  }
  int Ioctl(int fd, unsigned long cmd, void* arg) override { return ioctl(fd, cmd, arg); }
  void Close(int fd) override { close(fd); }
  int Dup(int fd) override { return dup(fd); }
  void* Mmap(void* addr, size_t length, int prot, int flags, int fd, off_t offset) override {
    return mmap(addr, length, prot, flags, fd, offset);
  }
  int Munmap(void* addr, size_t length) override { return munmap(addr, length); }
  void* Mremap(void* old_addr, size_t old_length, size_t new_length, int flags,
               void* new_addr) override {
    return mremap(old_addr, old_length, new_length, flags, new_addr);
  }
  // The memory banks' size_in_bytes (heap type 0 on the CPU node, the GPU's first bank).
  uint64_t SystemMemoryBytes() override { return system_bytes_; }
  uint64_t VramBytes(size_t gpu) override { return gpus_[gpu].vram_bytes; }
  // The program cannot change the emulated engines' timing: it is the run's, from `vkfd run
  // --dma-latency D` or a topology's [dma] job_latency that the test runner names in
  // VKFD_TEST_DMA_LATENCY_NS. Only that value can be "set" (0 when neither is given).
  bool SetDmaLatency(uint64_t ns) override {
    uint64_t actual = 0;
    if (const char* fixed = getenv("VKFD_TEST_DMA_LATENCY_NS"); fixed != nullptr) {
      actual = strtoull(fixed, nullptr, 10);
    } else if (const char* latency = getenv("VKFD_DMA_LATENCY"); latency != nullptr) {
      actual = ParseNs(latency);
    }
    return ns == actual;
  }
  std::vector<uint32_t> GpuIds() override {
    std::vector<uint32_t> ids;
    for (const auto& g : gpus_) ids.push_back(g.gpu_id);
    return ids;
  }
  std::vector<int> RenderMinors() override {
    std::vector<int> minors;
    for (const auto& g : gpus_) minors.push_back(g.minor);
    return minors;
  }
  std::string DumpVm(uint32_t gpu_id) override {
    std::ifstream in("/sys/kernel/debug/vkfd/" + std::to_string(gpu_id) + "/vm");
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
  }
  bool PeerAccessible(size_t i, size_t j) override {
    if (i == j) return true;
    if (gpus_[i].hive_id != 0 && gpus_[i].hive_id == gpus_[j].hive_id) return true;
    return gpus_[j].public_vram;
  }
  bool HasVmView() override { return access("/sys/kernel/debug/vkfd", F_OK) == 0; }

  // On a driver that is not vkfd: keeps the first GPUs that give the test what `topology` stands for
  // (built-in presets: mi210xN = N GPUs with large BAR, small-bar = two GPUs whose VRAM the others
  // cannot reach, mi250x8 = an XGMI hive of 8). Empty when they are there, else what is missing.
  std::string Select(const std::string& topology) {
    size_t want = 0;
    enum { kLargeBar, kSmallBar, kHive } kind = kLargeBar;
    if (topology.rfind("mi210x", 0) == 0) {
      want = std::strtoul(topology.c_str() + 6, nullptr, 10);
    } else if (topology == "small-bar") {
      want = 2;
      kind = kSmallBar;
    } else if (topology == "mi250x8") {
      want = 8;
      kind = kHive;
    } else {
      return {};  // a topology file: run on whatever is there
    }
    std::vector<GpuNode> chosen;
    for (const GpuNode& g : gpus_) {
      if (kind == kLargeBar && !g.public_vram) continue;
      if (kind == kSmallBar && g.public_vram) continue;
      if (kind == kHive && (g.hive_id == 0 || (!chosen.empty() && g.hive_id != chosen[0].hive_id))) {
        continue;
      }
      chosen.push_back(g);
    }
    if (chosen.size() < want) {
      const char* what = kind == kLargeBar   ? "with large BAR (all VRAM CPU-visible)"
                         : kind == kSmallBar ? "with small BAR (VRAM not all CPU-visible)"
                                             : "in one XGMI hive";
      return "needs " + std::to_string(want) + " GPUs " + what + ", found " +
             std::to_string(chosen.size());
    }
    chosen.resize(want);
    gpus_ = chosen;
    return {};
  }

 private:
  std::vector<GpuNode> gpus_;
  uint64_t system_bytes_ = 0;
};

}  // namespace

Backend* CreateBackend(const std::string& topology, std::string* why_not) {
  // The topology this program runs on: named by the test runner, or by `vkfd run` itself (which
  // exports the preset it emulates). Unknown (a real machine, a topology file): run every test.
  const char* running = getenv("VKFD_TEST_TOPOLOGY");
  if (running == nullptr) running = getenv("VKFD_TOPOLOGY");
  std::string uniform;  // `vkfd run --gpus N` emulates what preset mi210xN describes
  if (running == nullptr && getenv("VKFD_GPUS") != nullptr) {
    uniform = std::string("mi210x") + getenv("VKFD_GPUS");
    running = uniform.c_str();
  }
  if (running != nullptr && *running != '\0') {
    if (topology != running) return nullptr;  // skip
    return new PreloadBackend();
  }
  // Not vkfd's topology (a real machine, a topology file): does the machine have what it needs?
  auto backend = std::make_unique<PreloadBackend>();
  if (getenv("VKFD_ROOT") == nullptr) {
    const std::string missing = backend->Select(topology);
    if (!missing.empty()) {
      if (why_not != nullptr) *why_not = missing;
      return nullptr;
    }
  }
  return backend.release();
}

}  // namespace vkfd::conformance

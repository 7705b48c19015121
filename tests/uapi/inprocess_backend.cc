// Backend for the conformance tests that calls uapi::KfdDevice directly (no LD_PRELOAD).
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>

#include "uapi/fault_spec.h"
#include "kfd/process.h"
#include "uapi/kfd_device.h"
#include "uapi/cpu_mappings.h"
#include "uapi/kfd_mmap.h"
#include "uapi/backend.h"

namespace vkfd::conformance {
namespace {

class InProcessBackend : public Backend {
 public:
  explicit InProcessBackend(std::unique_ptr<uapi::KfdDevice> device) : device_(std::move(device)) {}
  int OpenKfd(int access) override { return device_->OpenKfd(access | O_CLOEXEC); }
  int OpenRender(int minor, int access) override {
    return device_->OpenRender(minor, access | O_CLOEXEC);
  }
  // As the interposer routes: the device's fds to the device, every other fd to the host kernel.
  int Ioctl(int fd, unsigned long cmd, void* arg) override {
    if (!device_->IsOurs(fd)) return ioctl(fd, cmd, arg);
    return device_->Ioctl(fd, cmd, arg);
  }
  void Close(int fd) override {
    device_->ForgetFd(fd);
    close(fd);
  }
  int Dup(int fd) override {
    const int copy = dup(fd);
    if (copy >= 0) device_->DupFd(fd, copy);
    return copy;
  }
  // As the interposer does: kfd fds through KfdMmap, render fds through RenderMmap, every other
  // mapping to the host, with the bookkeeping of uapi/cpu_mappings.h.
  void* Mmap(void* addr, size_t length, int prot, int flags, int fd, off_t offset) override {
    auto file = device_->Lookup(fd);
    if (file && file->kind == uapi::FileRecord::Kind::kKfd) {
      return uapi::KfdMmap(*device_, addr, length, prot, flags, fd, offset);
    }
    if (file && file->kind == uapi::FileRecord::Kind::kRender) {
      return uapi::RenderMmap(*device_, *file, addr, length, prot, flags, offset, uapi::LibcMm());
    }
    return uapi::CpuMmapOther(addr, length, prot, flags, fd, offset, uapi::LibcMm());
  }
  int Munmap(void* addr, size_t length) override {
    return uapi::CpuMunmap(addr, length, uapi::LibcMm());
  }
  void* Mremap(void* old_addr, size_t old_length, size_t new_length, int flags,
               void* new_addr) override {
    return uapi::CpuMremap(old_addr, old_length, new_length, flags, new_addr, uapi::LibcMm());
  }
  uint64_t SystemMemoryBytes() override { return device_->driver().topology().cpu.memory_bytes; }
  uint64_t VramBytes(size_t gpu) override { return device_->driver().topology().gpus[gpu].vram_bytes; }
  bool InjectFaults(const std::string& spec) override {
    auto armed = uapi::ArmFaultInjection(spec, 1);
    if (!armed.ok()) fprintf(stderr, "%s\n", armed.error().c_str());
    return armed.ok();
  }
  void ClearFaults() override { FaultInjector::Global().Reset(); }
  int64_t PageTablePages(size_t gpu) override {
    return static_cast<int64_t>(device_->driver().node().gpu(gpu).page_tables->pages_in_use());
  }
  std::vector<uint32_t> GpuIds() override {
    std::vector<uint32_t> ids;
    for (const auto& g : device_->driver().topology().gpus) ids.push_back(g.gpu_id);
    return ids;
  }
  std::vector<int> RenderMinors() override {
    std::vector<int> minors;
    for (const auto& g : device_->driver().topology().gpus) {
      minors.push_back(static_cast<int>(g.drm_render_minor));
    }
    return minors;
  }
  std::string DumpVm(uint32_t gpu_id) override {
    auto process = device_->driver().FindProcess(getpid());
    if (!process) return {};
    auto text = process->DumpVm(gpu_id);
    return text.ok() ? text.value() : std::string("<error>");
  }
  std::string CheckInvariant() override {
    auto process = device_->driver().FindProcess(getpid());
    return process ? process->DebugCheckPageTables() : std::string();
  }
  bool SetDmaLatency(uint64_t ns) override {
    for (size_t i = 0; i < device_->driver().gpu_count(); ++i) {
      // Engine time, not latency: jobs queue behind each other, each taking `ns` (the tests count on
      // fences staying pending while earlier jobs run).
      device_->driver().node().gpu(i).dma->set_timing(hw::DmaTiming{0, 0, ns});
    }
    return true;
  }
  bool EndProcess() override {
    device_->driver().TeardownProcess(getpid());
    return true;
  }
  bool PeerAccessible(size_t i, size_t j) override {
    return device_->driver().topology().PeerAccessible(i, j);
  }

 private:
  std::unique_ptr<uapi::KfdDevice> device_;
};

}  // namespace

Backend* CreateBackend(const std::string& topology, std::string* /*why_not*/) {
  auto topo = hw::LoadTopology(topology);
  if (!topo.ok()) {
    fprintf(stderr, "%s\n", topo.error().c_str());
    abort();
  }
  auto device = uapi::KfdDevice::Create(std::move(*topo));
  if (!device.ok()) {
    fprintf(stderr, "%s\n", device.error().c_str());
    abort();
  }
  return new InProcessBackend(std::move(device).value());
}

}  // namespace vkfd::conformance

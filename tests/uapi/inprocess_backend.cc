// Backend for the conformance tests that calls uapi::KfdDevice directly (no LD_PRELOAD).
#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>

#include "kfd/process.h"
#include "uapi/kfd_device.h"
#include "uapi/backend.h"

namespace vkfd::conformance {
namespace {

class InProcessBackend : public Backend {
 public:
  explicit InProcessBackend(std::unique_ptr<uapi::KfdDevice> device) : device_(std::move(device)) {}
  int OpenKfd() override { return device_->OpenKfd(O_RDWR | O_CLOEXEC); }
  int OpenRender(int minor) override { return device_->OpenRender(minor, O_RDWR | O_CLOEXEC); }
  int Ioctl(int fd, unsigned long cmd, void* arg) override { return device_->Ioctl(fd, cmd, arg); }
  void Close(int fd) override {
    device_->ForgetFd(fd);
    close(fd);
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
      device_->driver().node().gpu(i).dma->set_timing(hw::DmaTiming{ns, 0});
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

Backend* CreateBackend(const std::string& topology) {
  std::string error;
  auto topo = hw::LoadTopology(topology, &error);
  if (!topo) {
    fprintf(stderr, "%s\n", error.c_str());
    abort();
  }
  auto device = uapi::KfdDevice::Create(std::move(*topo), &error);
  if (!device) {
    fprintf(stderr, "%s\n", error.c_str());
    abort();
  }
  return new InProcessBackend(std::move(device));
}

}  // namespace vkfd::conformance

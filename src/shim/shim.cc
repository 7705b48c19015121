#include "shim/shim.h"

#include <fcntl.h>
#include <pthread.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <optional>
#include <string_view>

#include "base/expected.h"
#include "base/fault_inject.h"
#include "base/parse.h"
#include "base/thread_annotations.h"
#include "kfd/process.h"
#include "shim/fake_root.h"
#include "shim/ioctl_log.h"
#include "uapi/fault_spec.h"
#include "uapi/kfd_device.h"

namespace vkfd::shim {
namespace {

std::atomic<int> g_pid{0};
std::once_flag g_pid_once;
void RefreshPid() { g_pid.store(static_cast<int>(getpid()), std::memory_order_relaxed); }

std::atomic<DeviceSlot*> g_fds[kMaxFds];

Mutex g_device_mu;
DeviceSlot* g_device GUARDED_BY(g_device_mu) = nullptr;

// Prefixes served from the fake root. Each must match a whole path component.
constexpr std::string_view kRedirected[] = {
    "/sys/devices/virtual/kfd", "/sys/class/kfd", "/sys/kernel/debug/vkfd", "/dev/dri",
    "/proc/modules",            "/dev/kfd",       "/sys/module/amdgpu",
};

bool HasPrefix(std::string_view path, std::string_view prefix) {
  return path.size() >= prefix.size() && path.compare(0, prefix.size(), prefix) == 0 &&
         (path.size() == prefix.size() || path[prefix.size()] == '/');
}

void ReportOnce(const std::string& message) {
  static std::once_flag once;
  std::call_once(once, [&] { fprintf(stderr, "vkfd: %s\n", message.c_str()); });
}

Expected<hw::Topology> TopologyFromEnvOnly() {
  const char* topology = getenv("VKFD_TOPOLOGY");
  if (topology != nullptr && *topology != '\0') return hw::LoadTopology(topology);
  const char* gpus = getenv("VKFD_GPUS");
  if (gpus != nullptr && *gpus != '\0') {
    char* end = nullptr;
    const long n = strtol(gpus, &end, 10);
    if (*end != '\0' || n < 1 || n > 16) {
      return Fail(std::string("VKFD_GPUS: not a GPU count between 1 and 16: '") + gpus + "'");
    }
    return hw::UniformMi210(static_cast<int>(n));
  }
  return hw::LoadPreset("mi210x2");
}

// The topology, with VKFD_DMA_LATENCY (`vkfd run --dma-latency`) as a floor on every GPU's job latency.
Expected<hw::Topology> TopologyFromEnv() {
  Expected<hw::Topology> topology = TopologyFromEnvOnly();
  const char* latency = getenv("VKFD_DMA_LATENCY");
  if (!topology.ok() || latency == nullptr || *latency == '\0') return topology;
  const std::optional<uint64_t> ns = ParseDurationNs(latency);
  if (!ns) {
    return Fail(std::string("VKFD_DMA_LATENCY: not a duration (e.g. 200us): '") + latency + "'");
  }
  for (hw::GpuSpec& gpu : topology->gpus) {
    gpu.dma.job_latency_ns = std::max(gpu.dma.job_latency_ns, *ns);
  }
  return topology;
}

// Where fault-injection reports go: VKFD_INJECT_LOG (appended, one line per write), else stderr.
int InjectLogFd() {
  static const int fd = [] {
    const char* path = getenv("VKFD_INJECT_LOG");
    if (path == nullptr || *path == '\0') return 2;
    int f = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (f < 0) return 2;
    const int high = fcntl(f, F_DUPFD_CLOEXEC, 100);  // out of the program's low fd numbers
    if (high >= 0) {
      close(f);
      f = high;
    }
    return f;
  }();
  return fd;
}

void WriteInjectLine(const std::string& text) {
  char prefix[32];
  snprintf(prefix, sizeof(prefix), "[vkfd %d] ", CurrentPid());
  const std::string line = prefix + text + "\n";
  [[maybe_unused]] ssize_t n = write(InjectLogFd(), line.data(), line.size());
}

// At exit under fault injection: what the client left behind after its own cleanup (the KFD process
// outlives the client's close() of /dev/kfd until the address space goes, as in the kernel).
void ReportAtExit() {
  uapi::KfdDevice* device = nullptr;
  {
    MutexLock lock(&g_device_mu);
    if (g_device != nullptr && g_device->pid == CurrentPid()) device = g_device->device;
  }
  if (device == nullptr) return;
  auto process = device->driver().FindProcess(CurrentPid());
  if (!process) return;
  const kfd::Process::Usage usage = process->DebugUsage();
  WriteInjectLine("exit bos=" + std::to_string(usage.bos) +
                  " mapped=" + std::to_string(usage.mapped_bos) +
                  " faults=" + std::to_string(FaultInjector::Global().fired()));
}

// Arms the fault injector from VKFD_INJECT / VKFD_INJECT_SEED, once per process (exec'd and forked
// programs arm their own, with the same seed, so the same calls fail in them). Reports the spec and
// seed, then every firing as it happens. False if the spec is invalid.
bool ArmInjectorFromEnv() {
  static int armed_pid = 0;  // guarded by g_device_mu (the only caller holds it)
  if (armed_pid == CurrentPid()) return true;
  const char* spec = getenv("VKFD_INJECT");
  if (spec == nullptr || *spec == '\0') {
    armed_pid = CurrentPid();
    return true;
  }
  FaultInjector& injector = FaultInjector::Global();
  injector.set_sink([](const FaultRecord& record) {
    WriteInjectLine("inject " + uapi::FormatFaultRecord(record));
  });
  // `vkfd run` always chooses a seed and passes it on; a program started by hand with VKFD_INJECT
  // alone gets one from the clock (reported below, so its run can be replayed).
  std::optional<uint64_t> seed;
  if (const char* text = getenv("VKFD_INJECT_SEED")) seed = ParseU64(text);
  if (!seed) {
    timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    seed = uint64_t(ts.tv_nsec) ^ (uint64_t(getpid()) << 32);
  }
  if (Expected<void> armed = uapi::ArmFaultInjection(spec, *seed); !armed.ok()) {
    ReportOnce("VKFD_INJECT: " + armed.error());
    return false;
  }
  armed_pid = CurrentPid();
  WriteInjectLine("inject armed '" + injector.description() + "' seed=" +
                  std::to_string(injector.seed()));
  atexit(ReportAtExit);
  return true;
}

const Expected<hw::Topology>& SharedTopology() {
  static const Expected<hw::Topology> topology = [] {
    Expected<hw::Topology> t = TopologyFromEnv();
    if (!t.ok()) ReportOnce(t.error());
    return t;
  }();
  return topology;
}

void InstallLogger(uapi::KfdDevice* device) {
  const char* target = getenv("VKFD_LOG_IOCTLS");
  if (target == nullptr || *target == '\0') return;
  int fd = 2;
  if (strcmp(target, "-") != 0 && strcmp(target, "stderr") != 0) {
    fd = open(target, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0) {
      ReportOnce(std::string("cannot open the ioctl log ") + target + ": " + strerror(errno));
      return;
    }
    // Keep the log out of the low fd numbers the program may expect to get.
    const int high = fcntl(fd, F_DUPFD_CLOEXEC, 100);
    if (high >= 0) {
      close(fd);
      fd = high;
    }
  }
  device->set_observer([fd](const uapi::IoctlRecord& record) {
    const std::string line = FormatIoctlRecord(record, CurrentPid());
    // One write per line: lines of concurrent threads and processes never interleave (O_APPEND).
    [[maybe_unused]] ssize_t n = write(fd, line.data(), line.size());
  });
}

// Fence fds the device creates (extension ioctls) join the fd table, so ioctls on them reach the
// device; close() forgets them as it forgets every device fd.
class SlotFdObserver : public uapi::FdObserver {
 public:
  explicit SlotFdObserver(DeviceSlot* slot) : slot_(slot) {}
  bool FdCreated(int fd) override {
    if (fd < 0 || fd >= kMaxFds) return false;  // beyond the table: could not be routed
    SetFdOwner(fd, slot_);
    return true;
  }
  void FdWithdrawn(int fd) override { SetFdOwner(fd, nullptr); }

 private:
  DeviceSlot* const slot_;
};

// A snapshot of the page tables of the calling process on one GPU, as a memfd positioned at 0.
int OpenDebugVm(uint32_t gpu_id, int flags) {
  std::string text;
  uapi::KfdDevice* device = nullptr;
  {
    MutexLock lock(&g_device_mu);
    if (g_device != nullptr && g_device->pid == CurrentPid()) device = g_device->device;
  }
  if (device != nullptr) {
    if (!device->driver().GpuIndex(gpu_id)) {
      errno = ENOENT;
      return -1;
    }
    if (auto process = device->driver().FindProcess(CurrentPid())) {
      auto dump = process->DumpVm(gpu_id);
      if (dump.ok()) text = std::move(dump.value());
    }
  }
  const int fd = memfd_create("vkfd-vm", (flags & O_CLOEXEC) ? MFD_CLOEXEC : 0);
  if (fd < 0) return -1;
  size_t done = 0;
  while (done < text.size()) {
    const ssize_t n = write(fd, text.data() + done, text.size() - done);
    if (n <= 0) {
      close(fd);
      errno = EIO;
      return -1;
    }
    done += static_cast<size_t>(n);
  }
  lseek(fd, 0, SEEK_SET);
  return fd;
}

}  // namespace

int CurrentPid() {
  std::call_once(g_pid_once, [] {
    RefreshPid();
    pthread_atfork(nullptr, nullptr, RefreshPid);
  });
  return g_pid.load(std::memory_order_relaxed);
}

const std::string& FakeRootDir() {
  static const std::string dir = [] {
    const char* given = getenv("VKFD_ROOT");
    if (given != nullptr && *given != '\0') return std::string(given);
    const auto& topology = SharedTopology();
    if (!topology.ok()) return std::string();
    std::string error;
    auto made = EnsureFakeRoot(*topology, &error);
    if (!made) {
      ReportOnce(error);
      return std::string();
    }
    return *made;
  }();
  return dir;
}

PathInfo ClassifyPath(const char* path) {
  PathInfo info;
  if (path == nullptr || path[0] != '/') return info;
  // Fast rejection: everything of ours is under /sys/, /dev/ or /proc/.
  if (path[1] != 's' && path[1] != 'd' && path[1] != 'p') return info;
  const std::string_view p(path);
  const std::string_view* match = nullptr;
  for (const std::string_view& prefix : kRedirected) {
    if (HasPrefix(p, prefix)) {
      match = &prefix;
      break;
    }
  }
  if (match == nullptr) return info;
  const std::string& root = FakeRootDir();
  if (root.empty()) return info;
  info.redirected = root + std::string(p);
  if (p == "/dev/kfd") {
    info.kind = PathKind::kKfd;
    return info;
  }
  int minor = 0;
  char tail = 0;
  if (sscanf(path, "/dev/dri/renderD%d%c", &minor, &tail) == 1) {
    info.kind = PathKind::kRender;
    info.minor = minor;
    return info;
  }
  unsigned gpu_id = 0;
  char rest[8] = {};
  if (sscanf(path, "/sys/kernel/debug/vkfd/%u/%7s", &gpu_id, rest) == 2 &&
      strcmp(rest, "vm") == 0) {
    info.kind = PathKind::kDebugVm;
    info.gpu_id = gpu_id;
    return info;
  }
  info.kind = PathKind::kRedirect;
  return info;
}

DeviceSlot* DeviceForCaller() {
  MutexLock lock(&g_device_mu);
  if (g_device != nullptr && g_device->pid == CurrentPid()) return g_device;
  // First open in this process, or in a forked child: a fresh device. The parent's stays alive
  // (leaked) for the fds the child inherited.
  const auto& topology = SharedTopology();
  if (!topology.ok()) return nullptr;
  if (!ArmInjectorFromEnv()) return nullptr;
  std::string error;
  auto device = uapi::KfdDevice::Create(*topology, &error);
  if (!device) {
    ReportOnce(error);
    return nullptr;
  }
  InstallLogger(device.get());
  auto* slot = new DeviceSlot{device.release(), CurrentPid()};
  slot->device->set_fd_observer(new SlotFdObserver(slot));  // lives as long as the slot: forever
  g_device = slot;
  return g_device;
}

int OpenDevicePath(const PathInfo& info, int flags) {
  if (info.kind == PathKind::kDebugVm) return OpenDebugVm(info.gpu_id, flags);
  DeviceSlot* slot = DeviceForCaller();
  if (slot == nullptr) {
    errno = ENODEV;
    return -1;
  }
  int fd;
  if (info.kind == PathKind::kKfd) {
    fd = slot->device->OpenKfd(flags);
  } else {
    fd = slot->device->OpenRender(info.minor, flags);
  }
  if (fd < 0) return -1;
  if (fd >= kMaxFds) {
    slot->device->ForgetFd(fd);
    close(fd);
    errno = EMFILE;
    return -1;
  }
  SetFdOwner(fd, slot);
  return fd;
}

DeviceSlot* FdOwner(int fd) {
  if (fd < 0 || fd >= kMaxFds) return nullptr;
  return g_fds[fd].load(std::memory_order_acquire);
}

void SetFdOwner(int fd, DeviceSlot* slot) {
  if (fd >= 0 && fd < kMaxFds) g_fds[fd].store(slot, std::memory_order_release);
}

void ForgetFd(int fd) {
  if (fd < 0 || fd >= kMaxFds) return;
  DeviceSlot* slot = g_fds[fd].exchange(nullptr, std::memory_order_acq_rel);
  // A parent's device may hold locks that a thread of the parent owned at fork time: leave it alone.
  if (slot != nullptr && slot->pid == CurrentPid()) slot->device->ForgetFd(fd);
}

void DupFd(int oldfd, int newfd) {
  DeviceSlot* slot = FdOwner(oldfd);
  if (slot == nullptr || newfd < 0) return;
  if (newfd >= kMaxFds) return;  // not tracked: an ioctl on it reaches the host kernel (ENOTTY)
  if (slot->pid == CurrentPid()) slot->device->DupFd(oldfd, newfd);
  SetFdOwner(newfd, slot);
}

}  // namespace vkfd::shim

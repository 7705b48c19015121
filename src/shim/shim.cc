#include "shim/shim.h"

#include <fcntl.h>
#include <pthread.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <new>
#include <optional>
#include <string_view>

#include "base/expected.h"
#include "base/fault_inject.h"
#include "base/parse.h"
#include "base/process_identity.h"
#include "base/thread_annotations.h"
#include "base/trace.h"
#include "shim/ioctl_log.h"
#include "uapi/environment.h"
#include "uapi/fault_spec.h"
#include "uapi/file_table.h"
#include "uapi/kfd_device.h"

namespace vkfd::shim {
namespace {

Mutex g_device_mu;
// The calling process's device (created by that pid; a forked child makes its own).
uapi::KfdDevice* g_device GUARDED_BY(g_device_mu) = nullptr;

// A forked child's copy of g_device_mu may be held by a thread that does not exist there.
[[maybe_unused]] const bool g_atfork_registered = [] {
  pthread_atfork(nullptr, nullptr, [] { new (&g_device_mu) Mutex(); });
  return true;
}();

// Prefixes served from the sysfs tree. Each must match a whole path component.
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

const uapi::EmulatedNode* Node() {
  const Expected<uapi::EmulatedNode>& node = uapi::EmulatedNode::FromEnvironment();
  if (!node.ok()) {
    ReportOnce(node.error());
    return nullptr;
  }
  return &node.value();
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
    if (g_device != nullptr && g_device->owner_pid() == CurrentPid()) device = g_device;
  }
  if (device == nullptr) return;
  const uapi::KfdDevice::Usage usage = device->CallerUsage();
  WriteInjectLine("exit bos=" + std::to_string(usage.bos) +
                  " mapped=" + std::to_string(usage.mapped_bos) +
                  " faults=" + std::to_string(FaultInjector::Global().fired()));
}

// Arms the fault injector from VKFD_INJECT / VKFD_INJECT_SEED, once per process (exec'd and forked
// programs arm their own, with the same seed, so the same calls fail in them). Reports the spec and
// seed, then every firing as it happens. False if the spec is invalid.
bool ArmInjectorFromEnv() REQUIRES(g_device_mu) {
  static int armed_pid = 0;
  if (armed_pid == CurrentPid()) return true;
  const char* spec = getenv("VKFD_INJECT");
  if (spec == nullptr || *spec == '\0') {
    armed_pid = CurrentPid();
    return true;
  }
  FaultInjector& injector = FaultInjector::Global();
  injector.set_sink([](const FaultRecord& record) {
    const std::string text = uapi::FormatFaultRecord(record);
    trace::Instant(trace::CurrentTid(), "inject", "injected fault", {}, text);
    WriteInjectLine("inject " + text);
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

// `vkfd run --trace FILE`: VKFD_TRACE names the file (created by `vkfd run` with its "["); each
// process of the run appends its own events (base/trace.h).
void StartTraceFromEnv() {
  const char* path = getenv("VKFD_TRACE");
  if (path == nullptr || *path == '\0') return;
  if (Expected<void> started = trace::Start(path); !started.ok()) ReportOnce(started.error());
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

// A snapshot of the page tables of the calling process on one GPU, as a memfd positioned at 0.
int OpenDebugVm(uint32_t gpu_id, int flags) {
  std::string text;
  if (uapi::KfdDevice* device = DeviceForCaller()) {
    auto view = device->PageTableView(gpu_id);
    if (!view.ok()) {
      errno = ENOENT;
      return -1;
    }
    text = std::move(view.value());
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

const std::string& SysfsRoot() {
  static const std::string empty;
  const uapi::EmulatedNode* node = Node();
  return node != nullptr ? node->sysfs_root() : empty;
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
  const std::string& root = SysfsRoot();
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

uapi::KfdDevice* DeviceForCaller() {
  MutexLock lock(&g_device_mu);
  if (g_device != nullptr && g_device->owner_pid() == CurrentPid()) return g_device;
  // First open in this process, or in a forked child: a fresh device. The parent's stays alive
  // (leaked) for the fds the child inherited.
  const uapi::EmulatedNode* node = Node();
  if (node == nullptr) return nullptr;
  if (!ArmInjectorFromEnv()) return nullptr;
  StartTraceFromEnv();
  Expected<std::unique_ptr<uapi::KfdDevice>> device = node->CreateDevice();
  if (!device.ok()) {
    ReportOnce(device.error());
    return nullptr;
  }
  InstallLogger(device.value().get());
  g_device = device.value().release();
  return g_device;
}

int OpenDevicePath(const PathInfo& info, int flags) {
  if (info.kind == PathKind::kDebugVm) return OpenDebugVm(info.gpu_id, flags);
  uapi::KfdDevice* device = DeviceForCaller();
  if (device == nullptr) {
    errno = ENODEV;
    return -1;
  }
  return info.kind == PathKind::kKfd ? device->OpenKfd(flags) : device->OpenRender(info.minor, flags);
}

void ForgetFd(int fd) {
  const std::optional<uapi::FileRecord> record = uapi::FileTable::Find(fd);
  if (!record) return;
  // A parent's device may hold locks that a thread of the parent owned at fork time: leave its
  // bookkeeping alone and only take the number out of the table.
  if (record->device->owner_pid() == CurrentPid()) {
    record->device->ForgetFd(fd);
  } else {
    uapi::FileTable::Forget(fd);
  }
}

std::optional<uapi::FileRecord> LiveRecord(int fd) {
  std::optional<uapi::FileRecord> stale;
  std::optional<uapi::FileRecord> record = uapi::FileTable::FindLive(fd, &stale);
  if (stale) ForgetFd(fd);
  return record;
}

void DupFd(int oldfd, int newfd) {
  if (oldfd == newfd || newfd < 0) return;
  ForgetFd(newfd);
  const std::optional<uapi::FileRecord> record = uapi::FileTable::Find(oldfd);
  if (!record) return;
  if (record->device->owner_pid() == CurrentPid()) {
    record->device->DupFd(oldfd, newfd);
  } else {
    uapi::FileTable::Dup(oldfd, newfd);
  }
}

}  // namespace vkfd::shim

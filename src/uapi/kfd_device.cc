// The file table and the ioctl dispatcher (kfd_ioctl in kfd_chardev.c).
#include "uapi/kfd_device.h"

#include <fcntl.h>
#include <linux/capability.h>
#include <linux/kfd_ioctl.h>
#include <pthread.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <vector>

#include "base/user_memory.h"
#include "uapi/errno_table.h"
#include "uapi/ioctl_table.h"

namespace vkfd::uapi {
namespace {

// getpid() is a system call; the dispatcher needs the caller's pid on every ioctl (the EBADF check),
// so it is cached and refreshed in forked children.
std::atomic<int> g_pid{0};
std::once_flag g_pid_once;

void RefreshPid() { g_pid.store(static_cast<int>(getpid()), std::memory_order_relaxed); }

int CurrentPid() {
  std::call_once(g_pid_once, [] {
    RefreshPid();
    pthread_atfork(nullptr, nullptr, RefreshPid);
  });
  return g_pid.load(std::memory_order_relaxed);
}

// Fast fd -> file lookup without a lock: a flat array for small fds. Records are never freed while
// the device lives (closing an fd only clears the slot), so a racing lookup cannot see freed memory.
constexpr int kFastFds = 4096;
std::atomic<OpenFile*> g_fast[kFastFds];

// CAP_CHECKPOINT_RESTORE or CAP_SYS_ADMIN in the caller's effective set, as CRIU_OP requires.
bool MayCheckpointRestore() {
  __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[2] = {};
  if (syscall(SYS_capget, &header, data) != 0) return false;
  auto has = [&](unsigned cap) { return (data[cap / 32].effective >> (cap % 32)) & 1u; };
  constexpr unsigned kCapSysAdmin = 21;
  constexpr unsigned kCapCheckpointRestore = 40;
  return has(kCapSysAdmin) || has(kCapCheckpointRestore);
}

}  // namespace

std::unique_ptr<KfdDevice> KfdDevice::Create(hw::Topology topology, std::string* error) {
  std::unique_ptr<KfdDevice> device(new KfdDevice());
  auto driver = kfd::Driver::Create(std::move(topology));
  if (!driver.ok()) {
    if (error) *error = std::string("cannot create the emulated node: ") + CodeName(driver.code());
    return nullptr;
  }
  device->driver_ = std::move(driver.value());
  CurrentPid();
  InstallFaultRecovery();
  return device;
}

KfdDevice::~KfdDevice() {
  std::unique_lock lock(mu_);
  for (auto& [fd, file] : files_) {
    if (fd < kFastFds) g_fast[fd].store(nullptr, std::memory_order_release);
  }
}

int KfdDevice::Register(int fd, std::shared_ptr<OpenFile> file) {
  std::unique_lock lock(mu_);
  file->file_id = next_file_id_++;
  // Fence records are freed when their fd is closed, so they never enter the lock-free array (whose
  // records must outlive every racing lookup); their lookups take the table lock.
  OpenFile* fast = file->kind == OpenFile::Kind::kFence ? nullptr : file.get();
  if (fd < kFastFds) g_fast[fd].store(fast, std::memory_order_release);
  files_[fd] = std::move(file);
  return fd;
}

Status KfdDevice::InstallFenceFile(int fd, std::shared_ptr<kfd::FenceFile> fence) {
  auto file = std::make_shared<OpenFile>();
  file->kind = OpenFile::Kind::kFence;
  file->opener_pid = CurrentPid();
  file->fence = std::move(fence);
  Register(fd, std::move(file));
  FdObserver* observer = fd_observer_.load(std::memory_order_acquire);
  if (observer != nullptr && !observer->FdCreated(fd)) {
    ForgetFd(fd);
    close(fd);
    return Status(Code::kTooManyFiles);
  }
  return Status::Ok();
}

void KfdDevice::WithdrawFd(int fd) {
  if (FdObserver* observer = fd_observer_.load(std::memory_order_acquire)) observer->FdWithdrawn(fd);
  ForgetFd(fd);
  close(fd);
}

std::shared_ptr<kfd::FenceFile> KfdDevice::LookupFenceFile(int fd) const {
  std::shared_ptr<OpenFile> file = Lookup(fd);
  if (!file || file->kind != OpenFile::Kind::kFence) return nullptr;
  return file->fence;
}

int KfdDevice::GpuIndexForMinor(int minor) const {
  const auto& gpus = driver_->topology().gpus;
  for (size_t i = 0; i < gpus.size(); ++i) {
    if (static_cast<int>(gpus[i].drm_render_minor) == minor) return static_cast<int>(i);
  }
  return -1;
}

int KfdDevice::OpenKfd(int flags) {
  int fd = memfd_create("vkfd-kfd", (flags & O_CLOEXEC) ? MFD_CLOEXEC : 0);
  if (fd < 0) return -1;
  // The thunk treats fd 0 as "not open"; the kernel never hands out 0 while stdin is open, and neither
  // do we: move such an fd up.
  if (fd == 0) {
    int moved = fcntl(fd, (flags & O_CLOEXEC) ? F_DUPFD_CLOEXEC : F_DUPFD, 3);
    close(fd);
    if (moved < 0) return -1;
    fd = moved;
  }
  auto file = std::make_shared<OpenFile>();
  file->kind = OpenFile::Kind::kKfd;
  file->opener_pid = CurrentPid();
  file->process = driver_->OpenProcess(file->opener_pid);
  return Register(fd, std::move(file));
}

int KfdDevice::OpenRender(int minor, int flags) {
  const int gpu = GpuIndexForMinor(minor);
  if (gpu < 0) {
    errno = ENOENT;
    return -1;
  }
  // A new open file description of the GPU's memfd: mmaps of it share the GPU's pages.
  char path[64];
  snprintf(path, sizeof(path), "/proc/self/fd/%d", driver_->node().gpu(gpu).memory->fd());
  int fd = open(path, O_RDWR | (flags & O_CLOEXEC));
  if (fd < 0) fd = fcntl(driver_->node().gpu(gpu).memory->fd(),
                         (flags & O_CLOEXEC) ? F_DUPFD_CLOEXEC : F_DUPFD, 3);
  if (fd < 0) return -1;
  auto file = std::make_shared<OpenFile>();
  file->kind = OpenFile::Kind::kRender;
  file->gpu_index = gpu;
  file->opener_pid = CurrentPid();
  return Register(fd, std::move(file));
}

void KfdDevice::ForgetFd(int fd) {
  std::shared_ptr<OpenFile> dropped;  // released after the lock: a fence file's last reference
  std::unique_lock lock(mu_);
  if (fd >= 0 && fd < kFastFds) g_fast[fd].store(nullptr, std::memory_order_release);
  auto it = files_.find(fd);
  if (it == files_.end()) return;
  if (it->second->kind == OpenFile::Kind::kFence) {
    dropped = std::move(it->second);  // never in g_fast: lookups hold their own reference
  } else {
    // Keep the record alive while the device lives (see g_fast): a racing lookup may still hold it.
    closed_.push_back(std::move(it->second));
  }
  files_.erase(it);
}

void KfdDevice::DupFd(int oldfd, int newfd) {
  std::unique_lock lock(mu_);
  auto it = files_.find(oldfd);
  if (it == files_.end()) return;
  auto file = it->second;
  OpenFile* fast = file->kind == OpenFile::Kind::kFence ? nullptr : file.get();
  if (newfd < kFastFds) g_fast[newfd].store(fast, std::memory_order_release);
  files_[newfd] = std::move(file);
}

std::shared_ptr<OpenFile> KfdDevice::Lookup(int fd) const {
  std::shared_lock lock(mu_);
  auto it = files_.find(fd);
  return it == files_.end() ? nullptr : it->second;
}

int KfdDevice::Ioctl(int fd, unsigned long cmd, void* arg) {
  OpenFile* file = (fd >= 0 && fd < kFastFds) ? g_fast[fd].load(std::memory_order_acquire) : nullptr;
  std::shared_ptr<OpenFile> holder;
  if (file == nullptr) {
    holder = Lookup(fd);
    file = holder.get();
  }
  if (file == nullptr) {
    errno = EBADF;
    return -1;
  }
  if (file->kind == OpenFile::Kind::kRender) {
    // Not a DRM device: what an ioctl on a memfd gives, which libdrm handles cleanly.
    errno = ENOTTY;
    return -1;
  }
  const bool observed = static_cast<bool>(observer_);
  const auto start = observed ? std::chrono::steady_clock::now() : std::chrono::steady_clock::time_point();

  int result = 0;
  std::string described;
  const unsigned nr = _IOC_NR(cmd);
  const bool fence_file = file->kind == OpenFile::Kind::kFence;
  // Extension commands match as a whole (type 'V', number, size, direction); anything else on
  // /dev/kfd is KFD's, whose dispatch looks at the number only. A fence fd knows only its own two.
  const IoctlDesc* desc = fence_file ? FindFenceFileIoctl(cmd) : FindExtIoctl(cmd);
  if (desc == nullptr && !fence_file) desc = FindIoctl(nr);
  alignas(16) unsigned char stack_data[128];
  std::vector<unsigned char> heap_data;
  unsigned char* kdata = stack_data;
  if (desc == nullptr && fence_file) {
    result = -ENOTTY;  // sync_file_ioctl's default
  } else if (desc == nullptr) {
    // 6.1's kfd_ioctl: a number outside [AMDKFD_COMMAND_START, AMDKFD_COMMAND_END) keeps the initial
    // retcode -EINVAL, before the opener check. That includes ROCm 5.2's private 0x80-0x84 (DBG_TRAP,
    // IPC, cross-memory copy), which the thunk reads as "not supported". (Later kernels say -ENOTTY.)
    result = -EINVAL;
  } else if (!fence_file && file->opener_pid != CurrentPid()) {
    result = -EBADF;
  } else if (desc->handler == nullptr) {
    result = -EINVAL;
  } else if (desc->checkpoint_restore && !MayCheckpointRestore()) {
    result = -EACCES;  // 6.1: capable(CAP_CHECKPOINT_RESTORE) || capable(CAP_SYS_ADMIN)
  } else {
    // The kernel's own definition decides direction and minimum size; the user's size bits decide
    // how much is copied. A shorter user struct is zero-extended.
    const size_t usize = _IOC_SIZE(cmd);
    const size_t ksize = _IOC_SIZE(desc->cmd);
    const size_t asize = usize > ksize ? usize : ksize;
    const unsigned dir = _IOC_DIR(desc->cmd);
    if (asize > sizeof(stack_data)) {
      heap_data.resize(asize);
      kdata = heap_data.data();
    }
    memset(kdata, 0, asize);
    const uint64_t user = reinterpret_cast<uint64_t>(arg);
    Code code = Code::kOk;
    if ((dir & _IOC_WRITE) && !CopyFromUser(kdata, user, usize).ok()) {
      code = Code::kFault;
    } else {
      IoctlContext ctx{this, file, file->process.get()};
      code = desc->handler(ctx, kdata);
      if ((dir & _IOC_READ) && !CopyToUser(user, kdata, usize).ok()) code = Code::kFault;
      // An fd the client never learnt of (the copy-out failed) must not stay open: put_unused_fd.
      if (ctx.new_fd >= 0 && code != Code::kOk) WithdrawFd(ctx.new_fd);
    }
    if (observed && desc->describe != nullptr) desc->describe(kdata, &described);
    result = code == Code::kOk ? 0 : -ErrnoFor(code);
  }
  if (observed) {
    const int64_t ns = std::chrono::duration_cast<std::chrono::nanoseconds>(
                           std::chrono::steady_clock::now() - start).count();
    observer_(IoctlRecord{desc != nullptr ? desc->name : "UNKNOWN", cmd, described, result, ns});
  }
  if (result < 0) {
    errno = -result;
    return -1;
  }
  return result;
}

}  // namespace vkfd::uapi

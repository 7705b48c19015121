// The interposer's state, kept apart from the libc wrappers (preload.cc) so it can be unit-tested
// without LD_PRELOAD: which paths are ours, the emulated device, and the fd table.
//
// Paths. /dev/kfd and /dev/dri/renderD<minor> open the emulated device; /sys/kernel/debug/vkfd/<gpu>/vm
// opens a snapshot of the calling process's page tables; everything else under /sys/devices/virtual/kfd,
// /sys/class/kfd, /sys/kernel/debug/vkfd, /dev/dri, /proc/modules and /sys/module/amdgpu is redirected into the fake root
// (fake_root.h), and every other path is not ours and is passed through untouched.
//
// Device. Created lazily, from the environment (VKFD_TOPOLOGY = preset or file, or VKFD_GPUS = N), on the
// first open of a device path. A forked child must not touch its parent's device (its DMA threads do
// not exist in the child): the first device open in a child creates a fresh device and the parent's is
// leaked. Fds inherited from the parent stay routed to the parent's device, whose dispatcher answers
// EBADF to a process that did not open them, as KFD does.
//
// Fd table. A lock-free array from fd number to the device slot that owns it (fds below kMaxFds; larger
// fds are never handed out as device fds — the open fails with EMFILE). Updated by open, close and the
// dup family, and by the device itself for the fence fds its extension ioctls create (it reports them
// to an FdObserver that the slot installs); read on every ioctl and mmap.
#pragma once

#include <cstdint>
#include <string>

namespace vkfd::uapi {
class KfdDevice;
}

namespace vkfd::shim {

inline constexpr int kMaxFds = 1 << 16;

struct DeviceSlot {
  uapi::KfdDevice* device = nullptr;
  int pid = 0;  // the process that created the device
};

enum class PathKind { kOther, kRedirect, kKfd, kRender, kDebugVm };

struct PathInfo {
  PathKind kind = PathKind::kOther;
  std::string redirected;  // kRedirect (and the device kinds, for stat): the path in the fake root
  int minor = -1;          // kRender
  uint32_t gpu_id = 0;     // kDebugVm
};

// Classifies `path`. Cheap for paths that are not ours (no allocation, no initialisation). A path that
// is ours but cannot be served (the fake root could not be made) is reported as kOther.
PathInfo ClassifyPath(const char* path);
// The fake root's directory, made on first use; empty if the topology is unusable.
const std::string& FakeRootDir();

// The calling process's device, created on first use. nullptr (with a message on stderr, once) if the
// topology is invalid.
DeviceSlot* DeviceForCaller();

// open(2) of a device path; -1 with errno on failure.
int OpenDevicePath(const PathInfo& info, int flags);

// Fd table.
DeviceSlot* FdOwner(int fd);
void SetFdOwner(int fd, DeviceSlot* slot);
// Forgets `fd` (close): the device's own table too, if it belongs to the calling process.
void ForgetFd(int fd);
// newfd now refers to oldfd's file (dup family); no-op if oldfd is not ours.
void DupFd(int oldfd, int newfd);

// Cached getpid(), refreshed in forked children.
int CurrentPid();

}  // namespace vkfd::shim

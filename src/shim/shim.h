// The interposer's state, kept apart from the libc wrappers (preload.cc) so it can be unit-tested
// without LD_PRELOAD: which paths are ours and the calling process's device. It talks to uapi/ only.
//
// Paths. /dev/kfd and /dev/dri/renderD<minor> open the emulated device; /sys/kernel/debug/vkfd/<gpu>/vm
// opens a snapshot of the calling process's page tables; everything else under /sys/devices/virtual/kfd,
// /sys/class/kfd, /sys/kernel/debug/vkfd, /dev/dri, /proc/modules and /sys/module/amdgpu is redirected
// into the node's sysfs tree (uapi/sysfs_tree.h), and every other path is not ours and is passed
// through untouched.
//
// Device. Created lazily from the environment (uapi/environment.h) at the first open of a device path.
// A forked child must not touch its parent's device (its DMA threads do not exist in the child, its
// locks may be held by threads that do not exist either): the first device open in a child creates a
// fresh device and the parent's is left alone. Fds inherited from the parent stay routed to the
// parent's device, whose dispatcher answers EBADF to a process that did not open them, as KFD does.
//
// Fds. Which fds are emulated is uapi::FileTable's business (one table for the process); the shim
// tells it about closes and dups it sees.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "uapi/file_table.h"


namespace vkfd::shim {

enum class PathKind { kOther, kRedirect, kKfd, kRender, kDebugVm };

struct PathInfo {
  PathKind kind = PathKind::kOther;
  std::string redirected;  // kRedirect (and the device kinds, for stat): the path in the sysfs tree
  int minor = -1;          // kRender
  uint32_t gpu_id = 0;     // kDebugVm
};

// Classifies `path`. Cheap for paths that are not ours (no allocation, no initialisation). A path that
// is ours but cannot be served (the environment names no usable node) is reported as kOther.
PathInfo ClassifyPath(const char* path);
// The sysfs tree's directory; empty if the environment names no usable node.
const std::string& SysfsRoot();

// The calling process's device, created on first use. nullptr (with a message on stderr, once) if the
// environment names no usable node.
uapi::KfdDevice* DeviceForCaller();

// open(2) of a device path; -1 with errno on failure.
int OpenDevicePath(const PathInfo& info, int flags);

// The program closed `fd` (close, close_range, closefrom, fclose): forget it.
void ForgetFd(int fd);
// The record of `fd` if it is emulated and still refers to the same kernel object; a record whose
// number was closed behind our back (fclose of an fdopen'ed fd, a raw close) and reused is forgotten.
std::optional<uapi::FileRecord> LiveRecord(int fd);
// newfd now refers to oldfd's file (dup family); forgets newfd if oldfd is not ours.
void DupFd(int oldfd, int newfd);

}  // namespace vkfd::shim

// The KFD ioctl table: for each command number, the kernel's own definition (size and direction),
// the handler, and a decoder for logs. Dispatch follows kfd_ioctl() exactly (see ioctl_dispatch.cc).
//
// Handlers receive the argument struct already copied in (zero-extended to the kernel's size) and
// return a Status code; the dispatcher copies the struct out — also on error — and sets errno.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "base/status.h"

namespace vkfd::kfd {
class Process;
}

namespace vkfd::uapi {

class KfdDevice;
struct OpenFile;

struct IoctlContext {
  KfdDevice* device;
  OpenFile* file;
  kfd::Process* process;  // null on a fence fd
  // A handler that returns a new fd (KfdDevice::InstallFenceFile, its last step) names it here; the
  // dispatcher withdraws it if the struct cannot be copied out.
  int new_fd = -1;
};

using IoctlHandler = Code (*)(IoctlContext& ctx, void* args);
using IoctlDescriber = void (*)(const void* args, std::string* out);

struct IoctlDesc {
  unsigned long cmd = 0;  // the kernel's definition: decides size and direction
  IoctlHandler handler = nullptr;
  const char* name = nullptr;
  IoctlDescriber describe = nullptr;
  // KFD_IOC_FLAG_CHECKPOINT_RESTORE: needs CAP_CHECKPOINT_RESTORE or CAP_SYS_ADMIN (else -EACCES).
  bool checkpoint_restore = false;
  // What vkfd does with it, for the support matrix (docs/support-matrix.md, `vkfd support-matrix`).
  const char* support = nullptr;
};

// The entry for command number `nr`, or nullptr outside the table.
const IoctlDesc* FindIoctl(unsigned nr);
// vkfd's extension commands (include/vkfd/vkfd_ioctl.h, ext_ioctls.cc), matched on the whole command:
// those served on the /dev/kfd fd, and those served on a fence fd. nullptr if `cmd` is none of them.
const IoctlDesc* FindExtIoctl(unsigned long cmd);
const IoctlDesc* FindFenceFileIoctl(unsigned long cmd);
// Both extension tables, /dev/kfd's first.
std::vector<const IoctlDesc*> ExtIoctls();
// The name of a command for logs ("MAP_MEMORY_TO_GPU", "0x82").
std::string IoctlName(unsigned long cmd);
// Every command vkfd knows, in table order: KFD's 6.1 numbers, then the extensions on /dev/kfd, then
// those on fence fds.
std::vector<const IoctlDesc*> AllIoctls();

// Handler families (one file each).
Code GetVersion(IoctlContext& ctx, void* args);
Code GetProcessAperturesNew(IoctlContext& ctx, void* args);
Code GetProcessApertures(IoctlContext& ctx, void* args);
Code AcquireVm(IoctlContext& ctx, void* args);
Code SetMemoryPolicy(IoctlContext& ctx, void* args);
Code SetXnackMode(IoctlContext& ctx, void* args);
Code AllocMemoryOfGpu(IoctlContext& ctx, void* args);
Code FreeMemoryOfGpu(IoctlContext& ctx, void* args);
Code MapMemoryToGpu(IoctlContext& ctx, void* args);
Code UnmapMemoryFromGpu(IoctlContext& ctx, void* args);
Code AvailableMemory(IoctlContext& ctx, void* args);
// event_ioctls.cc
Code CreateEvent(IoctlContext& ctx, void* args);
Code DestroyEvent(IoctlContext& ctx, void* args);
Code SetEvent(IoctlContext& ctx, void* args);
Code ResetEvent(IoctlContext& ctx, void* args);
Code WaitEvents(IoctlContext& ctx, void* args);
// queue_ioctls.cc
Code CreateQueue(IoctlContext& ctx, void* args);
Code DestroyQueue(IoctlContext& ctx, void* args);
Code UpdateQueue(IoctlContext& ctx, void* args);
Code CriuOp(IoctlContext& ctx, void* args);  // privileged callers: kInvalidArgs (no CRIU)
// misc_ioctls.cc
Code GetClockCounters(IoctlContext& ctx, void* args);
Code SetScratchBackingVa(IoctlContext& ctx, void* args);
Code SetTrapHandler(IoctlContext& ctx, void* args);
Code GetTileConfig(IoctlContext& ctx, void* args);
Code DeprecatedDebug(IoctlContext& ctx, void* args);  // DBG_* 0x0D-0x10: kPermission

}  // namespace vkfd::uapi

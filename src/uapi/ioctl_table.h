// The KFD ioctl table (amdkfd_ioctls[] in kfd_chardev.c): one row per command with the kernel's own
// definition (size and direction), the handler, a decoder for logs and the support-matrix note.
// Dispatch follows kfd_ioctl() exactly (kfd_device.cc).
//
// Handlers receive the argument struct already copied in (zero-extended to the kernel's size) and
// return a Code; the dispatcher copies the struct out — also on error, except after a failed
// `validate` step (IoctlContext::validate_failed) — and sets errno.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <linux/kfd_ioctl.h>

#include <type_traits>

#include "base/status.h"

namespace vkfd::kfd {
class FenceFile;
class Process;
}

namespace vkfd::uapi {

class KfdDevice;
struct FileRecord;

struct IoctlContext {
  KfdDevice* device;
  const FileRecord& file;
  kfd::Process* process;  // null on a fence fd
  kfd::FenceFile* fence;  // the fence file of a fence fd, else null
  size_t usize = 0;       // the user's struct size (_IOC_SIZE of the command as called)
  int file_fd = -1;       // the fd the ioctl was made on
  // A handler that returns a new fd (KfdDevice::InstallFenceFile, its last step) names it here; the
  // dispatcher withdraws it if the struct cannot be copied out.
  int new_fd = -1;
  // Set by a handler whose first step is the kernel's `validate` hook (amdkfd_ioctl_desc.validate,
  // only SVM's on 6.1.y) when that step fails: kfd_ioctl then goes to err_i1 and copies nothing out.
  bool validate_failed = false;
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
  // False while the handler is NotImplemented (EINVAL).
  bool served = true;
};

// Not implemented yet: the kernel's handler exists, vkfd answers EINVAL (the support matrix says so).
template <typename Args>
Code NotImplemented(IoctlContext&, Args&) {
  return Code::kInvalidArgs;
}

namespace internal {
template <typename F>
struct HandlerTraits;
template <typename A>
struct HandlerTraits<Code (*)(IoctlContext&, A&)> {
  using Args = A;
};
}  // namespace internal

// One table row per ioctl: the command, its handler typed on the command's own argument struct, the
// name, a decoder for the log and the support-matrix note. The struct's size is checked against the
// command at compile time; the row adapts the typed functions to the dispatcher's erased ones.
//   Row<AMDKFD_IOC_FREE_MEMORY_OF_GPU, FreeMemoryOfGpu, DescFree>("FREE_MEMORY_OF_GPU", "EBUSY while mapped")
template <unsigned long Cmd, auto Handler, auto Describer>
constexpr IoctlDesc Row(const char* name, const char* support, bool checkpoint_restore = false) {
  using Args = typename internal::HandlerTraits<decltype(Handler)>::Args;
  static_assert(sizeof(Args) == _IOC_SIZE(Cmd), "the handler's struct is not the command's");
  static_assert(std::is_same_v<decltype(Describer), void (*)(const Args&, std::string*)>,
                "the describer's struct is not the handler's");
  IoctlDesc d;
  d.cmd = Cmd;
  d.handler = [](IoctlContext& ctx, void* args) -> Code {
    return Handler(ctx, *static_cast<Args*>(args));
  };
  d.name = name;
  d.describe = [](const void* args, std::string* out) {
    Describer(*static_cast<const Args*>(args), out);
  };
  d.checkpoint_restore = checkpoint_restore;
  d.support = support;
  d.served = Handler != static_cast<decltype(Handler)>(&NotImplemented<Args>);
  return d;
}

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

// Handler families (one file each). Each takes the argument struct already copied in (zero-extended
// to the kernel's size) and returns the kernel's error as a Code; the dispatcher copies the struct out.
// process_ioctls.cc
Code GetVersion(IoctlContext& ctx, kfd_ioctl_get_version_args& args);
Code GetProcessAperturesNew(IoctlContext& ctx, kfd_ioctl_get_process_apertures_new_args& args);
Code GetProcessApertures(IoctlContext& ctx, kfd_ioctl_get_process_apertures_args& args);
Code AcquireVm(IoctlContext& ctx, kfd_ioctl_acquire_vm_args& args);
Code SetMemoryPolicy(IoctlContext& ctx, kfd_ioctl_set_memory_policy_args& args);
Code SetXnackMode(IoctlContext& ctx, kfd_ioctl_set_xnack_mode_args& args);
Code Svm(IoctlContext& ctx, kfd_ioctl_svm_args& args);
// memory_ioctls.cc
Code AllocMemoryOfGpu(IoctlContext& ctx, kfd_ioctl_alloc_memory_of_gpu_args& args);
Code FreeMemoryOfGpu(IoctlContext& ctx, kfd_ioctl_free_memory_of_gpu_args& args);
Code MapMemoryToGpu(IoctlContext& ctx, kfd_ioctl_map_memory_to_gpu_args& args);
Code UnmapMemoryFromGpu(IoctlContext& ctx, kfd_ioctl_unmap_memory_from_gpu_args& args);
Code AvailableMemory(IoctlContext& ctx, kfd_ioctl_get_available_memory_args& args);
// event_ioctls.cc
Code CreateEvent(IoctlContext& ctx, kfd_ioctl_create_event_args& args);
Code DestroyEvent(IoctlContext& ctx, kfd_ioctl_destroy_event_args& args);
Code SetEvent(IoctlContext& ctx, kfd_ioctl_set_event_args& args);
Code ResetEvent(IoctlContext& ctx, kfd_ioctl_reset_event_args& args);
Code WaitEvents(IoctlContext& ctx, kfd_ioctl_wait_events_args& args);
// queue_ioctls.cc
Code CreateQueue(IoctlContext& ctx, kfd_ioctl_create_queue_args& args);
Code DestroyQueue(IoctlContext& ctx, kfd_ioctl_destroy_queue_args& args);
Code UpdateQueue(IoctlContext& ctx, kfd_ioctl_update_queue_args& args);
Code SetCuMask(IoctlContext& ctx, kfd_ioctl_set_cu_mask_args& args);
Code GetQueueWaveState(IoctlContext& ctx, kfd_ioctl_get_queue_wave_state_args& args);
Code AllocQueueGws(IoctlContext& ctx, kfd_ioctl_alloc_queue_gws_args& args);
// dmabuf_ioctls.cc
Code GetDmabufInfo(IoctlContext& ctx, kfd_ioctl_get_dmabuf_info_args& args);
Code ImportDmabuf(IoctlContext& ctx, kfd_ioctl_import_dmabuf_args& args);
// smi_ioctls.cc
Code SmiEvents(IoctlContext& ctx, kfd_ioctl_smi_events_args& args);
// misc_ioctls.cc
Code GetClockCounters(IoctlContext& ctx, kfd_ioctl_get_clock_counters_args& args);
Code SetScratchBackingVa(IoctlContext& ctx, kfd_ioctl_set_scratch_backing_va_args& args);
Code SetTrapHandler(IoctlContext& ctx, kfd_ioctl_set_trap_handler_args& args);
Code GetTileConfig(IoctlContext& ctx, kfd_ioctl_get_tile_config_args& args);
Code CriuOp(IoctlContext& ctx, kfd_ioctl_criu_args& args);  // privileged callers: no CRIU
// DBG_* 0x0D-0x10, deprecated: EPERM.
template <typename Args>
Code DeprecatedDebug(IoctlContext&, Args&) {
  return Code::kPermission;
}

}  // namespace vkfd::uapi

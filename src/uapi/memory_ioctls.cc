// ALLOC / FREE / MAP / UNMAP / AVAILABLE_MEMORY: ABI structs in, kfd::Process calls, ABI structs out.
#include <linux/kfd_ioctl.h>

#include <vector>

#include "kfd/process.h"
#include "uapi/ioctl_table.h"
#include "uapi/kfd_device.h"
#include "uapi/user_arrays.h"

namespace vkfd::uapi {
namespace {

// The checks and copy-in MAP and UNMAP share (kfd_ioctl_map_memory_to_gpu's prologue); the two
// structs have the same layout.
template <typename Args>
Code CopyDeviceList(const Args& args, std::vector<uint32_t>* ids) {
  if (args.n_devices == 0 || args.n_success > args.n_devices) return Code::kInvalidArgs;
  return CopyDeviceIds(args.device_ids_array_ptr, args.n_devices, ids);
}

}  // namespace

Code AllocMemoryOfGpu(IoctlContext& ctx, kfd_ioctl_alloc_memory_of_gpu_args& args) {
  kfd::AllocRequest req;
  req.gpu_id = args.gpu_id;
  req.va = args.va_addr;
  req.size = args.size;
  const uint32_t f = args.flags;
  req.kind.vram = f & KFD_IOC_ALLOC_MEM_FLAGS_VRAM;
  req.kind.gtt = f & KFD_IOC_ALLOC_MEM_FLAGS_GTT;
  req.kind.userptr = f & KFD_IOC_ALLOC_MEM_FLAGS_USERPTR;
  req.kind.doorbell = f & KFD_IOC_ALLOC_MEM_FLAGS_DOORBELL;
  req.kind.mmio_remap = f & KFD_IOC_ALLOC_MEM_FLAGS_MMIO_REMAP;
  req.attrs.writable = f & KFD_IOC_ALLOC_MEM_FLAGS_WRITABLE;
  req.attrs.executable = f & KFD_IOC_ALLOC_MEM_FLAGS_EXECUTABLE;
  req.attrs.cpu_visible = f & KFD_IOC_ALLOC_MEM_FLAGS_PUBLIC;
  req.attrs.no_substitute = f & KFD_IOC_ALLOC_MEM_FLAGS_NO_SUBSTITUTE;
  req.attrs.aql_queue = f & KFD_IOC_ALLOC_MEM_FLAGS_AQL_QUEUE_MEM;
  req.attrs.coherent = f & KFD_IOC_ALLOC_MEM_FLAGS_COHERENT;
  req.attrs.uncached = f & KFD_IOC_ALLOC_MEM_FLAGS_UNCACHED;
  req.user_addr = args.mmap_offset;
  auto result = ctx.process->AllocMemory(req);
  if (!result.ok()) return result.code();
  args.handle = result->handle;
  args.mmap_offset = result->mmap_offset;
  return Code::kOk;
}

Code FreeMemoryOfGpu(IoctlContext& ctx, kfd_ioctl_free_memory_of_gpu_args& args) {
  return ctx.process->FreeMemory(args.handle).code();
}

Code MapMemoryToGpu(IoctlContext& ctx, kfd_ioctl_map_memory_to_gpu_args& args) {
  std::vector<uint32_t> ids;
  const Code copied = CopyDeviceList(args, &ids);
  if (copied != Code::kOk) return copied;
  uint32_t n_success = args.n_success;
  const Status status = ctx.process->MapMemory(args.handle, ids, &n_success);
  args.n_success = n_success;  // copied out on error too: the prefix that is done
  return status.code();
}

Code UnmapMemoryFromGpu(IoctlContext& ctx, kfd_ioctl_unmap_memory_from_gpu_args& args) {
  std::vector<uint32_t> ids;
  const Code copied = CopyDeviceList(args, &ids);
  if (copied != Code::kOk) return copied;
  uint32_t n_success = args.n_success;
  const Status status = ctx.process->UnmapMemory(args.handle, ids, &n_success);
  args.n_success = n_success;
  return status.code();
}

Code AvailableMemory(IoctlContext& ctx, kfd_ioctl_get_available_memory_args& args) {
  auto available = ctx.process->AvailableMemory(args.gpu_id);
  if (!available.ok()) return available.code();
  args.available = available.value();
  return Code::kOk;
}

}  // namespace vkfd::uapi

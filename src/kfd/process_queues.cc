// Process: events, queues, trap/scratch registers and /dev/kfd mmaps — the parts of kfd_process that
// ROCr needs besides memory management. Kept apart from process.cc (memory) on purpose.
#include <algorithm>

#include "kfd/driver.h"
#include "kfd/event.h"
#include "kfd/mmap_offsets.h"
#include "kfd/process.h"
#include "kfd/queue.h"

namespace vkfd::kfd {

std::shared_ptr<EventTable> Process::events() {
  MutexLock lock(&mu_);
  if (!events_) events_ = std::make_shared<EventTable>();
  return events_;
}

std::shared_ptr<QueueTable> Process::queues() {
  MutexLock lock(&mu_);
  if (!queues_) queues_ = std::make_shared<QueueTable>();
  return queues_;
}

Status Process::SetEventPage(uint64_t handle) {
  const std::shared_ptr<EventTable> table = events();
  MutexLock lock(&mu_);
  // kfd_kmap_event_page: an existing page is checked before anything else.
  if (table->has_page()) return Status(Code::kInvalidArgs);
  auto bound = BoundDeviceLocked(HandleGpuId(handle));
  if (!bound.ok()) return bound.status();
  BufferObject* bo = bound.value()->Find(HandleIdr(handle));
  if (bo == nullptr) return Status(Code::kInvalidArgs);
  // amdgpu_amdkfd_map_gtt_bo_to_kernel: only a GTT BO can be kmapped (a userptr BO gives -EINVAL).
  if (bo->domain != Domain::kGtt) return Status(Code::kInvalidArgs);
  uint8_t* host = driver_->node().gpu(bo->owner).memory->HostPtr(bo->memfd_offset);
  VKFD_RETURN_IF_ERROR(table->SetUserPage(host, bo->backing_size));
  signal_handle_ = handle;
  has_signal_handle_ = true;
  return Status::Ok();
}

Status Process::SetScratchBackingVa(uint32_t gpu_id, uint64_t va) {
  MutexLock lock(&mu_);
  auto bound = BoundDeviceLocked(gpu_id);
  if (!bound.ok()) return bound.status();
  bound.value()->scratch_backing_va = va;
  return Status::Ok();
}

Status Process::SetTrapHandler(uint32_t gpu_id, uint64_t tba, uint64_t tma) {
  MutexLock lock(&mu_);
  auto bound = BoundDeviceLocked(gpu_id, Code::kNoProcess);  // the ioctl returns -ESRCH
  if (!bound.ok()) return bound.status();
  bound.value()->trap_tba = tba;
  bound.value()->trap_tma = tma;
  return Status::Ok();
}

bool Process::HasGpu(uint32_t gpu_id) {
  MutexLock lock(&mu_);
  return FindDeviceLocked(gpu_id) != nullptr;
}

Result<CreatedQueue> Process::CreateQueue(uint32_t gpu_id, const QueueProperties& props) {
  const std::shared_ptr<QueueTable> table = queues();
  MutexLock lock(&mu_);
  auto bound = BoundDeviceLocked(gpu_id, Code::kNoProcess);  // the ioctl returns -ESRCH
  if (!bound.ok()) return bound.code();
  auto created = table->Create(bound.value()->gpu_index, gpu_id, props);
  if (!created.ok()) return created.code();
  has_queues_ = true;
  return created.value();
}

Status Process::DestroyQueue(uint32_t queue_id) {
  const std::shared_ptr<QueueTable> table = queues();
  MutexLock lock(&mu_);
  VKFD_RETURN_IF_ERROR(table->Destroy(queue_id));
  has_queues_ = table->count() != 0;
  return Status::Ok();
}

Result<Process::KfdMmapTarget> Process::ResolveKfdMmap(uint64_t offset, uint64_t size) {
  const uint64_t type = offset & kMmapTypeMask;
  if (type == kMmapTypeEvents) {
    auto fd = events()->MapKernelPage(size);
    if (!fd.ok()) return fd.code();
    return KfdMmapTarget{fd.value(), 0};
  }
  MutexLock lock(&mu_);
  ProcessDevice* pdd = FindDeviceLocked(MmapGetGpuId(offset));
  if (pdd == nullptr) return Code::kNoDevice;
  Domain wanted;
  if (type == kMmapTypeDoorbell) {
    if (size != kDoorbellProcessSlice) return Code::kInvalidArgs;
    wanted = Domain::kDoorbell;
  } else if (type == kMmapTypeMmio) {
    if (size != kMmioRemapSize) return Code::kInvalidArgs;
    wanted = Domain::kMmioRemap;
  } else {
    return Code::kInvalidArgs;  // the reserved-memory type: nothing is reserved
  }
  // The hardware page behind the offset is what the process's DOORBELL / MMIO_REMAP BO maps; vkfd
  // backs both with that BO's range of the GPU's memfd.
  for (auto& [id, bo] : pdd->handles) {
    if (bo->domain == wanted) {
      return KfdMmapTarget{driver_->node().gpu(bo->owner).memory->fd(), bo->memfd_offset};
    }
  }
  return Code::kInvalidArgs;
}

}  // namespace vkfd::kfd

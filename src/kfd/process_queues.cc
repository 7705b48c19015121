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
  std::shared_ptr<EventTable> table = events();
  MutexLock lock(&mu_);
  if (!queues_) queues_ = std::make_shared<QueueTable>(std::move(table), pid_);
  return queues_;
}

Status Process::EnsureDoorbellsLocked(ProcessDevice* pdd) {
  if (pdd->doorbell_slice != 0) return Status::Ok();
  // kfd_alloc_process_doorbells: an index of the GPU's doorbell aperture (-ENOMEM when none is free).
  auto slice = driver_->node().gpu(pdd->gpu_index).doorbells->AllocSlice();
  if (!slice.ok()) return Status(Code::kNoMemory);
  pdd->doorbell_slice = slice.value();
  return Status::Ok();
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
  // amdgpu_amdkfd_gpuvm_map_gtt_bo_to_kernel: a userptr BO is -EINVAL; any other is pinned to GTT
  // (amdgpu_bo_pin moves a VRAM BO there) and kmapped. vkfd keeps a VRAM BO where it is — the same
  // pages for every view of it. DOORBELL and MMIO_REMAP BOs (SG BOs over a BAR) are refused.
  if (bo->domain != Domain::kGtt && bo->domain != Domain::kVram) {
    return Status(Code::kInvalidArgs);
  }
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

Status Process::BindDevice(uint32_t gpu_id) {
  MutexLock lock(&mu_);
  return BoundDeviceLocked(gpu_id).status();
}

Result<CreatedQueue> Process::CreateQueue(uint32_t gpu_id, const QueueProperties& props) {
  const std::shared_ptr<QueueTable> table = queues();
  MutexLock lock(&mu_);
  auto bound = BoundDeviceLocked(gpu_id, Code::kNoProcess);  // the ioctl returns -ESRCH
  if (!bound.ok()) return bound.code();
  ProcessDevice* pdd = bound.value();
  VKFD_RETURN_IF_ERROR(EnsureDoorbellsLocked(pdd));
  QueueGpu gpu;
  gpu.node = &driver_->node();
  gpu.gpu_index = pdd->gpu_index;
  gpu.gpu_id = pdd->gpu_id;
  gpu.vm_root = pdd->vm->root_phys();
  gpu.doorbell_slice = pdd->doorbell_slice;
  gpu.device = &driver_->device_queues(pdd->gpu_index);
  gpu.smi = &driver_->smi(pdd->gpu_index);
  // The GPU engine's timing model as it is now (a topology's [dma], `vkfd run --dma-latency`): a
  // packet's completion is visible as late as a page-table job's would be.
  const hw::DmaTiming timing = driver_->node().gpu(pdd->gpu_index).dma->timing();
  gpu.completion_latency_ns = std::max(timing.job_latency_ns, timing.job_cost_ns);
  auto created = table->Create(gpu, props);
  if (!created.ok()) return created.code();
  return created.value();
}

Status Process::DestroyQueue(uint32_t queue_id) {
  const std::shared_ptr<QueueTable> table = queues();
  MutexLock lock(&mu_);
  return table->Destroy(queue_id);
}

Status Process::UpdateQueue(uint32_t queue_id, uint64_t ring_base, uint32_t ring_size,
                            uint32_t percentage, uint32_t priority) {
  const std::shared_ptr<QueueTable> table = queues();
  MutexLock lock(&mu_);
  return table->Update(queue_id, ring_base, ring_size, percentage, priority);
}

Status Process::SetCuMask(uint32_t queue_id, const std::vector<uint32_t>& mask) {
  const std::shared_ptr<QueueTable> table = queues();
  MutexLock lock(&mu_);
  return table->SetCuMask(queue_id, mask);
}

Result<WaveState> Process::GetQueueWaveState(uint32_t queue_id) {
  const std::shared_ptr<QueueTable> table = queues();
  MutexLock lock(&mu_);
  return table->GetWaveState(queue_id);
}

Status Process::AllocQueueGws(uint32_t queue_id, bool acquire, bool* touched) {
  *touched = false;
  const std::shared_ptr<QueueTable> table = queues();
  MutexLock lock(&mu_);
  auto gpu = table->GpuOf(queue_id);
  if (!gpu.ok()) return gpu.status();
  // A GPU has GWS when the topology says so (kfd_gws_init: HWS and MEC2 firmware with GWS).
  if (driver_->topology().gpus[gpu.value()].property("num_gws").value_or(0) == 0) {
    return Status(Code::kNoDevice);
  }
  *touched = true;
  size_t gpu_index = 0;
  return table->SetGws(queue_id, acquire, &gpu_index);
}

Result<uint64_t> Process::SubmitToQueue(uint32_t queue_id, std::span<const uint8_t> packets,
                                        bool run_here) {
  return queues()->Submit(queue_id, packets, run_here);
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
    // kfd_doorbell_mmap: the process's slice of the GPU's doorbells, made on demand; no BO needed.
    if (size != kDoorbellProcessSlice) return Code::kInvalidArgs;
    VKFD_RETURN_IF_ERROR(EnsureDoorbellsLocked(pdd));
    const hw::DoorbellAperture& doorbells = *driver_->node().gpu(pdd->gpu_index).doorbells;
    return KfdMmapTarget{doorbells.fd(), doorbells.SliceOffset(pdd->doorbell_slice)};
  } else if (type == kMmapTypeMmio) {
    // kfd_mmio_mmap: one page, the GPU's HDP-flush remap page — no BO needed.
    if (size != kMmioRemapSize) return Code::kInvalidArgs;
    wanted = Domain::kMmioRemap;
  } else {
    // kfd_reserved_mem_mmap: exactly KFD_CWSR_TBA_TMA_SIZE, fresh zeroed pages at every mmap (6.1.y
    // leaks the previous ones; vkfd's are the mapping's own).
    if (size != kCwsrTbaTmaSize) return Code::kInvalidArgs;
    return KfdMmapTarget{-1, 0};
  }
  // The hardware page behind the offset is what the process's MMIO_REMAP BO maps; vkfd backs it with
  // that BO's range of the GPU's memfd, so both views agree. Without such a BO nothing on the GPU
  // side can reach the page: a zeroed page of the mapping's own.
  for (auto& [id, bo] : pdd->handles) {
    if (bo->domain == wanted) {
      return KfdMmapTarget{driver_->node().gpu(bo->owner).memory->fd(), bo->memfd_offset};
    }
  }
  return KfdMmapTarget{-1, 0};
}

}  // namespace vkfd::kfd

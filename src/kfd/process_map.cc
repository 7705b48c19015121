// Process: MAP and UNMAP (kfd_ioctl_map_memory_to_gpu / kfd_ioctl_unmap_memory_from_gpu) and the
// building blocks the extension designs (async_map, atomic_map, map_status) are made of.
#include "kfd/driver.h"
#include "kfd/fault_points.h"
#include "kfd/mmap_offsets.h"
#include "kfd/process.h"
#include "kfd/pte_policy.h"

namespace vkfd::kfd {

Status Process::CheckMapAccessLocked(const BufferObject& bo, const ProcessDevice& pdd,
                                     Injection injection) {
  const size_t gpu = pdd.gpu_index;
  // kfd_mem_attach runs at the first MAP on a VM only: the attachment outlives a failed map and
  // UNMAP (only FREE detaches), so VA 0 and peer access are decided once per (BO, VM).
  if (bo.attached.test(gpu)) return Status::Ok();
  if (bo.va == 0) return Status(Code::kInvalidArgs);
  // A peer's VRAM, doorbells and MMIO need an XGMI link or PCIe peer access; a peer's GTT is system
  // memory, always reachable, and gets no decision.
  if (gpu != bo.owner &&
      (bo.domain == Domain::kVram || bo.domain == Domain::kDoorbell ||
       bo.domain == Domain::kMmioRemap)) {
    const bool hive = bo.domain == Domain::kVram && driver_->topology().SameHive(gpu, bo.owner);
    if (!hive && !driver_->topology().PeerAccessible(gpu, bo.owner)) {
      return Status(Code::kInvalidArgs);
    }
    if (injection == Injection::kArmed) {
      if (auto d = CheckFault(FaultPoint::kMapPeerAccess, int(gpu));
          d.error != Code::kOk) {
        return Status(d.error);
      }
    }
  }
  return Status::Ok();
}

Status Process::DispatchMapLocked(BufferObject* bo, ProcessDevice* pdd, Injection injection) {
  const size_t gpu = pdd->gpu_index;
  bo->attached.set(gpu);  // kfd_mem_attach succeeded; it stays even if the mapping below fails
  // map.page_tables is checked in GpuVm::Map, after the range checks, where the kernel allocates.
  const std::vector<MapSegment> segments = MapSegmentsFor(driver_->node(), *bo, gpu);
  if (!bo->attrs.aql_queue) {
    auto fence = pdd->vm->Map(bo, bo->va, bo->size, segments, injection);
    if (!fence.ok()) return fence.status();
    bo->mapped.set(gpu);
    bo->last_update[gpu] = std::move(fence.value());
    return Status::Ok();
  }
  // amdgpu_amdkfd_gpuvm_map_memory_to_gpu walks mem->attachments, the upper half first, and maps
  // each attachment not yet is_mapped; a failure leaves the ones before it mapped.
  const MapSegment& upper = segments.back();
  const MapSegment& lower = segments.front();
  if (!bo->upper_mapped.test(gpu)) {
    auto fence = pdd->vm->Map(bo, upper.va, upper.size, {upper}, injection);
    if (!fence.ok()) return fence.status();
    bo->upper_mapped.set(gpu);
    bo->last_update[gpu] = std::move(fence.value());
  }
  auto fence = pdd->vm->Map(bo, lower.va, lower.size, {lower}, injection);
  if (!fence.ok()) return fence.status();  // the upper half stays mapped
  bo->upper_mapped.reset(gpu);
  bo->mapped.set(gpu);
  bo->last_update[gpu] = std::move(fence.value());
  return Status::Ok();
}

Status Process::TrialMapLocked(const BufferObject& bo, ProcessDevice* pdd) {
  std::vector<MapSegment> segments = MapSegmentsFor(driver_->node(), bo, pdd->gpu_index);
  if (bo.upper_mapped.test(pdd->gpu_index)) segments.pop_back();  // only the lower half is left
  const uint64_t size = bo.upper_mapped.test(pdd->gpu_index) ? bo.backing_size : bo.size;
  return pdd->vm->TrialMap(bo.va, size, segments);
}

Status Process::MapOnGpuLocked(BufferObject* bo, ProcessDevice* pdd, Injection injection) {
  if (bo->mapped.test(pdd->gpu_index)) return Status::Ok();  // is_mapped: nothing to do
  VKFD_RETURN_IF_ERROR(CheckMapAccessLocked(*bo, *pdd, injection));
  return DispatchMapLocked(bo, pdd, injection);
}

Result<BufferObject*> Process::MapTargetLocked(uint64_t handle) {
  auto bound = BoundDeviceLocked(HandleGpuId(handle));
  if (!bound.ok()) return bound.code();
  BufferObject* bo = bound.value()->Find(HandleIdr(handle));
  if (bo == nullptr) return Code::kNoMemory;
  return bo;
}

Result<BufferObject*> Process::UnmapTargetLocked(uint64_t handle) {
  ProcessDevice* pdd = FindDeviceLocked(HandleGpuId(handle));
  if (pdd == nullptr) return Code::kInvalidArgs;
  BufferObject* bo = pdd->Find(HandleIdr(handle));
  if (bo == nullptr) return Code::kNoMemory;
  return bo;
}

Status Process::MapGpusLocked(BufferObject* bo, std::span<const uint32_t> gpu_ids,
                              uint32_t* n_success) {
  for (uint32_t i = *n_success; i < gpu_ids.size(); ++i) {
    auto peer = BoundDeviceLocked(gpu_ids[i]);
    if (!peer.ok()) return peer.status();
    VKFD_RETURN_IF_ERROR(MapOnGpuLocked(bo, peer.value()));
    *n_success = i + 1;
  }
  return Status::Ok();
}

Status Process::UnmapGpusLocked(BufferObject* bo, std::span<const uint32_t> gpu_ids,
                                uint32_t* n_success) {
  for (uint32_t i = *n_success; i < gpu_ids.size(); ++i) {
    ProcessDevice* peer = FindDeviceLocked(gpu_ids[i]);
    if (peer == nullptr) return Status(Code::kInvalidArgs);
    VKFD_RETURN_IF_ERROR(UnmapOnGpuLocked(bo, peer));
    *n_success = i + 1;
  }
  return Status::Ok();
}

void Process::FlushTlbsLocked(std::span<const uint32_t> gpu_ids, bool heavyweight) {
  for (uint32_t gpu_id : gpu_ids) {
    ProcessDevice* peer = FindDeviceLocked(gpu_id);
    if (peer != nullptr && peer->vm) peer->vm->FlushTlb(heavyweight);
  }
}

Status Process::MapMemory(uint64_t handle, std::span<const uint32_t> gpu_ids, uint32_t* n_success) {
  {
    // Everything up to and including the wait holds p->mutex, as 6.1.y does since the March 2023
    // kgd_mem use-after-free fix: another thread's ioctls of this process wait behind it.
    MutexLock lock(&mu_);
    auto bo = MapTargetLocked(handle);
    if (!bo.ok()) return bo.status();
    VKFD_RETURN_IF_ERROR(MapGpusLocked(bo.value(), gpu_ids, n_success));
    // amdgpu_amdkfd_gpuvm_sync_memory(intr=true). An interrupted wait skips the TLB flush.
    if (auto d = CheckFault(FaultPoint::kMapWait); d.error != Code::kOk || d.interrupted) {
      return Status(Code::kInterrupted);
    }
    VKFD_RETURN_IF_ERROR(WaitAll(PendingFencesLocked(*bo.value())));
  }
  // The TLB flush runs after mutex_unlock (kfd_flush_tlb, TLB_FLUSH_LEGACY).
  MutexLock lock(&mu_);
  FlushTlbsLocked(gpu_ids, /*heavyweight=*/false);
  return Status::Ok();
}

Status Process::UnmapOnGpuLocked(BufferObject* bo, ProcessDevice* pdd, Injection injection) {
  const size_t gpu = pdd->gpu_index;
  // reserve_bo_and_cond_vms(BO_VM_MAPPED) found no mapped attachment on this VM: -EINVAL.
  if ((!bo->mapped.test(gpu) && !bo->upper_mapped.test(gpu)) || !pdd->vm) {
    return Status(Code::kInvalidArgs);
  }
  if (injection == Injection::kArmed) {
    if (auto d = CheckFault(FaultPoint::kUnmapGpu, int(gpu)); d.error != Code::kOk) {
      return Status(d.error);
    }
  }
  FenceRef last;
  for (uint64_t va : MappedVasLocked(*bo, gpu)) {
    auto fence = pdd->vm->Unmap(va, injection);
    if (!fence.ok()) return fence.status();
    last = std::move(fence.value());
  }
  bo->mapped.reset(gpu);
  bo->upper_mapped.reset(gpu);
  bo->last_update[gpu] = std::move(last);
  return Status::Ok();
}

std::vector<uint64_t> Process::MappedVasLocked(const BufferObject& bo, size_t gpu) {
  // In the order of mem->attachments: the upper half of AQL queue memory first.
  std::vector<uint64_t> vas;
  if (bo.attrs.aql_queue && (bo.mapped.test(gpu) || bo.upper_mapped.test(gpu))) {
    vas.push_back(bo.va + bo.backing_size);
  }
  if (bo.mapped.test(gpu)) vas.push_back(bo.va);
  return vas;
}

FenceRef Process::RevertMapLocked(BufferObject* bo, ProcessDevice* pdd) {
  const size_t gpu = pdd->gpu_index;
  // The caller's mapping is there: cannot fail. Unwinding passes no fault point.
  FenceRef last;
  for (uint64_t va : MappedVasLocked(*bo, gpu)) {
    auto fence = pdd->vm->Unmap(va, Injection::kOff);
    if (fence.ok()) last = std::move(fence.value());
  }
  bo->mapped.reset(gpu);
  bo->upper_mapped.reset(gpu);
  bo->last_update[gpu] = last;
  return last;
}

Status Process::UnmapMemory(uint64_t handle, std::span<const uint32_t> gpu_ids,
                            uint32_t* n_success) {
  // All of it under p->mutex on 6.1.y: the unmaps, the wait (gfx90a flushes the TLB after unmap,
  // kfd_flush_tlb_after_unmap, so it waits for the updates first) and the heavyweight flush.
  MutexLock lock(&mu_);
  auto bo = UnmapTargetLocked(handle);
  if (!bo.ok()) return bo.status();
  VKFD_RETURN_IF_ERROR(UnmapGpusLocked(bo.value(), gpu_ids, n_success));
  if (auto d = CheckFault(FaultPoint::kUnmapWait); d.error != Code::kOk || d.interrupted) {
    return Status(Code::kInterrupted);
  }
  VKFD_RETURN_IF_ERROR(WaitAll(PendingFencesLocked(*bo.value())));
  FlushTlbsLocked(gpu_ids, /*heavyweight=*/true);
  return Status::Ok();
}

}  // namespace vkfd::kfd

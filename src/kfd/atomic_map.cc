#include "kfd/atomic_map.h"

#include <vector>

#include "kfd/fault_points.h"
#include "kfd/driver.h"
#include "kfd/process.h"

namespace vkfd::kfd {
namespace {

// What the commit must see complete: the update of one list entry.
struct Awaited {
  uint32_t index;  // in the GPU list
  FenceRef fence;
};

// A mapping this commit made.
struct Made {
  size_t gpu;      // GPU index
  FenceRef fence;  // its update: identifies the mapping as still ours when unwinding
};

// Unmaps what this commit made and is still as it made it; returns the fences of those unmaps.
std::vector<FenceRef> RevertLocked(Process& process, uint64_t handle, const std::vector<Made>& made)
    REQUIRES(process.mutex()) {
  std::vector<FenceRef> fences;
  BufferObject* bo = process.FindBoLocked(handle);
  if (bo == nullptr) return fences;  // freed meanwhile: then it was unmapped everywhere
  for (const Made& m : made) {
    if (!bo->mapped.test(m.gpu) || bo->last_update[m.gpu] != m.fence) continue;
    ProcessDevice* pdd = process.FindDeviceLocked(process.driver().gpu_id(m.gpu));
    if (FenceRef f = process.RevertMapLocked(bo, pdd)) fences.push_back(std::move(f));
  }
  return fences;
}

// The checks of both modes for one list entry; the trial allocation for kTestOnly.
Status CheckOneLocked(Process& process, BufferObject* bo, uint32_t gpu_id, AtomicMapMode mode)
    REQUIRES(process.mutex()) {
  auto bound = process.BoundDeviceLocked(gpu_id);
  if (!bound.ok()) return bound.status();
  ProcessDevice* pdd = bound.value();
  if (bo->mapped.test(pdd->gpu_index)) {
    const FenceRef& f = bo->last_update[pdd->gpu_index];
    if (f && f->signaled() && f->error() != Code::kOk) return Status(f->error());
    return Status::Ok();
  }
  VKFD_RETURN_IF_ERROR(process.CheckMapAccessLocked(*bo, *pdd));
  if (mode == AtomicMapMode::kTestOnly) return process.TrialMapLocked(*bo, pdd);
  // A half-mapped AQL BO (its upper half left by a failed MAP) has only its lower half to go.
  if (bo->upper_mapped.test(pdd->gpu_index)) return pdd->vm->CheckRange(bo->va, bo->backing_size);
  return pdd->vm->CheckRange(bo->va, bo->size);
}

}  // namespace

Status MapAtomic(Process& process, uint64_t handle, std::span<const uint32_t> gpu_ids,
                 AtomicMapMode mode, uint32_t* failed_index) {
  const uint32_t whole_call = static_cast<uint32_t>(gpu_ids.size());
  *failed_index = whole_call;
  std::vector<Awaited> awaited;
  std::vector<Made> made;
  std::vector<FenceRef> unwound;
  Code failure = Code::kOk;
  {
    MutexLock lock(&process.mutex());
    auto target = process.MapTargetLocked(handle);
    if (!target.ok()) return target.status();
    BufferObject* bo = target.value();
    // Check: nothing changes until every entry has passed.
    for (uint32_t i = 0; i < gpu_ids.size(); ++i) {
      Status checked = CheckOneLocked(process, bo, gpu_ids[i], mode);
      if (!checked.ok()) {
        *failed_index = i;
        return checked;
      }
    }
    if (mode == AtomicMapMode::kTestOnly) return Status::Ok();
    // Commit: dispatch. A GPU listed twice is mapped once (the second entry waits for the same update).
    for (uint32_t i = 0; i < gpu_ids.size(); ++i) {
      ProcessDevice* pdd = process.FindDeviceLocked(gpu_ids[i]);
      const size_t gpu = pdd->gpu_index;
      if (!bo->mapped.test(gpu)) {
        const bool half_before = bo->upper_mapped.test(gpu);
        const Status dispatched = process.DispatchMapLocked(bo, pdd);
        if (!dispatched.ok()) {
          *failed_index = i;
          failure = dispatched.code();
          // An AQL BO whose upper half this call mapped before the lower half failed: unwind that too.
          if (!half_before && bo->upper_mapped.test(gpu)) {
            if (FenceRef f = process.RevertMapLocked(bo, pdd)) unwound.push_back(std::move(f));
          }
          break;
        }
        made.push_back(Made{gpu, bo->last_update[gpu]});
      }
      awaited.push_back(Awaited{i, bo->last_update[gpu]});
    }
    if (failure != Code::kOk) {
      std::vector<FenceRef> more = RevertLocked(process, handle, made);
      unwound.insert(unwound.end(), more.begin(), more.end());
    }
  }
  if (failure == Code::kOk) {
    // amdgpu_amdkfd_gpuvm_sync_memory(intr=true), outside the process lock (6.1.y's MAP holds it;
    // the extension designs do not).
    if (auto d = CheckFault(FaultPoint::kMapWait); d.error != Code::kOk || d.interrupted) {
      failure = Code::kInterrupted;
    }
    for (const Awaited& a : awaited) {
      if (failure != Code::kOk) break;
      if (!a.fence) continue;
      if (!a.fence->Wait().ok()) {
        failure = Code::kInterrupted;
      } else if (a.fence->error() != Code::kOk) {
        *failed_index = a.index;
        failure = a.fence->error();
      }
    }
    MutexLock lock(&process.mutex());
    if (failure == Code::kOk) {
      process.FlushTlbsLocked(gpu_ids, /*heavyweight=*/false);
      return Status::Ok();
    }
    unwound = RevertLocked(process, handle, made);
  }
  // No visible effect: wait until the page tables no longer show what this call mapped. The unmaps
  // run behind the maps on each engine, so this also outwaits the maps themselves.
  WaitAllUninterruptible(unwound);
  return Status(failure);
}

}  // namespace vkfd::kfd

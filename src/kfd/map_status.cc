#include "kfd/map_status.h"

#include "kfd/fault_points.h"
#include "kfd/process.h"

namespace vkfd::kfd {

Status MapWithStatus(Process& process, uint64_t handle, std::span<const uint32_t> gpu_ids,
                     std::vector<Code>* results) {
  results->assign(gpu_ids.size(), Code::kOk);
  std::vector<FenceRef> updates(gpu_ids.size());  // per entry that succeeded
  {
    MutexLock lock(&process.mutex());
    auto target = process.MapTargetLocked(handle);
    if (!target.ok()) return target.status();
    BufferObject* bo = target.value();
    for (size_t i = 0; i < gpu_ids.size(); ++i) {
      auto bound = process.BoundDeviceLocked(gpu_ids[i]);
      if (!bound.ok()) {
        (*results)[i] = bound.code();
        continue;
      }
      ProcessDevice* pdd = bound.value();
      const Status mapped = process.MapOnGpuLocked(bo, pdd);
      (*results)[i] = mapped.code();
      if (mapped.ok()) updates[i] = bo->last_update[pdd->gpu_index];
    }
  }
  if (auto d = CheckFault(FaultPoint::kMapWait); d.error != Code::kOk || d.interrupted) {
    return Status(Code::kInterrupted);
  }
  for (size_t i = 0; i < updates.size(); ++i) {
    if (!updates[i]) continue;
    VKFD_RETURN_IF_ERROR(updates[i]->Wait());
    if (updates[i]->error() != Code::kOk) (*results)[i] = updates[i]->error();
  }
  MutexLock lock(&process.mutex());
  process.FlushTlbsLocked(gpu_ids, /*heavyweight=*/false);
  return Status::Ok();
}

}  // namespace vkfd::kfd

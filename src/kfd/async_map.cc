#include "kfd/async_map.h"

#include <algorithm>

#include "kfd/process.h"

namespace vkfd::kfd {
namespace {

// The latest update of `bo` on every listed GPU, in list order, duplicates merged.
std::vector<FenceRef> LatestUpdates(Process& process, const BufferObject& bo,
                                    std::span<const uint32_t> gpu_ids) REQUIRES(process.mutex()) {
  std::vector<FenceRef> fences;
  for (uint32_t gpu_id : gpu_ids) {
    ProcessDevice* pdd = process.FindDeviceLocked(gpu_id);
    if (pdd == nullptr) continue;
    const FenceRef& f = bo.last_update[pdd->gpu_index];
    if (f && std::find(fences.begin(), fences.end(), f) == fences.end()) fences.push_back(f);
  }
  return fences;
}

}  // namespace

Status MapAsync(Process& process, uint64_t handle, std::span<const uint32_t> gpu_ids,
                uint32_t* n_success, std::vector<FenceRef>* fences) {
  MutexLock lock(&process.mutex());
  auto bo = process.MapTargetLocked(handle);
  if (!bo.ok()) return bo.status();
  VKFD_RETURN_IF_ERROR(process.MapGpusLocked(bo.value(), gpu_ids, n_success));
  process.FlushTlbsLocked(gpu_ids, /*heavyweight=*/false);
  *fences = LatestUpdates(process, *bo.value(), gpu_ids);
  return Status::Ok();
}

Status UnmapAsync(Process& process, uint64_t handle, std::span<const uint32_t> gpu_ids,
                  uint32_t* n_success, std::vector<FenceRef>* fences) {
  MutexLock lock(&process.mutex());
  auto bo = process.UnmapTargetLocked(handle);
  if (!bo.ok()) return bo.status();
  VKFD_RETURN_IF_ERROR(process.UnmapGpusLocked(bo.value(), gpu_ids, n_success));
  process.FlushTlbsLocked(gpu_ids, /*heavyweight=*/true);
  *fences = LatestUpdates(process, *bo.value(), gpu_ids);
  return Status::Ok();
}

}  // namespace vkfd::kfd

// Async map (vkfd extension; include/vkfd/vkfd_ioctl.h, docs/extensions.md): MAP and UNMAP that
// dispatch the page-table updates and return their fences instead of waiting — the DRM answer of the
// 2018 review ("one ioctl starts the work and returns a fence, another waits").
//
// MapAsync and UnmapAsync run MAP's and UNMAP's per-GPU loop under the process lock, exactly as
// Process::MapMemory/UnmapMemory do — from *n_success on, advancing it after each GPU — so every
// error found before dispatch is reported synchronously with the prefix done, and a retry with the same
// n_success resumes. Then they return without waiting: *fences receives the latest page-table update
// of the BO on every listed GPU (including updates of earlier, partial calls), duplicates merged, for
// uapi/ to wrap in a fence fd. The TLB flush is counted at dispatch: it is queued behind the update
// on the same engine, as amdgpu's VM update jobs flush.
//
// Errors after dispatch (the update job failed, dma.job) travel in the fence. The state is then:
//  * map: the BO stays marked mapped on that GPU with the page tables the engine wrote (invariant 1
//    holds), and its last_update keeps the failed fence, so a repeated MapAsync (a no-op there, as MAP
//    is) returns the same failed fence until the BO is unmapped there: recover by UNMAP, then MAP;
//  * unmap: the BO is unmapped there.
//
// Status codes: those of MapMemory/UnmapMemory, never kInterrupted (nothing waits). Never blocks
// except on the process lock.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "base/status.h"
#include "kfd/fence.h"

namespace vkfd::kfd {

class Process;

Status MapAsync(Process& process, uint64_t handle, std::span<const uint32_t> gpu_ids,
                uint32_t* n_success, std::vector<FenceRef>* fences);
Status UnmapAsync(Process& process, uint64_t handle, std::span<const uint32_t> gpu_ids,
                  uint32_t* n_success, std::vector<FenceRef>* fences);

}  // namespace vkfd::kfd

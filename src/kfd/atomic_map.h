// Atomic map (vkfd extension; include/vkfd/vkfd_ioctl.h, docs/extensions.md): map one BO on several
// GPUs all or nothing, with atomic KMS's split into a check that changes nothing and a commit.
//
// Both modes run, under the process lock and in list order, the checks of MAP that need no change:
// the handle (kInvalidArgs for an unknown GPU in it, binding errors, kNoMemory for an unknown handle,
// as MAP), then for each GPU: unknown gpu (kInvalidArgs), no VM (kNoDevice), VA 0 and peer access
// (kInvalidArgs, map.peer_access fault point), VA range and conflicts (kInvalidArgs). A GPU where the
// BO is mapped already passes — unless its last update has been seen to fail (kIo).
//  * kTestOnly adds a trial allocation of the page tables on each GPU (kNoMemory), given back at
//    once, and returns: no page table, no accounting, no job, no fence changes.
//  * kCommit then dispatches the maps GPU by GPU (the map.page_tables and dma.submit fault points,
//    real page-table allocation), releases the lock and waits interruptibly (map.wait) for every
//    listed GPU's update. Any failure — a dispatch error (kNoMemory), a failed update (kIo), a signal
//    whose handler lacks SA_RESTART (kInterrupted) — unwinds: the GPUs this call mapped are unmapped
//    again (no fault points) and the call waits, not interruptibly, until those updates have run, so
//    the page tables show nothing of the call when it returns. GPUs mapped before the call are left
//    as they were. A mapping this call made that another thread has unmapped (or unmapped and mapped
//    again) meanwhile is not touched. A retry starts over.
// *failed_index: the list index of the GPU that failed, or gpu_ids.size() when the failure is not one
// GPU's (handle, interrupt). Never waits holding the process lock.
#pragma once

#include <cstdint>
#include <span>

#include "base/status.h"

namespace vkfd::kfd {

class Process;

enum class AtomicMapMode { kTestOnly, kCommit };

Status MapAtomic(Process& process, uint64_t handle, std::span<const uint32_t> gpu_ids,
                 AtomicMapMode mode, uint32_t* failed_index);

}  // namespace vkfd::kfd

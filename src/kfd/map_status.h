// Map with per-GPU status (vkfd extension; include/vkfd/vkfd_ioctl.h, docs/extensions.md): the
// "report which operations completed" variant of the 2018 review — map on every listed GPU, do not
// stop at the first failure, and report one result per GPU instead of a prefix count.
//
// Under the process lock, for every list entry in order: MAP's per-GPU step (unknown gpu kInvalidArgs,
// no VM kNoDevice, then Process::MapOnGpuLocked's checks, fault points and dispatch; already mapped:
// kOk, nothing done); a failing GPU is left as it was and the walk goes on. Then, without the lock,
// an interruptible wait (map.wait) for the updates of the GPUs that succeeded; a GPU whose update
// failed gets that error (kIo). (*results)[i] is each entry's outcome.
//
// Returns kOk when the walk ran, whatever the per-GPU results; MAP's handle errors (kInvalidArgs,
// kNoDevice, kNoMemory) before any GPU is touched; kInterrupted when a handler without SA_RESTART ran
// during the wait — then *results holds the dispatch outcomes (kOk: dispatched, completion not
// known), and a retry completes the wait (MAP is idempotent per GPU).
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "base/status.h"

namespace vkfd::kfd {

class Process;

Status MapWithStatus(Process& process, uint64_t handle, std::span<const uint32_t> gpu_ids,
                     std::vector<Code>* results);

}  // namespace vkfd::kfd

// The driver's fault-injection points: where the reference kernel's memory ioctls can fail, and the
// errors it can return at each (mm/failslab.c's role beside lib/fault-inject.c). The engine that
// decides whether a point fires is base/fault_inject.h; the text people write is uapi/fault_spec.h.
//
// A point is checked with CheckFault(point, gpu) right where the kernel would fail; the caller returns
// the decision's error (or reports kInterrupted) exactly as it would the kernel's own.
#pragma once

#include <optional>
#include <span>
#include <string_view>

#include "base/fault_inject.h"

namespace vkfd::kfd {

enum class FaultPoint : FaultPointId {
  kAllocReserve,     // alloc.reserve: memory accounting
  kAllocBacking,     // alloc.backing: VRAM/GTT backing, userptr pinning
  kMapPeerAccess,    // map.peer_access: per GPU, deciding on a peer's VRAM/doorbell/MMIO (first MAP)
  kMapPageTables,    // map.page_tables: VA and page-table allocation, per GPU, after the range checks
  kDmaSubmit,        // dma.submit: building/submitting the page-table job, per GPU
  kDmaJob,           // dma.job: the job itself reports an error through its fence, per GPU
  kMapWait,          // map.wait: the interruptible wait after dispatch
  kUnmapGpu,         // unmap.gpu: per GPU
  kUnmapWait,        // unmap.wait
  kFree,             // free
  kCount,
};
static_assert(static_cast<size_t>(FaultPoint::kCount) <= kMaxFaultPoints);

// "map.page_tables"
const char* FaultPointName(FaultPoint point);
std::optional<FaultPoint> FaultPointByName(std::string_view name);
// Every point, in declaration order.
std::span<const FaultPoint> AllFaultPoints();
// The codes a rule may return at `point`: what the reference kernel can return there.
std::span<const Code> AllowedCodes(FaultPoint point);

inline FaultInjector::Decision CheckFault(FaultPoint point, int gpu = -1) {
  return FaultInjector::Check(static_cast<FaultPointId>(point), gpu);
}

}  // namespace vkfd::kfd

#include "kfd/fault_points.h"

#include <array>

namespace vkfd::kfd {
namespace {

constexpr size_t kPoints = static_cast<size_t>(FaultPoint::kCount);

constexpr const char* kNames[kPoints] = {
    "alloc.reserve", "alloc.backing", "map.peer_access", "map.page_tables", "dma.submit",
    "dma.job",       "map.wait",      "unmap.gpu",       "unmap.wait",      "free",
};

constexpr std::array<FaultPoint, kPoints> kAll = [] {
  std::array<FaultPoint, kPoints> all{};
  for (size_t i = 0; i < kPoints; ++i) all[i] = static_cast<FaultPoint>(i);
  return all;
}();

// Per point, from the 6.1 source: what the failing step returns (amdgpu_amdkfd_reserve_mem_limit,
// amdgpu_bo_create / amdgpu_ttm_tt_get_user_pages, kfd_mem_attach's peer checks, amdgpu_vm_bo_update
// and the page-table allocations, amdgpu_sync_wait, the interruptible locks).
constexpr Code kReserve[] = {Code::kNoMemory};
constexpr Code kBacking[] = {Code::kNoMemory, Code::kFault, Code::kBusy};
constexpr Code kPeer[] = {Code::kInvalidArgs};
constexpr Code kPageTables[] = {Code::kNoMemory, Code::kInvalidArgs, Code::kInterrupted};
constexpr Code kSubmit[] = {Code::kNoMemory, Code::kInterrupted};
constexpr Code kJob[] = {Code::kIo, Code::kNoMemory};
constexpr Code kWait[] = {Code::kInterrupted};
constexpr Code kUnmap[] = {Code::kNoMemory, Code::kInterrupted};
constexpr Code kFree[] = {Code::kInterrupted, Code::kNoMemory};

}  // namespace

const char* FaultPointName(FaultPoint point) {
  const auto i = static_cast<size_t>(point);
  return i < kPoints ? kNames[i] : "?";
}

std::optional<FaultPoint> FaultPointByName(std::string_view name) {
  for (size_t i = 0; i < kPoints; ++i) {
    if (name == kNames[i]) return static_cast<FaultPoint>(i);
  }
  return std::nullopt;
}

std::span<const FaultPoint> AllFaultPoints() { return kAll; }

std::span<const Code> AllowedCodes(FaultPoint point) {
  switch (point) {
    case FaultPoint::kAllocReserve: return kReserve;
    case FaultPoint::kAllocBacking: return kBacking;
    case FaultPoint::kMapPeerAccess: return kPeer;
    case FaultPoint::kMapPageTables: return kPageTables;
    case FaultPoint::kDmaSubmit: return kSubmit;
    case FaultPoint::kDmaJob: return kJob;
    case FaultPoint::kMapWait: return kWait;
    case FaultPoint::kUnmapGpu: return kUnmap;
    case FaultPoint::kUnmapWait: return kWait;
    case FaultPoint::kFree: return kFree;
    case FaultPoint::kCount: break;
  }
  return {};
}

}  // namespace vkfd::kfd

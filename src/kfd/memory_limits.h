// MemoryLimits: KFD's accounting of what processes may allocate — kfd_mem_limit and each device's
// kfd.vram_used / kfd.vram_used_aligned, as amdgpu_amdkfd_reserve_mem_limit,
// amdgpu_amdkfd_unreserve_mem_limit and amdgpu_amdkfd_get_available_memory keep them on 6.1.y
// (amdgpu_amdkfd_gpuvm.c).
//
// * System limit 15/16 and TTM limit 3/8 of system memory (amdgpu_amdkfd_gpuvm_init_mem_limits),
//   node-wide.
// * One page-table reserve for the whole node, ESTIMATE_PT_SIZE(total) = max(total >> 14, 8 MiB),
//   where total is system memory plus the VRAM of every GPU (amdgpu_amdkfd_total_mem_size).
// * VRAM is charged in the bytes asked for (page aligned by the caller) against the GPU's VRAM minus
//   that reserve. A second counter adds each charge rounded up to 2 MiB (VRAM_AVAILABLITY_ALIGN);
//   only AVAILABLE_MEMORY reads it: VRAM − aligned − pinned − reserve, rounded down to 2 MiB.
//   Invariant: vram_used ≤ limit, but vram_used_aligned may exceed it (many small BOs). 6.1.y then
//   computes a negative size_t and reports a huge value; vkfd reports 0 (docs/semantics.md).
// * Pinned VRAM (adev->vram_pin_size): nothing in vkfd pins VRAM today; the counter is kept so what
//   does (a dma-buf export to a non-P2P importer) lowers AVAILABLE_MEMORY as on the kernel.
// Thread-safe (leaf lock, the kernel's mem_limit_lock).
#pragma once

#include <cstdint>
#include <vector>

#include "base/status.h"
#include "base/thread_annotations.h"
#include "kfd/buffer_object.h"

namespace vkfd::kfd {

struct Charge {
  uint64_t vram = 0;
  uint64_t system = 0;
  uint64_t ttm = 0;
  size_t gpu = 0;
};

class MemoryLimits {
 public:
  static constexpr uint64_t kAvailabilityAlign = 2ull << 20;  // VRAM_AVAILABLITY_ALIGN
  static constexpr uint64_t kMinPageTableReserve = 8ull << 20;  // AMDGPU_VM_RESERVED_VRAM

  MemoryLimits(uint64_t system_bytes, std::vector<uint64_t> vram_bytes);

  // What an allocation of `size` (page aligned) in `domain` on GPU `gpu` costs.
  static Charge ChargeFor(size_t gpu, Domain domain, uint64_t size);
  // kNoMemory if the charge does not fit.
  Status Reserve(const Charge& charge) EXCLUDES(mu_);
  void Unreserve(const Charge& charge) EXCLUDES(mu_);

  // AVAILABLE_MEMORY (amdgpu_amdkfd_get_available_memory), 0 where 6.1.y would wrap around.
  uint64_t AvailableVram(size_t gpu) const EXCLUDES(mu_);
  // ESTIMATE_PT_SIZE(amdgpu_amdkfd_total_mem_size): one figure for every GPU of the node.
  uint64_t PageTableReserve() const { return reserved_for_pt_; }
  // What the GPU's VRAM charges may add up to: VRAM minus the reserve (0 if the reserve is larger).
  uint64_t VramLimit(size_t gpu) const;
  void PinVram(size_t gpu, uint64_t bytes) EXCLUDES(mu_);
  void UnpinVram(size_t gpu, uint64_t bytes) EXCLUDES(mu_);
  uint64_t system_used() const EXCLUDES(mu_);
  uint64_t vram_used(size_t gpu) const EXCLUDES(mu_);
  uint64_t vram_used_aligned(size_t gpu) const EXCLUDES(mu_);

 private:
  const uint64_t max_system_;
  const uint64_t max_ttm_;
  const std::vector<uint64_t> vram_bytes_;
  const uint64_t reserved_for_pt_;
  mutable Mutex mu_;
  uint64_t system_used_ GUARDED_BY(mu_) = 0;
  uint64_t ttm_used_ GUARDED_BY(mu_) = 0;
  std::vector<uint64_t> vram_used_ GUARDED_BY(mu_);
  std::vector<uint64_t> vram_used_aligned_ GUARDED_BY(mu_);
  std::vector<uint64_t> vram_pinned_ GUARDED_BY(mu_);
};

}  // namespace vkfd::kfd

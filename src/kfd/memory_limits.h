// MemoryLimits: KFD's accounting of what processes may allocate (amdgpu_amdkfd_reserve_mem_limit).
//
// Node-wide system and TTM limits (15/16 and 3/8 of the emulated system memory) and per-GPU VRAM.
// VRAM is counted in 2 MiB steps against real VRAM minus the page-table reserve max(VRAM/16384, 8 MiB)
// minus pinned VRAM; AVAILABLE_MEMORY reports exactly the remaining room, rounded down to 2 MiB, so an
// ALLOC of the reported size succeeds and one 2 MiB step more fails. Thread-safe (leaf lock).
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
  static constexpr uint64_t kVramStep = 2ull << 20;

  MemoryLimits(uint64_t system_bytes, std::vector<uint64_t> vram_bytes);

  // What an allocation of `size` (page aligned) in `domain` on GPU `gpu` costs.
  static Charge ChargeFor(size_t gpu, Domain domain, uint64_t size);
  // kNoMemory if the charge does not fit.
  Status Reserve(const Charge& charge) EXCLUDES(mu_);
  void Unreserve(const Charge& charge) EXCLUDES(mu_);

  uint64_t AvailableVram(size_t gpu) const EXCLUDES(mu_);
  uint64_t PageTableReserve(size_t gpu) const;
  uint64_t system_used() const EXCLUDES(mu_);
  uint64_t vram_used(size_t gpu) const EXCLUDES(mu_);

 private:
  uint64_t VramLimit(size_t gpu) const;

  const uint64_t max_system_;
  const uint64_t max_ttm_;
  const std::vector<uint64_t> vram_bytes_;
  mutable Mutex mu_;
  uint64_t system_used_ GUARDED_BY(mu_) = 0;
  uint64_t ttm_used_ GUARDED_BY(mu_) = 0;
  std::vector<uint64_t> vram_used_ GUARDED_BY(mu_);
};

}  // namespace vkfd::kfd

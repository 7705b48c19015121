// GpuVm: one process's virtual address space on one GPU — the tree of mappings and the page tables
// that implement it (amdgpu_vm as KFD uses it).
//
// Invariant (DESIGN.md #1): once every fence returned by Map/Unmap has signalled, the page tables map
// exactly the VA ranges in `mappings_`, each to its BO's backing with the PTE flags given at Map.
// Conflicts are per VM: two BOs may share a VA on different GPUs, never on one.
//
// Map and Unmap plan the update synchronously (checks, page-table allocation) and hand it to the GPU's
// DMA engine; the returned fence signals when the tables in memory are updated. All calls are made
// under the owning Process's mutex. The destructor waits for outstanding updates, then frees the tables.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "base/status.h"
#include "hw/node.h"
#include "hw/page_table.h"
#include "kfd/fence.h"

namespace vkfd::kfd {

struct BufferObject;

// Whether the fault points on a path are live. The driver's own mappings (the IB and CWSR pages of
// ACQUIRE_VM) and process teardown run with them off: a fault spec addresses the client's ioctls,
// and teardown cannot fail.
enum class Injection { kArmed, kOff };

// One contiguous piece of a mapping: VA range → physical range (as this GPU reaches it).
struct MapSegment {
  uint64_t va = 0;
  uint64_t size = 0;
  uint64_t pa = 0;
  uint64_t pte_flags = 0;  // including kPteSystem when the route goes over the bus
};

class GpuVm {
 public:
  static Result<std::unique_ptr<GpuVm>> Create(hw::Node* node, size_t gpu_index);
  ~GpuVm();
  GpuVm(const GpuVm&) = delete;
  GpuVm& operator=(const GpuVm&) = delete;

  // The checks amdgpu_vm_bo_map makes, without changing anything: kInvalidArgs if [va, va + size) is
  // not page aligned, wraps, reaches beyond the 48-bit VA space, or overlaps a mapping of this VM.
  Status CheckRange(uint64_t va, uint64_t size) const;
  // Maps `bo` over [va, va + size) as the segments describe (they tile the range). kInvalidArgs as
  // CheckRange; kNoMemory if page tables cannot be allocated (then nothing changed).
  Result<FenceRef> Map(const BufferObject* bo, uint64_t va, uint64_t size,
                       const std::vector<MapSegment>& segments,
                       Injection injection = Injection::kArmed);
  // What Map would check and allocate, changing nothing (atomic map's TEST_ONLY): CheckRange, then a
  // trial allocation of the page tables the segments need, given back at once. kInvalidArgs as
  // CheckRange; kNoMemory if the tables cannot be allocated now. Submits no job.
  Status TrialMap(uint64_t va, uint64_t size, const std::vector<MapSegment>& segments);
  // Unmaps the mapping that starts at `va`. kInvalidArgs if there is none.
  Result<FenceRef> Unmap(uint64_t va, Injection injection = Injection::kArmed);

  size_t gpu_index() const { return gpu_index_; }
  uint64_t root_phys() const { return page_table_->root_phys(); }
  size_t mapping_count() const { return mappings_.size(); }
  uint64_t table_pages() const { return page_table_->table_pages(); }
  // The VA ranges mapped, from bookkeeping (tests compare it with the walker's view).
  std::vector<std::pair<uint64_t, uint64_t>> MappedRanges() const;
  // The inspection view, by walking the page tables in GPU memory.
  std::string DumpText() const;

  // TLB bookkeeping: updates since the last flush, and flushes done.
  bool tlb_dirty() const { return tlb_dirty_; }
  void FlushTlb(bool heavyweight);
  uint64_t tlb_flushes() const { return tlb_flushes_; }

 private:
  GpuVm(hw::Node* node, size_t gpu_index) : node_(node), gpu_index_(gpu_index) {}
  FenceRef Submit(hw::PteJob job, Injection injection);

  struct Mapping {
    uint64_t end;
    const BufferObject* bo;
  };

  hw::Node* const node_;
  const size_t gpu_index_;
  std::unique_ptr<hw::PageTable> page_table_;
  std::map<uint64_t, Mapping> mappings_;  // by start VA
  FenceRef last_update_;
  bool tlb_dirty_ = false;
  uint64_t tlb_flushes_ = 0;
};

}  // namespace vkfd::kfd

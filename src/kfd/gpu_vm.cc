#include "kfd/gpu_vm.h"

#include <iterator>

#include "kfd/fault_points.h"
#include "hw/page_walker.h"
#include "hw/pte.h"

namespace vkfd::kfd {

Result<std::unique_ptr<GpuVm>> GpuVm::Create(hw::Node* node, size_t gpu_index) {
  std::unique_ptr<GpuVm> vm(new GpuVm(node, gpu_index));
  auto table = hw::PageTable::Create(node->gpu(gpu_index).page_tables.get());
  if (!table.ok()) return table.code();
  vm->page_table_ = std::move(table.value());
  return vm;
}

GpuVm::~GpuVm() {
  // Tables may be freed only when no queued job still writes them. Not interruptible: teardown.
  if (last_update_) last_update_->WaitUninterruptible();
}

Status GpuVm::CheckRange(uint64_t va, uint64_t size) const {
  if ((va | size) % hw::kPageSize != 0 || size == 0) return Status(Code::kInvalidArgs);
  if (va + size <= va || va + size > hw::kVaLimit) return Status(Code::kInvalidArgs);
  auto next = mappings_.lower_bound(va);
  if (next != mappings_.end() && next->first < va + size) return Status(Code::kInvalidArgs);
  if (next != mappings_.begin() && std::prev(next)->second.end > va) {
    return Status(Code::kInvalidArgs);
  }
  return Status::Ok();
}

FenceRef GpuVm::Submit(hw::PteJob job, Injection injection) {
  auto fence = std::make_shared<Fence>();
  // dma.job: the job still runs, but its fence carries the error (what an SDMA failure looks like).
  const Code injected = injection == Injection::kArmed
                            ? CheckFault(FaultPoint::kDmaJob, int(gpu_index_)).error
                            : Code::kOk;
  node_->gpu(gpu_index_).dma->Submit(std::move(job), [fence, injected](Code error) {
    fence->Signal(error != Code::kOk ? error : injected);
  });
  last_update_ = fence;
  tlb_dirty_ = true;
  return fence;
}

Result<FenceRef> GpuVm::Map(const BufferObject* bo, uint64_t va, uint64_t size,
                            const std::vector<MapSegment>& segments, Injection injection) {
  VKFD_RETURN_IF_ERROR(CheckRange(va, size));
  // map.page_tables: the mapping and its page tables are allocated only once amdgpu_vm_bo_map has
  // accepted the range, so a misaligned or overlapping VA is EINVAL whatever the allocator would do.
  // dma.submit: building the update failed (no memory for the job); nothing has changed yet.
  if (injection == Injection::kArmed) {
    if (auto d = CheckFault(FaultPoint::kMapPageTables, int(gpu_index_));
        d.error != Code::kOk) {
      return d.error;
    }
    if (auto d = CheckFault(FaultPoint::kDmaSubmit, int(gpu_index_));
        d.error != Code::kOk) {
      return d.error;
    }
  }
  hw::PteJob job;
  job.pool = node_->gpu(gpu_index_).page_tables.get();
  for (size_t i = 0; i < segments.size(); ++i) {
    const MapSegment& s = segments[i];
    Status planned = page_table_->PlanMap(s.va, s.size, s.pa, s.pte_flags, &job);
    if (!planned.ok()) {
      // Undo the segments already planned: their writes are dropped with `job`, so the shadow goes
      // back to "unmapped"; tables they allocated are released when the undo job runs.
      hw::PteJob undo;
      undo.pool = job.pool;
      for (size_t j = 0; j < i; ++j) page_table_->PlanUnmap(segments[j].va, segments[j].size, &undo);
      if (!undo.empty()) {
        // Memory must still see the planned-then-undone tables linked and unlinked in order.
        job.writes.insert(job.writes.end(), undo.writes.begin(), undo.writes.end());
        job.release.insert(job.release.end(), undo.release.begin(), undo.release.end());
        Submit(std::move(job), Injection::kOff);
      }
      return planned.code();
    }
  }
  mappings_.emplace(va, Mapping{va + size, bo});
  return Submit(std::move(job), injection);
}

Status GpuVm::TrialMap(uint64_t va, uint64_t size, const std::vector<MapSegment>& segments) {
  VKFD_RETURN_IF_ERROR(CheckRange(va, size));
  std::vector<hw::PlannedRange> ranges;
  ranges.reserve(segments.size());
  for (const MapSegment& s : segments) ranges.push_back(hw::PlannedRange{s.va, s.size, s.pa});
  return page_table_->TryAllocateTables(ranges);
}

Result<FenceRef> GpuVm::Unmap(uint64_t va, Injection injection) {
  auto it = mappings_.find(va);
  if (it == mappings_.end()) return Code::kInvalidArgs;
  hw::PteJob job;
  job.pool = node_->gpu(gpu_index_).page_tables.get();
  page_table_->PlanUnmap(va, it->second.end - va, &job);
  mappings_.erase(it);
  return Submit(std::move(job), injection);
}

std::vector<std::pair<uint64_t, uint64_t>> GpuVm::MappedRanges() const {
  std::vector<std::pair<uint64_t, uint64_t>> ranges;
  for (const auto& [start, m] : mappings_) ranges.emplace_back(start, m.end);
  return ranges;
}

std::string GpuVm::DumpText() const {
  return hw::PageWalker(*node_, gpu_index_).DumpText(page_table_->root_phys());
}

void GpuVm::FlushTlb(bool heavyweight) {
  (void)heavyweight;  // the emulated MMU caches nothing; the count is what tests and traces see
  tlb_dirty_ = false;
  ++tlb_flushes_;
}

}  // namespace vkfd::kfd

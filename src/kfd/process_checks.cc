// Process: inspection and test support — the page-table view, and the check of invariant 1 (the page
// tables, as the walker reads them from GPU memory, map exactly the BOs marked mapped).
#include <cstdio>
#include <set>

#include "hw/page_walker.h"
#include "hw/pte.h"
#include "kfd/driver.h"
#include "kfd/mmap_offsets.h"
#include "kfd/process.h"
#include "kfd/pte_policy.h"

namespace vkfd::kfd {
namespace {

constexpr uint64_t kPage = hw::kPageSize;

}  // namespace

Result<std::string> Process::DumpVm(uint32_t gpu_id) {
  MutexLock lock(&mu_);
  ProcessDevice* pdd = FindDeviceLocked(gpu_id);
  if (pdd == nullptr) return Code::kInvalidArgs;
  if (!pdd->vm) return std::string();
  return pdd->vm->DumpText();
}

std::optional<std::vector<size_t>> Process::DebugMappedGpus(uint64_t handle) {
  MutexLock lock(&mu_);
  ProcessDevice* pdd = FindDeviceLocked(HandleGpuId(handle));
  if (pdd == nullptr) return std::nullopt;
  BufferObject* bo = pdd->Find(HandleIdr(handle));
  if (bo == nullptr) return std::nullopt;
  std::vector<size_t> gpus;
  for (size_t i = 0; i < kMaxGpus; ++i) {
    if (bo->mapped.test(i) || bo->upper_mapped.test(i)) gpus.push_back(i);
  }
  return gpus;
}

size_t Process::DebugBoCount() {
  MutexLock lock(&mu_);
  size_t n = 0;
  for (const ProcessDevice& pdd : devices_) n += pdd.handles.size();
  return n;
}

Process::Usage Process::DebugUsage() {
  MutexLock lock(&mu_);
  Usage usage;
  for (const ProcessDevice& pdd : devices_) {
    for (const auto& [id, bo] : pdd.handles) {
      ++usage.bos;
      if (bo->mapped.any() || bo->upper_mapped.any()) ++usage.mapped_bos;
    }
  }
  return usage;
}

std::string Process::DebugCheckPageTables() {
  std::vector<FenceRef> pending;
  {
    MutexLock lock(&mu_);
    for (ProcessDevice& pdd : devices_) {
      for (auto& [id, bo] : pdd.handles) {
        auto f = PendingFencesLocked(*bo);
        pending.insert(pending.end(), f.begin(), f.end());
      }
    }
  }
  WaitAllUninterruptible(pending);
  MutexLock lock(&mu_);
  char why[256];
  for (ProcessDevice& pdd : devices_) {
    if (!pdd.vm) continue;
    // Expected: every BO (user or kernel) mapped on this GPU, page by page.
    std::vector<const BufferObject*> bos;
    for (auto& [id, bo] : pdd.handles) bos.push_back(bo.get());
    for (ProcessDevice& other : devices_) {
      for (auto& [id, bo] : other.handles) {
        if (&other != &pdd) bos.push_back(bo.get());
      }
    }
    if (pdd.ib_bo) bos.push_back(pdd.ib_bo.get());
    if (pdd.cwsr_bo) bos.push_back(pdd.cwsr_bo.get());
    std::set<const BufferObject*> unique(bos.begin(), bos.end());
    uint64_t expected_pages = 0;
    hw::PageWalker walker(driver_->node(), pdd.gpu_index);
    for (const BufferObject* bo : unique) {
      const auto segments = MappedSegmentsOf(driver_->node(), *bo, pdd.gpu_index);
      for (const MapSegment& s : segments) {
        for (uint64_t off = 0; off < s.size; off += kPage) {
          auto t = walker.Translate(pdd.vm->root_phys(), s.va + off);
          const uint64_t want = s.pte_flags | hw::kPteValid;
          const uint64_t mask = hw::kPteValid | hw::kPteSystem | hw::kPteSnooped |
                                hw::kPteExecutable | hw::kPteReadable | hw::kPteWriteable |
                                hw::kPteMtypeMask;
          if (!t.ok()) {
            snprintf(why, sizeof(why), "gpu %zu: va 0x%lx of handle 0x%lx not mapped", pdd.gpu_index,
                     static_cast<unsigned long>(s.va + off), static_cast<unsigned long>(bo->handle));
            return why;
          }
          if (t->phys != s.pa + off || (t->entry & mask) != (want & mask) || t->host == nullptr) {
            snprintf(why, sizeof(why), "gpu %zu: va 0x%lx maps phys 0x%lx flags 0x%lx, want 0x%lx 0x%lx",
                     pdd.gpu_index, static_cast<unsigned long>(s.va + off),
                     static_cast<unsigned long>(t->phys), static_cast<unsigned long>(t->entry & mask),
                     static_cast<unsigned long>(s.pa + off), static_cast<unsigned long>(want & mask));
            return why;
          }
          ++expected_pages;
        }
      }
    }
    // Nothing else is mapped: the walker's runs cover exactly the expected number of pages.
    uint64_t walked_pages = 0;
    for (const hw::MappedRun& run : walker.Dump(pdd.vm->root_phys())) {
      walked_pages += (run.end - run.start) / kPage;
    }
    if (walked_pages != expected_pages) {
      snprintf(why, sizeof(why), "gpu %zu: page tables map %lu pages, BOs account for %lu",
               pdd.gpu_index, static_cast<unsigned long>(walked_pages),
               static_cast<unsigned long>(expected_pages));
      return why;
    }
  }
  return std::string();
}

}  // namespace vkfd::kfd

// PageTable: the GFX9 4-level page tables of one (process, GPU) address space.
//
// The tables themselves live in GPU memory (PageTablePool) in the hardware format (pte.h); they are
// what the walker and the inspection view read. Beside them PageTable keeps a shadow tree — for each
// table its page and how many of its entries are valid — which is the planning state: PlanMap and
// PlanUnmap are pure functions of the shadow plus the request, producing a PteJob for the DMA engine.
//
//   plan (caller's thread, under the VM lock): allocate missing tables, update the shadow, emit writes
//   apply (DMA engine, in order):              write the entries, then release unlinked tables
//
// The shadow is updated at plan time, so consecutive plans compose even before their jobs have run;
// the engine's in-order execution makes memory converge to the shadow. Not thread-safe: the owner
// (kfd::GpuVm) serialises plans.
//
// Mapping policy: a 2 MiB-aligned block of VA that the range covers entirely and whose physical
// address is 2 MiB-aligned becomes one PDB0 entry with kPdeIsPte (a 2 MiB page); everything else gets
// 4 KiB PTEs, with the fragment field set to log2 of the largest aligned power-of-two run (≤ 2 MiB) that
// is contiguous in both VA and physical address.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "base/status.h"
#include "hw/page_table_pool.h"
#include "hw/pte.h"
#include "hw/pte_job.h"

namespace vkfd::hw {

// One range of a mapping as PlanMap takes it.
struct PlannedRange {
  uint64_t va = 0;
  uint64_t size = 0;
  uint64_t pa = 0;
};

class PageTable {
 public:
  static Result<std::unique_ptr<PageTable>> Create(PageTablePool* pool);
  ~PageTable();  // returns every table page to the pool
  PageTable(const PageTable&) = delete;
  PageTable& operator=(const PageTable&) = delete;

  // Physical address of the root (PDB2) table.
  uint64_t root_phys() const { return root_->page.phys; }

  // Appends to *job the writes that map [va, va + size) to physical [pa, pa + size) with PTE flag
  // bits `flags` (kPteValid is added). va, size and pa are 4 KiB aligned; the range must not be mapped.
  // kNoMemory if a table cannot be allocated; then neither the shadow nor *job has changed.
  Status PlanMap(uint64_t va, uint64_t size, uint64_t pa, uint64_t flags, PteJob* job);
  // Appends to *job the writes that clear [va, va + size), which must be exactly a mapped range, and
  // the tables that become empty. Cannot fail.
  void PlanUnmap(uint64_t va, uint64_t size, PteJob* job);
  // PlanMap's page-table memory without the plan (atomic map's TEST_ONLY): allocates from the pool
  // every table that mapping all `ranges` together (disjoint and unmapped, as PlanMap requires) would
  // add, then gives them all back. kNoMemory if one cannot be allocated now. The shadow, the tables in
  // memory and the pool's page count end as they were; nothing is written.
  Status TryAllocateTables(std::span<const PlannedRange> ranges);

  // Table pages held (including the root).
  uint64_t table_pages() const { return table_pages_; }

 private:
  struct Table {
    TablePage page;
    uint32_t valid = 0;  // valid entries, per the shadow
    int level = 0;
    std::unique_ptr<std::array<std::unique_ptr<Table>, kEntriesPerTable>> children;
  };

  // A table that pass 1 of a plan added to the shadow (parent's slot `index`), not yet linked.
  struct NewLink {
    Table* parent;
    uint64_t index;
  };

  explicit PageTable(PageTablePool* pool) : pool_(pool) {}
  // Pass 1 of PlanMap: adds to the shadow every table [va, end) needs, appending them to *created.
  Status EnsureTables(uint64_t va, uint64_t end, uint64_t delta, std::vector<NewLink>* created);
  // Removes tables EnsureTables added (newest first) and gives their pages back to the pool.
  void DropTables(std::vector<NewLink>* created);
  Result<std::unique_ptr<Table>> NewTable(int level);
  static bool UsesHugePage(uint64_t va, uint64_t end, uint64_t pa_delta_mod);
  void FreeTree(Table* table);
  void ReleaseTree(std::unique_ptr<Table> table, PteJob* job);

  PageTablePool* const pool_;
  std::unique_ptr<Table> root_;
  uint64_t table_pages_ = 0;
};

}  // namespace vkfd::hw

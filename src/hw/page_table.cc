#include "hw/page_table.h"

#include <algorithm>
#include <bit>
#include <cassert>
#include <utility>
#include <vector>

#include "hw/pte.h"

namespace vkfd::hw {
namespace {

// Appends a write, merging it into the previous one when it continues that run exactly.
void Emit(PteJob* job, uint64_t* dst, uint64_t value, uint64_t step, uint32_t count) {
  if (!job->writes.empty()) {
    PteWrite& last = job->writes.back();
    if (last.dst + last.count == dst && last.step == step &&
        last.value + last.step * last.count == value) {
      last.count += count;
      return;
    }
  }
  job->writes.push_back(PteWrite{dst, value, step, count});
}

constexpr uint64_t kHugeFragment = 9;  // log2(2 MiB / 4 KiB)

}  // namespace

void PteJob::Execute() {
  for (const PteWrite& w : writes) {
    uint64_t value = w.value;
    for (uint32_t i = 0; i < w.count; ++i) {
      // Atomic stores: the walker may read a table while a job is writing it.
      __atomic_store_n(&w.dst[i], value, __ATOMIC_RELAXED);
      value += w.step;
    }
  }
  for (const TablePage& page : release) pool->Free(page);
  release.clear();
  if (pool != nullptr) pool->BumpGeneration();
}

Result<std::unique_ptr<PageTable>> PageTable::Create(PageTablePool* pool) {
  std::unique_ptr<PageTable> table(new PageTable(pool));
  auto root = table->NewTable(kLevelCount - 1);
  if (!root.ok()) return root.code();
  table->root_ = std::move(root.value());
  return table;
}

PageTable::~PageTable() {
  if (root_) FreeTree(root_.get());
}

void PageTable::FreeTree(Table* table) {
  if (table->children) {
    for (auto& child : *table->children) {
      if (child) FreeTree(child.get());
    }
  }
  pool_->Free(table->page);
  --table_pages_;
}

void PageTable::ReleaseTree(std::unique_ptr<Table> table, PteJob* job) {
  if (table->children) {
    for (auto& child : *table->children) {
      if (child) ReleaseTree(std::move(child), job);
    }
  }
  job->release.push_back(table->page);
  job->pool = pool_;
  --table_pages_;
}

Result<std::unique_ptr<PageTable::Table>> PageTable::NewTable(int level) {
  auto page = pool_->Alloc();
  if (!page.ok()) return page.code();
  auto table = std::make_unique<Table>();
  table->page = page.value();
  table->level = level;
  if (level > 0) {
    table->children = std::make_unique<std::array<std::unique_ptr<Table>, kEntriesPerTable>>();
  }
  ++table_pages_;
  return table;
}

bool PageTable::UsesHugePage(uint64_t va, uint64_t end, uint64_t pa_delta) {
  return (va & (kHugePageSize - 1)) == 0 && end - va >= kHugePageSize &&
         (pa_delta & (kHugePageSize - 1)) == 0;
}

Status PageTable::EnsureTables(uint64_t va, uint64_t end, uint64_t delta,
                               std::vector<NewLink>* created) {
  auto ensure_child = [&](Table* parent, uint64_t addr) -> Result<Table*> {
    const uint64_t index = LevelIndex(addr, parent->level);
    auto& slot = (*parent->children)[index];
    if (!slot) {
      auto table = NewTable(parent->level - 1);
      if (!table.ok()) return table.code();
      slot = std::move(table.value());
      created->push_back(NewLink{parent, index});
    }
    return slot.get();
  };
  for (uint64_t block = va & ~(kHugePageSize - 1); block < end; block += kHugePageSize) {
    Table* table = root_.get();
    while (table->level > 1) {
      auto child = ensure_child(table, block);
      if (!child.ok()) return child.status();
      table = child.value();
    }
    const uint64_t start = std::max(block, va);
    if (!UsesHugePage(start, end, delta)) {
      auto ptb = ensure_child(table, start);
      if (!ptb.ok()) return ptb.status();
    }
  }
  return Status::Ok();
}

void PageTable::DropTables(std::vector<NewLink>* created) {
  for (auto it = created->rbegin(); it != created->rend(); ++it) {
    auto& slot = (*it->parent->children)[it->index];
    pool_->Free(slot->page);
    --table_pages_;
    slot.reset();
  }
  created->clear();
}

Status PageTable::TryAllocateTables(std::span<const PlannedRange> ranges) {
  std::vector<NewLink> created;
  Code code = Code::kOk;
  for (const PlannedRange& r : ranges) {
    assert(r.size > 0 && (r.va | r.size | r.pa) % kPageSize == 0 && r.va + r.size <= kVaLimit);
    code = EnsureTables(r.va, r.va + r.size, r.pa - r.va, &created).code();
    if (code != Code::kOk) break;
  }
  DropTables(&created);
  return Status(code);
}

Status PageTable::PlanMap(uint64_t va, uint64_t size, uint64_t pa, uint64_t flags, PteJob* job) {
  assert(size > 0 && (va | size | pa) % kPageSize == 0 && va + size <= kVaLimit);
  const uint64_t end = va + size;
  const uint64_t delta = pa - va;  // physical = virtual + delta (mod 2^64)
  flags = (flags | kPteValid) & ~(kPteAddressMask | kPteFragmentMask | kPdeIsPte);

  // Pass 1: make sure every table the range needs exists. New tables are remembered so that a
  // failure can be undone without a trace.
  std::vector<NewLink> created;
  Status status = EnsureTables(va, end, delta, &created);
  if (!status.ok()) {
    DropTables(&created);
    return status;
  }
  for (const NewLink& link : created) {
    const Table* child = (*link.parent->children)[link.index].get();
    Emit(job, &link.parent->page.entries[link.index], child->page.phys | kPteValid, 0, 1);
    ++link.parent->valid;
  }

  // Pass 2: the leaf entries.
  for (uint64_t block = va & ~(kHugePageSize - 1); block < end; block += kHugePageSize) {
    Table* table = root_.get();
    while (table->level > 1) table = (*table->children)[LevelIndex(block, table->level)].get();
    const uint64_t start = std::max(block, va);
    const uint64_t stop = std::min(block + kHugePageSize, end);
    if (UsesHugePage(start, end, delta)) {
      const uint64_t index = LevelIndex(start, 1);
      assert(!(*table->children)[index]);
      Emit(job, &table->page.entries[index],
           (start + delta) | flags | kPdeIsPte | (kHugeFragment << kPteFragmentShift),
           kHugePageSize, 1);
      ++table->valid;
      continue;
    }
    Table* ptb = (*table->children)[LevelIndex(start, 1)].get();
    uint64_t page = start / kPageSize;
    const uint64_t stop_page = stop / kPageSize;
    const uint64_t delta_pages = delta / kPageSize;
    ptb->valid += static_cast<uint32_t>(stop_page - page);
    while (page < stop_page) {
      // The largest aligned run starting here that stays contiguous and inside the range.
      const uint64_t pa_page = page + delta_pages;
      uint64_t fragment = std::min<uint64_t>(
          {static_cast<uint64_t>(std::countr_zero(page | (1ull << 63))),
           static_cast<uint64_t>(std::countr_zero(pa_page | (1ull << 63))),
           static_cast<uint64_t>(std::bit_width(stop_page - page) - 1), kHugeFragment});
      const uint32_t count = 1u << fragment;
      Emit(job, &ptb->page.entries[page & (kEntriesPerTable - 1)],
           (pa_page * kPageSize) | flags | (fragment << kPteFragmentShift), kPageSize, count);
      page += count;
    }
  }
  return Status::Ok();
}

void PageTable::PlanUnmap(uint64_t va, uint64_t size, PteJob* job) {
  assert(size > 0 && (va | size) % kPageSize == 0);
  const uint64_t end = va + size;
  job->pool = pool_;
  for (uint64_t block = va & ~(kHugePageSize - 1); block < end; block += kHugePageSize) {
    // Path from the root to the PDB0 table, for pruning empty tables afterwards.
    Table* path[kLevelCount] = {};
    Table* table = root_.get();
    path[table->level] = table;
    while (table->level > 1) {
      table = (*table->children)[LevelIndex(block, table->level)].get();
      assert(table != nullptr);
      path[table->level] = table;
    }
    const uint64_t start = std::max(block, va);
    const uint64_t stop = std::min(block + kHugePageSize, end);
    const uint64_t index = LevelIndex(start, 1);
    auto& ptb_slot = (*table->children)[index];
    if (!ptb_slot) {
      // A 2 MiB page.
      assert(start == block && stop == block + kHugePageSize);
      Emit(job, &table->page.entries[index], 0, 0, 1);
      --table->valid;
    } else {
      Table* ptb = ptb_slot.get();
      const uint64_t first = (start / kPageSize) & (kEntriesPerTable - 1);
      const uint32_t count = static_cast<uint32_t>((stop - start) / kPageSize);
      Emit(job, &ptb->page.entries[first], 0, 0, count);
      assert(ptb->valid >= count);
      ptb->valid -= count;
      if (ptb->valid == 0) {
        Emit(job, &table->page.entries[index], 0, 0, 1);
        --table->valid;
        ReleaseTree(std::move(ptb_slot), job);
      }
    }
    // Prune directories that became empty (never the root).
    for (int level = 1; level < kLevelCount - 1; ++level) {
      Table* dir = path[level];
      if (dir->valid != 0) break;
      Table* parent = path[level + 1];
      const uint64_t parent_index = LevelIndex(block, parent->level);
      Emit(job, &parent->page.entries[parent_index], 0, 0, 1);
      --parent->valid;
      ReleaseTree(std::move((*parent->children)[parent_index]), job);
    }
  }
}

}  // namespace vkfd::hw

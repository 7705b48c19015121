// PteJob: one page-table update as the DMA engine executes it — runs of 64-bit entry writes, then the
// table pages that the writes unlinked and that may be reused only once the writes are done.
//
// A job is built by PageTable (plan) and executed by DmaEngine (apply). Building may allocate and fail;
// executing cannot fail (except by an injected fault) and allocates nothing.
#pragma once

#include <cstdint>
#include <vector>

#include "hw/page_table_pool.h"

namespace vkfd::hw {

// Writes entries dst[0..count) with value + i * step.
struct PteWrite {
  uint64_t* dst;
  uint64_t value;
  uint64_t step;
  uint32_t count;
};

struct PteJob {
  std::vector<PteWrite> writes;
  std::vector<TablePage> release;  // returned to `pool` after the writes
  PageTablePool* pool = nullptr;

  uint64_t entry_count() const {
    uint64_t n = 0;
    for (const auto& w : writes) n += w.count;
    return n;
  }
  bool empty() const { return writes.empty() && release.empty(); }
  // Performs the writes and releases; called by the engine, in submission order.
  void Execute();
};

}  // namespace vkfd::hw

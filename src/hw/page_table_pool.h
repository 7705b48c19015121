// PageTablePool: 4 KiB pages for page tables, carved out of one GPU's VRAM.
//
// Page tables live in (and are accounted to) the GPU's memory, as on hardware: the pool takes 2 MiB
// chunks from GpuMemory and hands out zeroed 4 KiB pages; a chunk whose pages are all free goes back
// to GpuMemory (and its host pages are released). Alloc fails with kNoMemory when VRAM is exhausted.
// Thread-safe: the DMA engine returns pages from its thread once the job that unlinked them has run.
#pragma once

#include <atomic>
#include <cstdint>
#include <unordered_map>
#include <vector>

#include "base/status.h"
#include "base/thread_annotations.h"
#include "hw/gpu_memory.h"

namespace vkfd::hw {

struct TablePage {
  uint64_t phys = 0;          // VRAM physical address (vram_base + memfd offset)
  uint64_t* entries = nullptr;  // host view of its 512 entries
};

class PageTablePool {
 public:
  PageTablePool(GpuMemory* memory, uint64_t vram_base);
  ~PageTablePool();

  Result<TablePage> Alloc() EXCLUDES(mu_);
  void Free(const TablePage& page) EXCLUDES(mu_);

  // Pages handed out and not yet freed; bytes of VRAM held in chunks.
  uint64_t pages_in_use() const EXCLUDES(mu_);
  uint64_t bytes_reserved() const EXCLUDES(mu_);

  // Bumped after every page-table update on this GPU (PteJob::Execute): a translation cached under
  // an older value may be stale — what a TLB flush invalidates on the real GPU.
  uint64_t generation() const { return generation_.load(std::memory_order_acquire); }
  void BumpGeneration() { generation_.fetch_add(1, std::memory_order_release); }

 private:
  static constexpr uint64_t kChunkSize = 2ull << 20;
  static constexpr uint32_t kPagesPerChunk = kChunkSize / 4096;
  struct Chunk {
    uint32_t free_count = kPagesPerChunk;
    std::vector<uint32_t> free_pages;  // page indices within the chunk
  };

  GpuMemory* const memory_;
  const uint64_t vram_base_;
  mutable Mutex mu_;
  std::unordered_map<uint64_t, Chunk> chunks_ GUARDED_BY(mu_);  // by memfd offset
  std::vector<uint64_t> chunks_with_space_ GUARDED_BY(mu_);     // offsets; may hold stale ones
  uint64_t pages_in_use_ GUARDED_BY(mu_) = 0;
  std::atomic<uint64_t> generation_{0};
};

}  // namespace vkfd::hw

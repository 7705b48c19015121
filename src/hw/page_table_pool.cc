#include "hw/page_table_pool.h"

#include <cassert>
#include <cstring>


namespace vkfd::hw {

PageTablePool::PageTablePool(GpuMemory* memory, uint64_t vram_base)
    : memory_(memory), vram_base_(vram_base) {}

PageTablePool::~PageTablePool() {
  MutexLock lock(&mu_);
  for (auto& [offset, chunk] : chunks_) memory_->Free(offset, kChunkSize);
}

Result<TablePage> PageTablePool::Alloc() {
  MutexLock lock(&mu_);
  while (!chunks_with_space_.empty()) {
    const uint64_t offset = chunks_with_space_.back();
    auto it = chunks_.find(offset);
    if (it == chunks_.end() || it->second.free_pages.empty()) {
      chunks_with_space_.pop_back();
      continue;
    }
    Chunk& chunk = it->second;
    const uint32_t index = chunk.free_pages.back();
    chunk.free_pages.pop_back();
    --chunk.free_count;
    if (chunk.free_pages.empty()) chunks_with_space_.pop_back();
    ++pages_in_use_;
    const uint64_t page_offset = offset + uint64_t{index} * 4096;
    auto* entries = reinterpret_cast<uint64_t*>(memory_->HostPtr(page_offset));
    memset(entries, 0, 4096);
    return TablePage{vram_base_ + page_offset, entries};
  }
  auto offset = memory_->AllocVram(kChunkSize, kChunkSize);
  if (!offset.ok()) return Code::kNoMemory;
  Chunk chunk;
  chunk.free_pages.reserve(kPagesPerChunk);
  // Hand out low pages first (pop_back), purely to keep dumps readable.
  for (uint32_t i = kPagesPerChunk; i-- > 1;) chunk.free_pages.push_back(i);
  chunk.free_count = kPagesPerChunk - 1;
  chunks_.emplace(*offset, std::move(chunk));
  chunks_with_space_.push_back(*offset);
  ++pages_in_use_;
  // A fresh chunk is a punched-out range of the memfd: it reads as zeros already.
  return TablePage{vram_base_ + *offset, reinterpret_cast<uint64_t*>(memory_->HostPtr(*offset))};
}

void PageTablePool::Free(const TablePage& page) {
  MutexLock lock(&mu_);
  const uint64_t page_offset = page.phys - vram_base_;
  const uint64_t chunk_offset = page_offset & ~(kChunkSize - 1);
  auto it = chunks_.find(chunk_offset);
  assert(it != chunks_.end());
  Chunk& chunk = it->second;
  --pages_in_use_;
  if (++chunk.free_count == kPagesPerChunk) {
    memory_->Free(chunk_offset, kChunkSize);
    chunks_.erase(it);
    return;
  }
  // The page keeps its host memory for the next table: punching it out costs more than the rest of
  // an unmap (a hole punch now, a page fault and zeroing at reuse). A chunk gives its memory back
  // when its last page is freed, so the pool holds at most a chunk per GPU beyond its live tables.
  if (chunk.free_pages.empty()) chunks_with_space_.push_back(chunk_offset);
  chunk.free_pages.push_back(static_cast<uint32_t>((page_offset - chunk_offset) / 4096));
}

uint64_t PageTablePool::pages_in_use() const {
  MutexLock lock(&mu_);
  return pages_in_use_;
}

uint64_t PageTablePool::bytes_reserved() const {
  MutexLock lock(&mu_);
  return chunks_.size() * kChunkSize;
}

}  // namespace vkfd::hw

#include "hw/range_allocator.h"

#include <cassert>
#include <iterator>

namespace vkfd::hw {

RangeAllocator::RangeAllocator(uint64_t base, uint64_t size) : base_(base), size_(size) {
  if (size > 0) InsertFree(base, base + size);
}

void RangeAllocator::InsertFree(uint64_t start, uint64_t end) {
  by_start_.emplace(start, end);
  by_size_.emplace(end - start, start);
}

void RangeAllocator::EraseFree(std::map<uint64_t, uint64_t>::iterator it) {
  by_size_.erase({it->second - it->first, it->first});
  by_start_.erase(it);
}

std::optional<uint64_t> RangeAllocator::Allocate(uint64_t size, uint64_t align) {
  if (size == 0 || align == 0 || (align & (align - 1)) != 0) return std::nullopt;
  // Best fit: the smallest free range that can hold an aligned block of `size`. Usually the first
  // candidate fits; misaligned ones are skipped.
  for (auto s = by_size_.lower_bound({size, 0}); s != by_size_.end(); ++s) {
    const uint64_t start = s->second;
    const uint64_t end = start + s->first;
    const uint64_t aligned = (start + align - 1) & ~(align - 1);
    if (aligned < start || aligned + size > end || aligned + size < aligned) continue;
    auto it = by_start_.find(start);
    assert(it != by_start_.end());
    EraseFree(it);
    if (aligned > start) InsertFree(start, aligned);
    if (aligned + size < end) InsertFree(aligned + size, end);
    used_ += size;
    return aligned;
  }
  return std::nullopt;
}

void RangeAllocator::Free(uint64_t addr, uint64_t size) {
  assert(size > 0 && used_ >= size);
  used_ -= size;
  uint64_t start = addr;
  uint64_t end = addr + size;
  auto next = by_start_.lower_bound(addr);
  if (next != by_start_.begin()) {
    auto prev = std::prev(next);
    assert(prev->second <= start);
    if (prev->second == start) {
      start = prev->first;
      EraseFree(prev);
    }
  }
  next = by_start_.lower_bound(addr);
  if (next != by_start_.end()) {
    assert(next->first >= end);
    if (next->first == end) {
      end = next->second;
      EraseFree(next);
    }
  }
  InsertFree(start, end);
}

}  // namespace vkfd::hw

// RangeAllocator: hands out aligned, non-overlapping ranges of an address space [base, base + size).
//
// Invariants: free ranges are disjoint, coalesced (no two touch) and indexed twice — by address, to
// merge neighbours on Free, and by size, so an allocation is a best-fit lookup in O(log n) however many
// ranges are live. Not thread-safe: the owner serialises calls.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <utility>

namespace vkfd::hw {

class RangeAllocator {
 public:
  RangeAllocator(uint64_t base, uint64_t size);

  // An address aligned to `align` (a power of two) with `size` bytes free after it, or nullopt.
  std::optional<uint64_t> Allocate(uint64_t size, uint64_t align);
  // Returns a range previously allocated (exactly as allocated).
  void Free(uint64_t addr, uint64_t size);

  uint64_t base() const { return base_; }
  uint64_t size() const { return size_; }
  uint64_t used() const { return used_; }

 private:
  void InsertFree(uint64_t start, uint64_t end);
  void EraseFree(std::map<uint64_t, uint64_t>::iterator it);

  uint64_t base_;
  uint64_t size_;
  uint64_t used_ = 0;
  std::map<uint64_t, uint64_t> by_start_;       // start -> end (exclusive)
  std::set<std::pair<uint64_t, uint64_t>> by_size_;  // (length, start)
};

}  // namespace vkfd::hw

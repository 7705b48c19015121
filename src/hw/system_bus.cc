#include "hw/system_bus.h"

#include <iterator>

#include "hw/pte.h"

namespace vkfd::hw {

SystemBus::SystemBus() : iova_(kIovaBase, kIovaSize) {}

Status SystemBus::MapFixed(uint64_t bus, uint64_t size, uint8_t* host) {
  MutexLock lock(&mu_);
  auto next = windows_.lower_bound(bus);
  if (next != windows_.end() && next->first < bus + size) return Status(Code::kInvalidArgs);
  if (next != windows_.begin()) {
    auto prev = std::prev(next);
    if (prev->first + prev->second.size > bus) return Status(Code::kInvalidArgs);
  }
  windows_.emplace(bus, Window{size, host, false});
  return Status::Ok();
}

Result<uint64_t> SystemBus::MapDynamic(uint64_t size, uint8_t* host) {
  MutexLock lock(&mu_);
  const uint64_t rounded = (size + kPageSize - 1) & ~(kPageSize - 1);
  // 2 MiB alignment for large ranges keeps huge pages and fragments possible.
  auto bus = iova_.Allocate(rounded, rounded >= kHugePageSize ? kHugePageSize : kPageSize);
  if (!bus) return Code::kNoMemory;
  windows_.emplace(*bus, Window{rounded, host, true});
  return *bus;
}

void SystemBus::Unmap(uint64_t bus) {
  MutexLock lock(&mu_);
  auto it = windows_.find(bus);
  if (it == windows_.end()) return;
  if (it->second.dynamic) iova_.Free(bus, it->second.size);
  windows_.erase(it);
  generation_.fetch_add(1, std::memory_order_release);
}

uint8_t* SystemBus::Translate(uint64_t bus, bool* client) const {
  MutexLock lock(&mu_);
  auto it = windows_.upper_bound(bus);
  if (it == windows_.begin()) return nullptr;
  --it;
  if (bus - it->first >= it->second.size) return nullptr;
  if (client != nullptr) *client = it->second.dynamic;
  return it->second.host + (bus - it->first);
}

}  // namespace vkfd::hw

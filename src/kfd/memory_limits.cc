#include "kfd/memory_limits.h"

#include <algorithm>

namespace vkfd::kfd {

const char* DomainName(Domain domain) {
  switch (domain) {
    case Domain::kVram: return "VRAM";
    case Domain::kGtt: return "GTT";
    case Domain::kUserptr: return "USERPTR";
    case Domain::kDoorbell: return "DOORBELL";
    case Domain::kMmioRemap: return "MMIO_REMAP";
  }
  return "?";
}

MemoryLimits::MemoryLimits(uint64_t system_bytes, std::vector<uint64_t> vram_bytes)
    : max_system_(system_bytes - (system_bytes >> 4)),
      max_ttm_((system_bytes >> 1) - (system_bytes >> 3)),
      vram_bytes_(std::move(vram_bytes)),
      vram_used_(vram_bytes_.size(), 0) {}

Charge MemoryLimits::ChargeFor(size_t gpu, Domain domain, uint64_t size) {
  Charge c;
  c.gpu = gpu;
  switch (domain) {
    case Domain::kGtt:
      c.system = size;
      c.ttm = size;
      break;
    case Domain::kVram:
      c.vram = (size + kVramStep - 1) & ~(kVramStep - 1);
      break;
    case Domain::kUserptr:
      c.system = size;
      break;
    case Domain::kDoorbell:
    case Domain::kMmioRemap:
      break;  // sg BOs over MMIO ranges: not charged
  }
  return c;
}

uint64_t MemoryLimits::PageTableReserve(size_t gpu) const {
  return std::max<uint64_t>(vram_bytes_[gpu] >> 14, 8ull << 20);
}

uint64_t MemoryLimits::VramLimit(size_t gpu) const {
  const uint64_t reserve = PageTableReserve(gpu);
  return vram_bytes_[gpu] > reserve ? vram_bytes_[gpu] - reserve : 0;
}

Status MemoryLimits::Reserve(const Charge& c) {
  MutexLock lock(&mu_);
  if (system_used_ + c.system > max_system_ || ttm_used_ + c.ttm > max_ttm_ ||
      vram_used_[c.gpu] + c.vram > VramLimit(c.gpu)) {
    return Status(Code::kNoMemory);
  }
  system_used_ += c.system;
  ttm_used_ += c.ttm;
  vram_used_[c.gpu] += c.vram;
  return Status::Ok();
}

void MemoryLimits::Unreserve(const Charge& c) {
  MutexLock lock(&mu_);
  system_used_ -= c.system;
  ttm_used_ -= c.ttm;
  vram_used_[c.gpu] -= c.vram;
}

uint64_t MemoryLimits::AvailableVram(size_t gpu) const {
  MutexLock lock(&mu_);
  const uint64_t limit = VramLimit(gpu);
  const uint64_t left = limit > vram_used_[gpu] ? limit - vram_used_[gpu] : 0;
  return left & ~(kVramStep - 1);
}

uint64_t MemoryLimits::system_used() const {
  MutexLock lock(&mu_);
  return system_used_;
}

uint64_t MemoryLimits::vram_used(size_t gpu) const {
  MutexLock lock(&mu_);
  return vram_used_[gpu];
}

}  // namespace vkfd::kfd

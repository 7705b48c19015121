#include "kfd/memory_limits.h"

#include <algorithm>
#include <numeric>

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

namespace {

uint64_t AlignUp(uint64_t v, uint64_t a) { return (v + a - 1) & ~(a - 1); }

// ESTIMATE_PT_SIZE(amdgpu_amdkfd_total_mem_size): amdgpu_amdkfd_init starts the total at the
// system's RAM and amdgpu_amdkfd_device_init adds each GPU's real_vram_size.
uint64_t PageTableReserveFor(uint64_t system_bytes, const std::vector<uint64_t>& vram_bytes) {
  const uint64_t total = std::accumulate(vram_bytes.begin(), vram_bytes.end(), system_bytes);
  return std::max<uint64_t>(total >> 14, MemoryLimits::kMinPageTableReserve);
}

}  // namespace

MemoryLimits::MemoryLimits(uint64_t system_bytes, std::vector<uint64_t> vram_bytes)
    : max_system_(system_bytes - (system_bytes >> 4)),
      max_ttm_((system_bytes >> 1) - (system_bytes >> 3)),
      vram_bytes_(std::move(vram_bytes)),
      reserved_for_pt_(PageTableReserveFor(system_bytes, vram_bytes_)),
      vram_used_(vram_bytes_.size(), 0),
      vram_used_aligned_(vram_bytes_.size(), 0),
      vram_pinned_(vram_bytes_.size(), 0) {}

Charge MemoryLimits::ChargeFor(size_t gpu, Domain domain, uint64_t size) {
  // amdgpu_amdkfd_reserve_mem_limit: by placement flag, in the bytes asked for.
  Charge c;
  c.gpu = gpu;
  switch (domain) {
    case Domain::kGtt:
      c.system = size;
      c.ttm = size;
      break;
    case Domain::kVram:
      c.vram = size;
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

uint64_t MemoryLimits::VramLimit(size_t gpu) const {
  // 6.1.y computes real_vram_size - reserved_for_pt unsigned; a GPU smaller than the reserve would
  // get an unbounded limit. vkfd's topologies have at least 64 MiB of VRAM; 0 here is the safe side.
  return vram_bytes_[gpu] > reserved_for_pt_ ? vram_bytes_[gpu] - reserved_for_pt_ : 0;
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
  vram_used_aligned_[c.gpu] += AlignUp(c.vram, kAvailabilityAlign);
  return Status::Ok();
}

void MemoryLimits::Unreserve(const Charge& c) {
  MutexLock lock(&mu_);
  system_used_ -= c.system;
  ttm_used_ -= c.ttm;
  vram_used_[c.gpu] -= c.vram;
  vram_used_aligned_[c.gpu] -= AlignUp(c.vram, kAvailabilityAlign);
}

uint64_t MemoryLimits::AvailableVram(size_t gpu) const {
  MutexLock lock(&mu_);
  // real_vram_size - vram_used_aligned - vram_pin_size - reserved_for_pt, in size_t on 6.1.y: it
  // wraps around once the aligned counter passes the limit. vkfd stops at 0 instead.
  const uint64_t taken = vram_used_aligned_[gpu] + vram_pinned_[gpu] + reserved_for_pt_;
  const uint64_t available = vram_bytes_[gpu] > taken ? vram_bytes_[gpu] - taken : 0;
  return available & ~(kAvailabilityAlign - 1);
}

void MemoryLimits::PinVram(size_t gpu, uint64_t bytes) {
  MutexLock lock(&mu_);
  vram_pinned_[gpu] += bytes;
}

void MemoryLimits::UnpinVram(size_t gpu, uint64_t bytes) {
  MutexLock lock(&mu_);
  vram_pinned_[gpu] -= bytes;
}

uint64_t MemoryLimits::system_used() const {
  MutexLock lock(&mu_);
  return system_used_;
}

uint64_t MemoryLimits::vram_used(size_t gpu) const {
  MutexLock lock(&mu_);
  return vram_used_[gpu];
}

uint64_t MemoryLimits::vram_used_aligned(size_t gpu) const {
  MutexLock lock(&mu_);
  return vram_used_aligned_[gpu];
}

}  // namespace vkfd::kfd

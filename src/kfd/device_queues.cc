#include "kfd/device_queues.h"

namespace vkfd::kfd {
namespace {

constexpr uint32_t kMirrorOffset = 512;  // KFD_QUEUE_DOORBELL_MIRROR_OFFSET

uint64_t Bits(uint32_t n) { return n >= 64 ? ~0ull : (1ull << n) - 1; }
// vega20_doorbell_index_init: sdma_engine[i] = AMDGPU_VEGA20_DOORBELL_sDMA_ENGINE0 + 0xA * i.
uint32_t SdmaDoorbellBase(uint32_t engine) { return 0x100 + 0xA * engine; }

}  // namespace

DeviceQueues::DeviceQueues(uint32_t pcie_engines, uint32_t xgmi_engines, uint32_t queues_per_engine)
    : pcie_engines_(pcie_engines), xgmi_engines_(xgmi_engines) {
  MutexLock lock(&mu_);
  sdma_free_ = Bits(pcie_engines * queues_per_engine);
  xgmi_free_ = Bits(xgmi_engines * queues_per_engine);
}

Status DeviceQueues::AddQueue() {
  MutexLock lock(&mu_);
  if (total_ >= kMaxQueuesPerDevice) return Status(Code::kPermission);
  ++total_;
  return Status::Ok();
}

void DeviceQueues::RemoveQueue() {
  MutexLock lock(&mu_);
  if (total_ > 0) --total_;
}

Result<SdmaSlot> DeviceQueues::AllocateSdma(bool xgmi) {
  MutexLock lock(&mu_);
  uint64_t& free = xgmi ? xgmi_free_ : sdma_free_;
  const uint32_t engines = xgmi ? xgmi_engines_ : pcie_engines_;
  if (free == 0 || engines == 0) return Code::kNoMemory;
  SdmaSlot slot;
  slot.sdma_id = static_cast<uint32_t>(__builtin_ctzll(free));
  free &= ~(1ull << slot.sdma_id);
  slot.engine = (xgmi ? pcie_engines_ : 0) + slot.sdma_id % engines;
  slot.queue = slot.sdma_id / engines;
  slot.doorbell_id = SdmaDoorbellBase(slot.engine) + (slot.queue & 1) * kMirrorOffset +
                     (slot.queue >> 1);
  return slot;
}

void DeviceQueues::FreeSdma(bool xgmi, uint32_t sdma_id) {
  MutexLock lock(&mu_);
  if (sdma_id < 64) (xgmi ? xgmi_free_ : sdma_free_) |= 1ull << sdma_id;
}

}  // namespace vkfd::kfd

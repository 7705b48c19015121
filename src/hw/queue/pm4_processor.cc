#include "hw/queue/pm4_processor.h"

namespace vkfd::hw {

Pm4Processor::Pm4Processor(const Node& node, QueueConfig config)
    : UserQueue(node, std::move(config)), ring_dwords_(config_.ring_bytes / 4),
      engine_(vm_, config_.client) {
  VmFault fault;
  auto read = vm_.Load32(config_.rptr_va, &fault);
  read_ = read.ok() ? read.value() : 0;
}

bool Pm4Processor::RingHasWork() const {
  VmFault fault;
  auto write = vm_.Load64(config_.wptr_va, &fault);
  return !write.ok() || static_cast<uint64_t>(write.value()) > read_;
}

bool Pm4Processor::ServiceEngine(uint64_t budget_bytes, int64_t* wake_at_ns) {
  const uint64_t doorbell = config_.doorbell->load(std::memory_order_acquire);
  bool progress = false;
  uint64_t moved = 0;
  for (;;) {
    VmFault fault;
    std::string error;
    if (engine_.idle()) {
      if (stopping() || ring_dwords_ == 0) return progress;
      auto write = vm_.Load64(config_.wptr_va, &fault);
      if (!write.ok()) {
        Fault(fault);
        return true;
      }
      const uint64_t write_ptr = static_cast<uint64_t>(write.value());
      if (read_ >= write_ptr) {
        seen_doorbell_.store(doorbell, std::memory_order_relaxed);
        return progress;
      }
      const uint64_t at = read_ % ring_dwords_;
      uint32_t header;
      if (!vm_.Read(config_.ring_va + 4 * at, &header, 4, &fault).ok()) {
        Fault(fault);
        return true;
      }
      const uint32_t type = header >> 30;
      const uint32_t count = (header >> 16) & 0x3fff;
      const bool one_dword = type == 2 || (type == 3 && ((header >> 8) & 0xff) == 0x10 &&
                                           count == 0x3fff);
      packet_ = one_dword ? 1 : uint64_t{count} + 2;
      if (read_ + packet_ > write_ptr) {
        seen_doorbell_.store(doorbell, std::memory_order_relaxed);
        return progress;  // not all written yet
      }
      if (at + packet_ > ring_dwords_) {
        Fail(0, config_.name + ": PM4 packet straddles the end of the ring");
        return true;
      }
      engine_.Start(config_.ring_va + 4 * at, packet_);
    }
    switch (engine_.Run(&fault, &error)) {
      case Pm4Engine::Result::kDone: break;
      case Pm4Engine::Result::kWaiting: return progress;
      case Pm4Engine::Result::kFault: Fault(fault); return true;
      case Pm4Engine::Result::kError: Fail(0, config_.name + ": " + error); return true;
    }
    moved += engine_.bytes_moved();
    CountBytes(engine_.bytes_moved());
    read_ += packet_;
    const uint32_t rptr = static_cast<uint32_t>(read_ % ring_dwords_);
    VmFault wfault;
    if (!vm_.Write(config_.rptr_va, &rptr, 4, &wfault).ok()) {
      Fault(wfault);
      return true;
    }
    CountPacket();
    progress = true;
    (void)wake_at_ns;
    if (moved >= budget_bytes) return true;
  }
}

}  // namespace vkfd::hw

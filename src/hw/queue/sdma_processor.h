// SdmaProcessor: an SDMA v4.4 engine queue (MI200's SDMA 4.4.0, the vega10 packet formats of
// vega10_sdma_pkt_open.h) serving one user SDMA queue.
//
// Ring protocol (ROCr's BlitSdmaV4): the ring is `ring_bytes` of GPU memory; the write pointer is a
// 64-bit, monotonic byte count the runtime stores at wptr_va and then into the doorbell; the engine
// executes from the read pointer up to it and writes the read pointer back at rptr_va as a monotonic
// 64-bit byte count (ROCr computes free space from the raw value, so it must never wrap). Packets
// never straddle the ring's end in practice (ROCr pads with zero dwords, 1-dword NOPs); the engine
// reads across the end anyway.
//
// Packets: NOP, COPY_LINEAR (and its broadcast form), COPY_LINEAR_SUB_WINDOW (rectangular copies),
// CONST_FILL, WRITE linear, FENCE (a 32-bit write), TRAP (an interrupt with the 28-bit context, the
// signal's event id), POLL_REGMEM (a memory poll waits; a register poll — ROCr's HDP flush — has
// nothing to wait for), ATOMIC (64-bit add: ROCr's signal decrement; swap, compare-swap),
// TIMESTAMP (the GPU clock), SRBM_WRITE (no registers: no effect). Anything else, or a truncated
// packet, stops the queue with an error (reported to the driver; SDMA has no way to tell the runtime).
// Timing model: fences, atomics and traps take effect `completion_latency_ns` after the data work
// before them.
#pragma once

#include <cstdint>
#include <vector>

#include "hw/queue/user_queue.h"

namespace vkfd::hw {

class SdmaProcessor : public UserQueue {
 public:
  SdmaProcessor(const Node& node, QueueConfig config);

 protected:
  bool ServiceEngine(uint64_t budget_bytes, int64_t* wake_at_ns) override;
  bool EngineBusy() const override { return waiting_; }
  bool RingHasWork() const override;

 private:
  enum class Step { kDone, kWaiting, kStopped };
  // Reads `n` dwords of the ring at byte position `pos` (wrapping).
  Status ReadRing(uint64_t pos, uint32_t* out, size_t n, VmFault* fault) const;
  // Executes the packet at read_ (whose first dword is `header`); *length receives its dwords.
  Step Execute(uint32_t header, uint64_t available_dwords, uint64_t* length, int64_t* wake_at_ns);
  Step Error(const char* what);
  Step Faulted(const VmFault& fault);

  uint64_t read_ = 0;   // bytes consumed (monotonic)
  bool waiting_ = false;
  uint32_t poll_attempts_ = 0;
  int64_t last_work_ns_ = 0;  // when the last data packet finished (timing model)
  uint64_t moved_ = 0;
};

}  // namespace vkfd::hw

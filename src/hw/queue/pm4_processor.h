// Pm4Processor: the compute command processor serving one PM4 compute queue
// (KFD_IOC_QUEUE_TYPE_COMPUTE), as kfdtest uses them.
//
// Ring protocol (kfd_mqd_manager_v9 without AQL; kfdtest's PM4Queue): the ring holds dwords; the write
// pointer is a 64-bit monotonic dword count at wptr_va (and the doorbell's value); the engine writes
// the read pointer back at rptr_va as a 32-bit dword offset that wraps at the ring size ("gfx9
// hardware is 32bit rptr"). Packets are executed by hw/queue/pm4_engine.h; one that would straddle the
// ring's end, or a bad opcode, stops the queue with an error (KFD turns a CP bad opcode into the
// process's hardware-exception event).
#pragma once

#include <cstdint>

#include "hw/queue/pm4_engine.h"
#include "hw/queue/user_queue.h"

namespace vkfd::hw {

class Pm4Processor : public UserQueue {
 public:
  Pm4Processor(const Node& node, QueueConfig config);

 protected:
  bool ServiceEngine(uint64_t budget_bytes, int64_t* wake_at_ns) override;
  bool EngineBusy() const override { return !engine_.idle(); }
  bool RingHasWork() const override;

 private:
  uint64_t ring_dwords_ = 0;
  uint64_t read_ = 0;     // dwords consumed (monotonic; rptr_va gets it modulo the ring)
  uint64_t packet_ = 0;   // dwords of the packet in flight
  Pm4Engine engine_;
};

}  // namespace vkfd::hw

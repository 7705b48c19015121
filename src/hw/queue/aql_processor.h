// AqlProcessor: the compute command processor serving one AQL queue (HSA packet format).
//
// The runtime's side (ROCr/ROCclr): it reserves slots by bumping amd_queue.write_dispatch_id, writes
// a packet with its header stored last (release), then stores the packet's index into the doorbell.
// Ours, as the CP: from amd_queue.read_dispatch_id on, execute every slot whose header is valid,
// stop at the first INVALID header (a slot reserved but not written yet) and look again at the next
// doorbell; after a packet, write its header back to INVALID and advance read_dispatch_id (release).
// Packets execute in order, one at a time; fence scopes are no-ops on coherent memory. With the timing
// model, a packet's completion (its signal) becomes visible completion_latency_ns after its work, and
// the CP goes on meanwhile, as it launches the next packet while earlier ones finish: the slot is
// consumed at once, completions are delivered in order when due, and a packet with the barrier bit
// waits until every earlier completion has been delivered. Packet types:
//   KERNEL_DISPATCH  a native kernel (hw/kernels/native_kernel.h); any other kernel stops the queue
//                    with an illegal-instruction error naming it;
//   BARRIER_AND/OR   completes once all / any of its non-null dependency signals reads 0 (a null
//                    entry counts as met for AND, not for OR); until then the queue waits there;
//   VENDOR_SPECIFIC  AMD_AQL_FORMAT_PM4_IB: the PM4 indirect buffer it carries (hw/queue/pm4_engine.h);
//                    AMD_AQL_FORMAT_BARRIER_VALUE: waits until the signal's value compares true;
// with the completion signal of each completed as the CP does (hw/queue/signal_ops.h), timestamps
// included when the queue profiles (amd_queue.queue_properties bit 3).
// Errors are reported as the CP reports them to ROCr: the error code goes into the value of
// amd_queue.queue_inactive_signal (+ its event), the queue stops with read_dispatch_id still on the
// failing packet: 32 invalid packet format, 256 unsupported vendor packet, 2 invalid dimension,
// 0x40000000 illegal instruction (a kernel vkfd cannot run). A page fault stops the queue for good.
#pragma once

#include <cstdint>
#include <deque>
#include <string>
#include <unordered_map>
#include <vector>

#include "hw/kernels/native_kernel.h"
#include "hw/queue/pm4_engine.h"
#include "hw/queue/user_queue.h"

namespace vkfd::hw {

class AqlProcessor : public UserQueue {
 public:
  AqlProcessor(const Node& node, QueueConfig config);

  // amd_queue_t fields (hsa/amd_hsa_queue.h), relative to the structure.
  static constexpr uint64_t kWriteDispatchId = 0x38;
  static constexpr uint64_t kReadDispatchId = 0x80;
  static constexpr uint64_t kQueueProperties = 0xB4;
  static constexpr uint64_t kQueueInactiveSignal = 0xC0;
  // Queue error codes as ROCr's handler decodes them (amd_aql_queue.cpp).
  static constexpr uint32_t kErrorInvalidDimension = 2;
  static constexpr uint32_t kErrorInvalidPacketFormat = 32;
  static constexpr uint32_t kErrorUnsupportedVendorPacket = 256;
  static constexpr uint32_t kErrorIllegalInstruction = 0x40000000;

 protected:
  bool ServiceEngine(uint64_t budget_bytes, int64_t* wake_at_ns) override;
  bool EngineBusy() const override;
  bool RingHasWork() const override;
  void Quiesce() override;

 private:
  bool ServicePackets(uint64_t budget_bytes, int64_t* wake_at_ns);
  enum class Step { kDone, kWaiting, kStopped };
  // Starts the packet in slot `index` (read into packet_); then Continue runs it.
  Step Begin(uint64_t index);
  Step Continue();
  Step Complete();
  // Delivers the pending completions that are due (all of them when stopping); false on a fault.
  bool RetireDue(int64_t* wake_at_ns);
  bool DeliverCompletion(uint64_t signal, uint64_t start_ts);
  Step Error(uint32_t code, const std::string& what);
  Step Faulted(const VmFault& fault);

  uint64_t amd_queue_ = 0;   // the amd_queue_t (rptr_va - read_dispatch_id's offset)
  uint64_t size_pkts_ = 0;
  uint64_t read_index_ = 0;  // read_dispatch_id as we last wrote it

  // The packet in flight.
  bool in_flight_ = false;
  uint64_t index_ = 0;
  uint8_t packet_[64] = {};
  std::vector<MemOp> ops_;
  size_t next_op_ = 0;
  Pm4Engine pm4_;
  uint64_t start_ts_ = 0;
  // Tracing: when the packet began and what it is ("kernel name", "barrier-and", ...); set only
  // while tracing is on.
  int64_t trace_start_ns_ = 0;
  std::string trace_name_;
  // Completions the timing model delays, in packet order.
  struct Pending {
    uint64_t signal;
    uint64_t start_ts;
    int64_t due_ns;
  };
  std::deque<Pending> pending_;
  bool waiting_ = false;        // parked on a dependency
  uint64_t moved_ = 0;          // bytes this Service call

  // kernel_object -> identity, with the descriptor's first bytes to notice reuse of the address.
  struct Known {
    KernelIdentity identity;
    uint8_t descriptor[64];
  };
  std::unordered_map<uint64_t, Known> kernels_;
};

}  // namespace vkfd::hw

// QueueIrq: the driver's side of one queue's interrupts — what kfd_int_process_v9.c does with the
// interrupts a user queue's engine raises.
//  * An end-of-pipe or SDMA trap interrupt carries an event id: kfd_signal_event_interrupt sets the
//    event (EventTable::SignalFromInterrupt), which wakes WAIT_EVENTS.
//  * A GPU page fault: the SMI VM-fault event to the GPU's SMI clients (kfd_smi_event_update_vmfault),
//    the process's MEMORY events receive the exception data and are set
//    (kfd_signal_vm_fault_event: NotPresent for an unmapped page, ReadOnly for a write to a read-only
//    one), and every queue of the process on that GPU stops for good (kfd_dqm_evict_pasid); a line
//    names the address.
//  * A queue error (a packet the engine cannot execute): one line in the log. The engine has already
//    told the runtime through the queue's inactive signal where the hardware would. A PM4 queue's
//    error is a CP bad opcode: the process's HW_EXCEPTION events are set
//    (kfd_signal_hw_exception_event).
// Runs on the command processor's thread; takes EventTable's and QueueTable's locks, never
// Process::mu_.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "hw/queue/user_queue.h"

namespace vkfd::kfd {

class EventTable;
class SmiEvents;
class QueueTable;

class QueueIrq : public hw::QueueClient {
 public:
  QueueIrq(std::shared_ptr<EventTable> events, QueueTable* table, int pid, uint32_t gpu_id,
           size_t gpu_index, uint32_t queue_id, SmiEvents* smi = nullptr)
      : events_(std::move(events)), table_(table), pid_(pid), gpu_id_(gpu_id),
        gpu_index_(gpu_index), queue_id_(queue_id), smi_(smi) {}

  void set_engine(const hw::UserQueue* engine) { engine_ = engine; }

  void OnInterrupt(uint32_t context_id, int valid_bits) override;
  void OnVmFault(const hw::VmFault& fault) override;
  void OnQueueError(uint32_t code, const std::string& what) override;

 private:
  const std::shared_ptr<EventTable> events_;
  QueueTable* const table_;
  const int pid_;
  const uint32_t gpu_id_;
  const size_t gpu_index_;
  const uint32_t queue_id_;
  SmiEvents* const smi_;  // the GPU's, outlives the queue (owned by the Driver)
  const hw::UserQueue* engine_ = nullptr;
};

}  // namespace vkfd::kfd

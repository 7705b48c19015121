// Signals as the command processor completes them. An HSA signal is an amd_signal_t in memory the
// GPU can reach (hsa/amd_hsa_signal.h; its handle is its GPU VA):
//   +0x08 value (int64)   +0x10 event mailbox pointer   +0x18 event id (u32)
//   +0x20 start_ts        +0x28 end_ts (profiling)
// Completing a packet: write the timestamps when the queue profiles, atomically decrement the value,
// and when the signal has a mailbox write the event id into it and raise an interrupt carrying that
// id — the KFD event behind the signal is then set, which wakes a thread in WAIT_EVENTS. The mailbox
// is written before the interrupt (kfd_signal_event_interrupt looks at the slot first).
#pragma once

#include <cstdint>

#include "base/status.h"
#include "hw/queue/user_queue.h"
#include "hw/vm_access.h"

namespace vkfd::hw::signal {

inline constexpr uint64_t kValue = 0x08;
inline constexpr uint64_t kMailbox = 0x10;
inline constexpr uint64_t kEventId = 0x18;
inline constexpr uint64_t kStartTs = 0x20;
inline constexpr uint64_t kEndTs = 0x28;

struct Timestamps {
  uint64_t start = 0;
  uint64_t end = 0;
};

// value -= 1, then the mailbox and the interrupt. `ts` (optional): profiling timestamps.
Status Complete(const VmAccess& vm, uint64_t signal, QueueClient* client, const Timestamps* ts,
                VmFault* fault);
// value = `value` (a queue error code), then the mailbox and the interrupt.
Status Assign(const VmAccess& vm, uint64_t signal, int64_t value, QueueClient* client,
              VmFault* fault);
// The mailbox and the interrupt alone.
Status Notify(const VmAccess& vm, uint64_t signal, QueueClient* client, VmFault* fault);

}  // namespace vkfd::hw::signal

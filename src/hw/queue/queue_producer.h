// The producer's side of a user queue's ring, done by the driver: the dispatch extension
// (VKFD_IOC_SUBMIT) writes the caller's packets into the ring through the GPU's page tables, as a
// kernel would through its own mapping of the ring, following the protocol the runtimes follow
// (docs/gpu-side.md):
//   AQL   reserve slots by advancing write_dispatch_id with a compare-and-swap (other producers may
//         share the queue), write each packet's body, then publish its first dword (header + setup)
//         with release ordering — a slot whose header is INVALID is not yet written;
//   SDMA  the bytes at the monotonic byte write pointer (wrapping in the ring), then the pointer;
//   PM4   the dwords at the monotonic dword write pointer, then the pointer.
// Room is judged from the read pointer the engine writes back; the doorbell is not written (the
// engine looks at the write pointer, hw/queue/user_queue.h).
#pragma once

#include <cstdint>
#include <span>

#include "base/status.h"
#include "hw/queue/user_queue.h"
#include "hw/vm_access.h"

namespace vkfd::hw {

struct RingLayout {
  QueueKind kind = QueueKind::kAql;
  uint64_t ring_va = 0;
  uint64_t ring_bytes = 0;
  uint64_t rptr_va = 0;
  uint64_t wptr_va = 0;
};

// Appends `packets` to the ring. Returns the write position before them (AQL: the first packet's
// index; SDMA: bytes; PM4: dwords). kInvalidArgs: not a whole number of packets (64 bytes; SDMA and
// PM4: dwords), empty, or larger than the ring; kNoSpace: not enough free room now (nothing was
// written); kFault (*fault set): the ring or its pointers are not mapped writable on this GPU.
Result<uint64_t> ProduceOnRing(const VmAccess& vm, const RingLayout& ring,
                               std::span<const uint8_t> packets, VmFault* fault);

}  // namespace vkfd::hw

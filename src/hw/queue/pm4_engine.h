// Pm4Engine: the compute command processor's PM4 type-3 interpreter (gfx9 packet formats, soc15d.h),
// shared by PM4 compute queues (KFD_IOC_QUEUE_TYPE_COMPUTE) and the PM4 indirect buffer that ROCr's AQL
// vendor packet carries (AMD_AQL_FORMAT_PM4_IB: ACQUIRE_MEM to invalidate caches after loading code).
//
// Packets: NOP (count 0x3FFF = one dword), type-2 filler, WRITE_DATA (memory destinations),
// RELEASE_MEM (write 32/64-bit data or the GPU clock, then the end-of-pipe interrupt with int_ctxid),
// WAIT_REG_MEM (memory polls; register polls have nothing to wait for here), INDIRECT_BUFFER (one level
// of nesting, as the CP allows from a user queue), ACQUIRE_MEM and EVENT_WRITE (cache and pipeline
// operations: the emulated memory is coherent, they complete in order and do nothing else),
// SET_SH_REG (the compute program and user-data registers) and DISPATCH_DIRECT (a kernel by the rule
// of hw/kernels/native_kernel.h). Anything else is a bad opcode: the queue stops.
//
// Execution is resumable: a WAIT_REG_MEM whose condition does not hold yet leaves the engine parked at
// that packet, and the next Run() continues there (nothing before it is done twice).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "hw/kernels/native_kernel.h"
#include "hw/queue/user_queue.h"
#include "hw/vm_access.h"

namespace vkfd::hw {

class Pm4Engine {
 public:
  enum class Result { kDone, kWaiting, kFault, kError };

  Pm4Engine(const VmAccess& vm, QueueClient* client) : vm_(vm), client_(client) {}

  // Starts a stream of `dwords` dwords at `va` (a ring's contents are handed over packet by packet
  // with Start(); an indirect buffer pushes a nested stream).
  void Start(uint64_t va, uint64_t dwords);
  bool idle() const { return frames_.empty(); }
  // Runs until the stream ends (kDone), a poll does not hold (kWaiting), a page faults (kFault,
  // *fault set) or a packet cannot be executed (kError, *error says why).
  Result Run(VmFault* fault, std::string* error);
  // Bytes the last Run() moved (for the scheduler's budget).
  uint64_t bytes_moved() const { return bytes_moved_; }

 private:
  struct Frame {
    uint64_t va;
    uint64_t left;  // dwords
  };
  Result Execute(const std::vector<uint32_t>& p, VmFault* fault, std::string* error);

  const VmAccess& vm_;
  QueueClient* const client_;
  std::vector<Frame> frames_;
  std::vector<MemOp> dispatch_ops_;  // a DISPATCH_DIRECT whose operations wait
  size_t dispatch_next_ = 0;
  uint64_t pgm_addr_ = 0;             // COMPUTE_PGM_LO/HI << 8
  uint32_t user_data_[16] = {};       // COMPUTE_USER_DATA_0..15
  uint32_t num_threads_[3] = {};      // COMPUTE_NUM_THREAD_X/Y/Z (work-group size)
  uint64_t bytes_moved_ = 0;
};

}  // namespace vkfd::hw

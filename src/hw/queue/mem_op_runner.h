// Executes MemOps (hw/kernels/native_kernel.h) through a VM: copies, fills, stores and value waits.
// A wait that does not hold yet leaves the operation pending (the engine parks the packet and looks
// again later), a fault stops at the faulting address with nothing written past it.
#pragma once

#include "hw/kernels/native_kernel.h"
#include "hw/vm_access.h"

namespace vkfd::hw {

enum class OpResult { kDone, kWaiting, kFault };

OpResult RunMemOp(const VmAccess& vm, const MemOp& op, VmFault* fault);

// Whether `value` satisfies a stream wait (amdblit.cl __amd_streamOpsWait).
bool WaitHolds(MemOp::Cond cond, uint64_t value, uint64_t reference, uint64_t mask, bool wide);

}  // namespace vkfd::hw

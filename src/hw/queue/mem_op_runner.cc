#include "hw/queue/mem_op_runner.h"

namespace vkfd::hw {

bool WaitHolds(MemOp::Cond cond, uint64_t value, uint64_t reference, uint64_t mask, bool wide) {
  if (!wide) {
    value &= 0xffffffffull;
    reference &= 0xffffffffull;
    mask &= 0xffffffffull;
  }
  switch (cond) {
    case MemOp::Cond::kGeq:
      return wide ? int64_t(value & mask) >= int64_t(reference)
                  : int32_t(uint32_t(value & mask)) >= int32_t(uint32_t(reference));
    case MemOp::Cond::kEq: return (value & mask) == reference;
    case MemOp::Cond::kAnd: return (value & mask & reference) != 0;
    case MemOp::Cond::kNor: return ((value | reference) & mask) != mask;
  }
  return true;
}

OpResult RunMemOp(const VmAccess& vm, const MemOp& op, VmFault* fault) {
  switch (op.kind) {
    case MemOp::Kind::kCopy:
      return vm.Copy(op.dst, op.src, op.bytes, fault).ok() ? OpResult::kDone : OpResult::kFault;
    case MemOp::Kind::kFill:
      return vm.Fill(op.dst, op.pattern, op.pattern_size, op.bytes, fault).ok() ? OpResult::kDone
                                                                                 : OpResult::kFault;
    case MemOp::Kind::kStore32: {
      const uint32_t v = static_cast<uint32_t>(op.value);
      return vm.Write(op.dst, &v, 4, fault).ok() ? OpResult::kDone : OpResult::kFault;
    }
    case MemOp::Kind::kStore64:
      return vm.Store64(op.dst, op.value, fault).ok() ? OpResult::kDone : OpResult::kFault;
    case MemOp::Kind::kWait32: {
      auto v = vm.Load32(op.dst, fault);
      if (!v.ok()) return OpResult::kFault;
      return WaitHolds(op.cond, v.value(), op.value, op.mask, false) ? OpResult::kDone
                                                                     : OpResult::kWaiting;
    }
    case MemOp::Kind::kWait64: {
      auto v = vm.Load64(op.dst, fault);
      if (!v.ok()) return OpResult::kFault;
      return WaitHolds(op.cond, uint64_t(v.value()), op.value, op.mask, true) ? OpResult::kDone
                                                                             : OpResult::kWaiting;
    }
  }
  return OpResult::kDone;
}

}  // namespace vkfd::hw

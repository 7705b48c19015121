#include "hw/queue/sdma_processor.h"

#include <cinttypes>
#include <cstdio>

#include "base/futex.h"
#include "hw/gpu_clock.h"
#include "hw/kernels/native_kernel.h"
#include "hw/queue/mem_op_runner.h"

namespace vkfd::hw {
namespace {

// Opcodes (vega10_sdma_pkt_open.h).
constexpr uint32_t kOpNop = 0;
constexpr uint32_t kOpCopy = 1;
constexpr uint32_t kOpWrite = 2;
constexpr uint32_t kOpFence = 5;
constexpr uint32_t kOpTrap = 6;
constexpr uint32_t kOpPollRegmem = 8;
constexpr uint32_t kOpAtomic = 10;
constexpr uint32_t kOpConstFill = 11;
constexpr uint32_t kOpTimestamp = 13;
constexpr uint32_t kOpSrbmWrite = 14;
constexpr uint32_t kSubCopyLinear = 0;
constexpr uint32_t kSubCopyLinearSubWindow = 4;
// TC atomic opcodes (vega10_enum.h).
constexpr uint32_t kAtomicSwap64 = 0x27;
constexpr uint32_t kAtomicCmpSwap64 = 0x28;
constexpr uint32_t kAtomicAdd64 = 0x2F;
constexpr uint64_t kBudgetSlices = 1;

uint64_t Addr(uint32_t lo, uint32_t hi) { return (uint64_t{hi} << 32) | lo; }

bool PollHolds(uint32_t function, uint32_t value, uint32_t reference) {
  switch (function & 7) {
    case 0: return true;
    case 1: return value < reference;
    case 2: return value <= reference;
    case 3: return value == reference;
    case 4: return value != reference;
    case 5: return value >= reference;
    case 6: return value > reference;
    default: return false;
  }
}

}  // namespace

SdmaProcessor::SdmaProcessor(const Node& node, QueueConfig config)
    : UserQueue(node, std::move(config)) {
  VmFault fault;
  auto read = vm_.Load64(config_.rptr_va, &fault);
  read_ = read.ok() ? static_cast<uint64_t>(read.value()) : 0;
}

bool SdmaProcessor::RingHasWork() const {
  VmFault fault;
  auto write = vm_.Load64(config_.wptr_va, &fault);
  return !write.ok() || static_cast<uint64_t>(write.value()) > read_;
}

Status SdmaProcessor::ReadRing(uint64_t pos, uint32_t* out, size_t n, VmFault* fault) const {
  for (size_t i = 0; i < n;) {
    const uint64_t offset = (pos + 4 * i) % config_.ring_bytes;
    const size_t run = std::min<uint64_t>(n - i, (config_.ring_bytes - offset) / 4);
    VKFD_RETURN_IF_ERROR(vm_.Read(config_.ring_va + offset, out + i, run * 4, fault));
    i += run;
  }
  return Status::Ok();
}

bool SdmaProcessor::ServiceEngine(uint64_t budget_bytes, int64_t* wake_at_ns) {
  const uint64_t doorbell = config_.doorbell->load(std::memory_order_acquire);
  bool progress = false;
  moved_ = 0;
  for (;;) {
    if (stopping() || config_.ring_bytes < 4) return progress;
    VmFault fault;
    auto write = vm_.Load64(config_.wptr_va, &fault);
    if (!write.ok()) {
      Faulted(fault);
      return true;
    }
    const uint64_t write_ptr = static_cast<uint64_t>(write.value());
    if (read_ >= write_ptr) {
      waiting_ = false;
      seen_doorbell_.store(doorbell, std::memory_order_relaxed);
      return progress;
    }
    uint32_t header;
    if (!ReadRing(read_, &header, 1, &fault).ok()) {
      Faulted(fault);
      return true;
    }
    uint64_t length = 1;
    const Step step = Execute(header, (write_ptr - read_) / 4, &length, wake_at_ns);
    if (step == Step::kStopped) return true;
    if (step == Step::kWaiting) {
      waiting_ = true;
      return progress;
    }
    waiting_ = false;
    poll_attempts_ = 0;
    read_ += 4 * length;
    if (!vm_.Store64(config_.rptr_va, read_, &fault).ok()) {
      Faulted(fault);
      return true;
    }
    CountPacket();
    progress = true;
    if (moved_ >= budget_bytes * kBudgetSlices) return true;
  }
}

SdmaProcessor::Step SdmaProcessor::Execute(uint32_t header, uint64_t available, uint64_t* length,
                                           int64_t* wake_at_ns) {
  const uint32_t op = header & 0xff;
  const uint32_t sub = (header >> 8) & 0xff;
  // Packet length in dwords, known from the header except for WRITE (its count is in dword 3).
  uint64_t n;
  switch (op) {
    case kOpNop: n = 1 + ((header >> 16) & 0x3fff); break;
    case kOpCopy:
      if (sub == kSubCopyLinear) n = (header >> 27) & 1 ? 9 : 7;
      else if (sub == kSubCopyLinearSubWindow) n = 13;
      else return Error("SDMA COPY sub-op not executed by vkfd (tiled/SOA/physical copies)");
      break;
    case kOpWrite: n = 4; break;  // + the data, below
    case kOpFence: n = 4; break;
    case kOpTrap: n = 2; break;
    case kOpPollRegmem: n = 6; break;
    case kOpAtomic: n = 8; break;
    case kOpConstFill: n = 5; break;
    case kOpTimestamp: n = 3; break;
    case kOpSrbmWrite: n = 3; break;
    default: {
      char what[80];
      snprintf(what, sizeof(what), "SDMA opcode %u not executed by vkfd", op);
      return Error(what);
    }
  }
  if (n > available) return Step::kWaiting;  // the rest is not written yet
  uint32_t p[16] = {header};
  VmFault fault;
  if (!ReadRing(read_, p, n, &fault).ok()) return Faulted(fault);
  if (op == kOpWrite) {
    const uint64_t ndw = uint64_t{p[3] & 0xfffff} + 1;
    if (4 + ndw > available) return Step::kWaiting;
    std::vector<uint32_t> data(ndw);
    if (!ReadRing(read_ + 16, data.data(), ndw, &fault).ok()) return Faulted(fault);
    if (!vm_.Write(Addr(p[1], p[2]), data.data(), ndw * 4, &fault).ok()) return Faulted(fault);
    *length = 4 + ndw;
    last_work_ns_ = MonotonicNowNs();
    return Step::kDone;
  }
  *length = n;
  // Fences, atomics and traps complete after the data work before them (the timing model's latency).
  if ((op == kOpFence || op == kOpAtomic || op == kOpTrap) && config_.completion_latency_ns != 0 &&
      !stopping()) {
    const int64_t due = last_work_ns_ + int64_t(config_.completion_latency_ns);
    if (MonotonicNowNs() < due) {
      *wake_at_ns = due;
      return Step::kWaiting;
    }
  }
  switch (op) {
    case kOpNop:
    case kOpSrbmWrite:
      return Step::kDone;
    case kOpCopy: {
      if (sub == kSubCopyLinear) {
        const uint64_t bytes = uint64_t{p[1] & 0x3fffff} + 1;
        const bool broadcast = (header >> 27) & 1;
        const uint64_t src = Addr(p[3], p[4]);
        if (!vm_.Copy(Addr(p[5], p[6]), src, bytes, &fault).ok()) return Faulted(fault);
        if (broadcast && !vm_.Copy(Addr(p[7], p[8]), src, bytes, &fault).ok()) return Faulted(fault);
        moved_ += bytes;
        CountBytes(bytes);
      } else {
        const uint64_t e = 1ull << ((header >> 29) & 7);
        if (e > 16) return Error("SDMA rectangular copy with an element size above 16 bytes");
        const uint64_t src = Addr(p[1], p[2]), dst = Addr(p[6], p[7]);
        const uint64_t sx = p[3] & 0x3fff, sy = (p[3] >> 16) & 0x3fff, sz = p[4] & 0x7ff;
        const uint64_t s_pitch = uint64_t{p[4] >> 13} + 1, s_slice = uint64_t{p[5] & 0xfffffff} + 1;
        const uint64_t dx = p[8] & 0x3fff, dy = (p[8] >> 16) & 0x3fff, dz = p[9] & 0x7ff;
        const uint64_t d_pitch = uint64_t{p[9] >> 13} + 1, d_slice = uint64_t{p[10] & 0xfffffff} + 1;
        const uint64_t w = uint64_t{p[11] & 0x3fff} + 1, h = uint64_t{(p[11] >> 16) & 0x3fff} + 1;
        const uint64_t depth = uint64_t{p[12] & 0x7ff} + 1;
        for (uint64_t z = 0; z < depth; ++z) {
          for (uint64_t y = 0; y < h; ++y) {
            const uint64_t s = src + e * (sx + (sy + y) * s_pitch + (sz + z) * s_slice);
            const uint64_t d = dst + e * (dx + (dy + y) * d_pitch + (dz + z) * d_slice);
            if (!vm_.Copy(d, s, w * e, &fault).ok()) return Faulted(fault);
          }
        }
        moved_ += w * h * depth * e;
        CountBytes(w * h * depth * e);
      }
      last_work_ns_ = MonotonicNowNs();
      return Step::kDone;
    }
    case kOpConstFill: {
      const uint32_t fillsize = header >> 30;
      const uint64_t count = p[4] & 0x3fffff;
      const uint64_t dst = Addr(p[1], p[2]);
      const uint64_t bytes = fillsize == 2 ? 4 * ((count >> 2) + 1) : count + 1;
      const uint8_t pattern_size = fillsize == 2 ? 4 : 1;
      if (!vm_.Fill(dst, &p[3], pattern_size, bytes, &fault).ok()) return Faulted(fault);
      moved_ += bytes;
      CountBytes(bytes);
      last_work_ns_ = MonotonicNowNs();
      return Step::kDone;
    }
    case kOpFence:
      if (!vm_.Write(Addr(p[1] & ~3u, p[2]), &p[3], 4, &fault).ok()) return Faulted(fault);
      return Step::kDone;
    case kOpTrap:
      if (config_.client != nullptr) config_.client->OnInterrupt(p[1] & 0x0fffffff, 28);
      return Step::kDone;
    case kOpPollRegmem: {
      const bool memory = (header >> 31) & 1;
      if (!memory) return Step::kDone;  // a register poll: nothing to wait for on the emulated GPU
      auto value = vm_.Load32(Addr(p[1] & ~3u, p[2]), &fault);
      if (!value.ok()) return Faulted(fault);
      if (PollHolds(header >> 28, value.value() & p[4], p[3])) return Step::kDone;
      const uint32_t retries = (p[5] >> 16) & 0xfff;
      if (retries != 0xfff && ++poll_attempts_ > retries) return Step::kDone;  // gave up polling
      return Step::kWaiting;
    }
    case kOpAtomic: {
      const uint32_t atomic_op = header >> 25;
      const uint64_t addr = Addr(p[1], p[2]);
      const uint64_t src = Addr(p[3], p[4]), cmp = Addr(p[5], p[6]);
      if (atomic_op == kAtomicAdd64) {
        if (!vm_.AtomicAdd64(addr, static_cast<int64_t>(src), &fault).ok()) return Faulted(fault);
        return Step::kDone;
      }
      if (atomic_op == kAtomicSwap64 || atomic_op == kAtomicCmpSwap64) {
        auto old = vm_.Load64(addr, &fault);
        if (!old.ok()) return Faulted(fault);
        if (atomic_op == kAtomicSwap64 || static_cast<uint64_t>(old.value()) == cmp) {
          if (!vm_.Store64(addr, src, &fault).ok()) return Faulted(fault);
        }
        return Step::kDone;
      }
      char what[64];
      snprintf(what, sizeof(what), "SDMA atomic op 0x%x not executed by vkfd", atomic_op);
      return Error(what);
    }
    case kOpTimestamp: {
      if (sub == 0) return Step::kDone;  // SET: the emulated clock cannot be set
      const uint64_t clock = GpuClockCounter();
      if (!vm_.Write(Addr(p[1] & ~7u, p[2]), &clock, 8, &fault).ok()) return Faulted(fault);
      return Step::kDone;
    }
    default:
      return Error("SDMA packet not executed by vkfd");
  }
}

SdmaProcessor::Step SdmaProcessor::Error(const char* what) {
  char text[200];
  snprintf(text, sizeof(text), "%s at ring byte %" PRIu64, what, read_);
  Fail(0, config_.name + ": " + text);
  return Step::kStopped;
}

SdmaProcessor::Step SdmaProcessor::Faulted(const VmFault& fault) {
  Fault(fault);
  return Step::kStopped;
}

}  // namespace vkfd::hw

#include "hw/queue/aql_processor.h"

#include <atomic>
#include <cinttypes>
#include <cstdio>
#include <cstring>

#include "base/futex.h"
#include "base/trace.h"
#include "hw/gpu_clock.h"
#include "hw/queue/mem_op_runner.h"
#include "hw/queue/signal_ops.h"

namespace vkfd::hw {
namespace {

// hsa_packet_type_t and the header layout (hsa.h).
constexpr uint8_t kVendorSpecific = 0;
constexpr uint8_t kInvalid = 1;
constexpr uint8_t kKernelDispatch = 2;
constexpr uint8_t kBarrierAnd = 3;
constexpr uint8_t kAgentDispatch = 4;
constexpr uint8_t kBarrierOr = 5;
constexpr uint64_t kPacketBytes = 64;
constexpr uint32_t kBarrierBit = 1u << 8;
constexpr uint64_t kCompletionSignal = 0x38;
// AMD vendor packet formats (hsa_ext_amd.h: hsa_amd_packet_header).
constexpr uint16_t kAmdFormatPm4Ib = 1;
constexpr uint16_t kAmdFormatBarrierValue = 2;

template <typename T>
T Field(const uint8_t* packet, size_t offset) {
  T v;
  memcpy(&v, packet + offset, sizeof(T));
  return v;
}

// hsa_signal_condition_t for the barrier-value packet.
bool SignalConditionHolds(uint32_t cond, int64_t value, int64_t reference) {
  switch (cond) {
    case 0: return value == reference;  // EQ
    case 1: return value != reference;  // NE
    case 2: return value < reference;   // LT
    case 3: return value >= reference;  // GTE
    default: return false;
  }
}

}  // namespace

AqlProcessor::AqlProcessor(const Node& node, QueueConfig config)
    : UserQueue(node, std::move(config)),
      amd_queue_(config_.rptr_va - kReadDispatchId),
      size_pkts_(config_.ring_bytes / kPacketBytes),
      pm4_(vm_, config_.client) {
  VmFault fault;
  auto read = vm_.Load64(config_.rptr_va, &fault);
  read_index_ = read.ok() ? static_cast<uint64_t>(read.value()) : 0;
}

bool AqlProcessor::EngineBusy() const { return in_flight_ || !pending_.empty(); }

bool AqlProcessor::DeliverCompletion(uint64_t signal, uint64_t start_ts) {
  VmFault fault;
  auto properties = vm_.Load32(amd_queue_ + kQueueProperties, &fault);
  const bool profiling = properties.ok() && (properties.value() & (1u << 3)) != 0;
  const signal::Timestamps ts{start_ts, GpuClockCounter()};
  if (!signal::Complete(vm_, signal, config_.client, profiling ? &ts : nullptr, &fault).ok()) {
    Faulted(fault);
    return false;
  }
  return true;
}

bool AqlProcessor::RetireDue(int64_t* wake_at_ns) {
  const int64_t now = pending_.empty() ? 0 : MonotonicNowNs();
  while (!pending_.empty()) {
    const Pending p = pending_.front();
    if (p.due_ns > now && !stopping()) {
      *wake_at_ns = p.due_ns;
      return true;
    }
    pending_.pop_front();
    if (!DeliverCompletion(p.signal, p.start_ts)) return false;
  }
  return true;
}

bool AqlProcessor::RingHasWork() const {
  VmFault fault;
  auto write_index = vm_.Load64(config_.wptr_va, &fault);
  if (!write_index.ok()) return true;  // Service reports the fault
  if (static_cast<uint64_t>(write_index.value()) <= read_index_) return false;
  // Reserved is not written: look at the slot's header (it is written last).
  uint16_t header = 1;
  const uint64_t slot = config_.ring_va + (read_index_ % size_pkts_) * kPacketBytes;
  if (size_pkts_ == 0 || !vm_.Read(slot, &header, sizeof(header), &fault).ok()) return true;
  return (header & 0xff) != kInvalid;
}

bool AqlProcessor::ServiceEngine(uint64_t budget_bytes, int64_t* wake_at_ns) {
  const bool progress = ServicePackets(budget_bytes, wake_at_ns);
  if (!pending_.empty() && (*wake_at_ns == 0 || pending_.front().due_ns < *wake_at_ns)) {
    *wake_at_ns = pending_.front().due_ns;
  }
  return progress;
}

void AqlProcessor::Quiesce() {
  // Stop() finishes what is in flight: the completions the timing model still holds are delivered.
  while (!pending_.empty() && state() == QueueState::kRunning) {
    const Pending p = pending_.front();
    pending_.pop_front();
    if (!DeliverCompletion(p.signal, p.start_ts)) break;
  }
}

bool AqlProcessor::ServicePackets(uint64_t budget_bytes, int64_t* wake_at_ns) {
  const uint64_t doorbell = config_.doorbell->load(std::memory_order_acquire);
  bool progress = false;
  moved_ = 0;
  const size_t pending_before = pending_.size();
  if (!RetireDue(wake_at_ns)) return true;
  progress = pending_.size() != pending_before;
  for (;;) {
    if (in_flight_) {
      const Step step = Continue();
      if (step == Step::kStopped) return true;
      if (step == Step::kWaiting) {
        return progress;
      }
      progress = true;
      if (moved_ >= budget_bytes) return true;  // let the other queues run; we come back
    }
    if (stopping() || size_pkts_ == 0) return progress;
    VmFault fault;
    auto write_index = vm_.Load64(config_.wptr_va, &fault);
    if (!write_index.ok()) {
      Faulted(fault);
      return true;
    }
    if (read_index_ >= static_cast<uint64_t>(write_index.value())) {
      seen_doorbell_.store(doorbell, std::memory_order_relaxed);
      return progress;
    }
    const Step step = Begin(read_index_);
    if (step == Step::kStopped) return true;
    if (step == Step::kWaiting && !in_flight_) {
      // A slot reserved but not written yet: its writer rings the doorbell once it is.
      seen_doorbell_.store(doorbell, std::memory_order_relaxed);
      return progress;
    }
    if (step == Step::kWaiting) {
      return true;
    }
    progress = true;
    if (moved_ >= budget_bytes) return true;
  }
}

AqlProcessor::Step AqlProcessor::Begin(uint64_t index) {
  const uint64_t slot = config_.ring_va + (index % size_pkts_) * kPacketBytes;
  VmFault fault;
  // The first dword (header and setup) with acquire ordering, then the body: the producer writes
  // the body first and publishes the header last (release), so a valid header means a whole packet.
  auto dword0 = vm_.Load32(slot, &fault);
  if (!dword0.ok()) return Faulted(fault);
  if ((dword0.value() & 0xff) == kInvalid) return Step::kWaiting;
  // The barrier bit: not launched before every earlier packet has completed (signal delivered).
  if ((dword0.value() & kBarrierBit) != 0 && !pending_.empty()) return Step::kWaiting;
  std::atomic_thread_fence(std::memory_order_acquire);
  const uint32_t first = dword0.value();
  memcpy(packet_, &first, 4);
  if (!vm_.Read(slot + 4, packet_ + 4, kPacketBytes - 4, &fault).ok()) return Faulted(fault);
  const uint16_t header = Field<uint16_t>(packet_, 0);
  const uint8_t type = header & 0xff;
  in_flight_ = true;
  index_ = index;
  waiting_ = false;
  start_ts_ = GpuClockCounter();
  trace_start_ns_ = trace::On() ? trace::NowNs() : 0;
  ops_.clear();
  next_op_ = 0;
  char what[160];
  switch (type) {
    case kKernelDispatch: {
      Dispatch d;
      const uint16_t setup = Field<uint16_t>(packet_, 2);
      d.dims = setup & 3;
      for (int i = 0; i < 3; ++i) {
        d.workgroup[i] = Field<uint16_t>(packet_, 4 + 2 * i);
        d.grid[i] = Field<uint32_t>(packet_, 12 + 4 * i);
      }
      d.kernel_object = Field<uint64_t>(packet_, 0x20);
      d.kernarg = Field<uint64_t>(packet_, 0x28);
      bool bad_dims = d.dims < 1 || d.dims > 3;
      for (int i = 0; i < d.dims && !bad_dims; ++i) bad_dims = d.grid[i] == 0 || d.workgroup[i] == 0;
      if (bad_dims) {
        snprintf(what, sizeof(what), "packet %" PRIu64 ": invalid dispatch dimensions", index);
        return Error(kErrorInvalidDimension, what);
      }
      // Which kernel: cached by address, re-identified when the descriptor's bytes change.
      uint8_t descriptor[64];
      if (!vm_.Read(d.kernel_object, descriptor, sizeof(descriptor), &fault).ok()) {
        return Faulted(fault);
      }
      auto known = kernels_.find(d.kernel_object);
      if (known == kernels_.end() ||
          memcmp(known->second.descriptor, descriptor, sizeof(descriptor)) != 0) {
        Known k;
        k.identity = IdentifyKernel(vm_, d.kernel_object);
        memcpy(k.descriptor, descriptor, sizeof(descriptor));
        known = kernels_.insert_or_assign(d.kernel_object, std::move(k)).first;
      }
      const KernelIdentity& id = known->second.identity;
      if (id.kernel == nullptr) {
        return Error(kErrorIllegalInstruction,
                     "kernel '" + id.name + "' is not one vkfd runs (it runs " + NativeKernelList() +
                         "); the queue stops as on an illegal instruction");
      }
      if (trace_start_ns_ != 0) trace_name_ = id.name;
      const Status planned = id.kernel->Plan(vm_, d, &ops_, &fault);
      if (planned.code() == Code::kFault) return Faulted(fault);
      if (!planned.ok()) {
        return Error(kErrorIllegalInstruction,
                     "kernel '" + id.name + "' dispatched with arguments it cannot take");
      }
      break;
    }
    case kBarrierAnd:
    case kBarrierOr:
      if (trace_start_ns_ != 0) trace_name_ = type == kBarrierAnd ? "barrier-and" : "barrier-or";
      break;
    case kVendorSpecific: {
      const uint16_t format = Field<uint16_t>(packet_, 2);
      if (trace_start_ns_ != 0) trace_name_ = format == kAmdFormatPm4Ib ? "PM4 IB" : "barrier-value";
      if (format == kAmdFormatPm4Ib) {
        // The four dwords at +4 are a PM4 INDIRECT_BUFFER packet (ExecutePM4 in amd_aql_queue.cpp).
        pm4_.Start(slot + 4, 4);
      } else if (format != kAmdFormatBarrierValue) {
        snprintf(what, sizeof(what), "packet %" PRIu64 ": AMD vendor packet format %u", index,
                 static_cast<unsigned>(format));
        return Error(kErrorUnsupportedVendorPacket, what);
      }
      break;
    }
    case kAgentDispatch:
    default:
      snprintf(what, sizeof(what), "packet %" PRIu64 ": packet type %u on a GPU queue", index,
               static_cast<unsigned>(type));
      return Error(kErrorInvalidPacketFormat, what);
  }
  return Continue();
}

AqlProcessor::Step AqlProcessor::Continue() {
  const uint8_t type = Field<uint16_t>(packet_, 0) & 0xff;
  VmFault fault;
  switch (type) {
    case kKernelDispatch:
      while (next_op_ < ops_.size()) {
        const MemOp& op = ops_[next_op_];
        const OpResult r = RunMemOp(vm_, op, &fault);
        if (r == OpResult::kFault) return Faulted(fault);
        if (r == OpResult::kWaiting) return Step::kWaiting;
        if (op.kind == MemOp::Kind::kCopy || op.kind == MemOp::Kind::kFill) {
          moved_ += op.bytes;
          CountBytes(op.bytes);
        }
        ++next_op_;
      }
      break;
    case kBarrierAnd:
    case kBarrierOr: {
      const bool all = type == kBarrierAnd;
      bool satisfied = all;
      for (int i = 0; i < 5; ++i) {
        const uint64_t dep = Field<uint64_t>(packet_, 8 + 8 * i);
        if (dep == 0) continue;  // met for AND; no help for OR
        auto value = vm_.Load64(dep + signal::kValue, &fault);
        if (!value.ok()) return Faulted(fault);
        const bool met = value.value() == 0;
        if (all && !met) satisfied = false;
        if (!all && met) satisfied = true;
      }
      if (!satisfied) return Step::kWaiting;
      break;
    }
    case kVendorSpecific: {
      if (Field<uint16_t>(packet_, 2) == kAmdFormatBarrierValue) {
        auto value = vm_.Load64(Field<uint64_t>(packet_, 8) + signal::kValue, &fault);
        if (!value.ok()) return Faulted(fault);
        const int64_t masked = value.value() & Field<int64_t>(packet_, 0x18);
        if (!SignalConditionHolds(Field<uint32_t>(packet_, 0x20), masked,
                                  Field<int64_t>(packet_, 0x10))) {
          return Step::kWaiting;
        }
        break;
      }
      std::string error;
      switch (pm4_.Run(&fault, &error)) {
        case Pm4Engine::Result::kDone: break;
        case Pm4Engine::Result::kWaiting: return Step::kWaiting;
        case Pm4Engine::Result::kFault: return Faulted(fault);
        case Pm4Engine::Result::kError: return Error(kErrorUnsupportedVendorPacket, error);
      }
      break;
    }
    default: break;
  }
  return Complete();
}

AqlProcessor::Step AqlProcessor::Complete() {
  VmFault fault;
  const uint64_t completion = Field<uint64_t>(packet_, kCompletionSignal);
  // The slot goes back to the runtime first — INVALID header, then the read index (release) — and the
  // completion signal after: the packet processor moves past a packet when it has launched it, and its
  // completion comes at the end of its execution (HSA's order, which the timing model's delayed
  // completions follow too). Whoever sees the signal therefore sees the slot free.
  const uint16_t invalid = kInvalid;
  const uint64_t slot = config_.ring_va + (index_ % size_pkts_) * kPacketBytes;
  if (!vm_.Write(slot, &invalid, sizeof(invalid), &fault).ok()) return Faulted(fault);
  read_index_ = index_ + 1;
  if (!vm_.Store64(config_.rptr_va, read_index_, &fault).ok()) return Faulted(fault);
  if (completion != 0) {
    if (config_.completion_latency_ns != 0 && !stopping()) {
      // The timing model: visible later; the CP goes on with the next packet meanwhile.
      pending_.push_back(
          Pending{completion, start_ts_, MonotonicNowNs() + int64_t(config_.completion_latency_ns)});
    } else if (!pending_.empty()) {
      // Behind earlier delayed completions: in order.
      pending_.push_back(Pending{completion, start_ts_, pending_.back().due_ns});
    } else if (!DeliverCompletion(completion, start_ts_)) {
      return Step::kStopped;
    }
  }
  in_flight_ = false;
  CountPacket();
  if (trace_start_ns_ != 0) {
    trace::Complete(trace_track(), "queue", "packet", trace_start_ns_, trace::NowNs(),
                    {{"index", index_}, trace::Hex("completion_signal", completion)}, {},
                    trace_name_);
  }
  return Step::kDone;
}

AqlProcessor::Step AqlProcessor::Error(uint32_t code, const std::string& what) {
  VmFault fault;
  auto inactive = vm_.Load64(amd_queue_ + kQueueInactiveSignal, &fault);
  if (inactive.ok() && inactive.value() != 0) {
    // What the CP does on an error: the code into the queue's inactive signal, and its event.
    signal::Assign(vm_, static_cast<uint64_t>(inactive.value()), code, config_.client, &fault)
        .IgnoreError();  // an unreachable signal leaves the client's report as the only one
  }
  in_flight_ = false;
  Fail(code, config_.name + ": " + what);
  return Step::kStopped;
}

AqlProcessor::Step AqlProcessor::Faulted(const VmFault& fault) {
  in_flight_ = false;
  Fault(fault);
  return Step::kStopped;
}

}  // namespace vkfd::hw

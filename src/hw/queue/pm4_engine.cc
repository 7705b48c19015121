#include "hw/queue/pm4_engine.h"

#include <cinttypes>
#include <cstdio>

#include "hw/gpu_clock.h"
#include "hw/kernels/code_object.h"
#include "hw/queue/mem_op_runner.h"

namespace vkfd::hw {
namespace {

// Opcodes (soc15d.h).
constexpr uint32_t kNop = 0x10;
constexpr uint32_t kDispatchDirect = 0x15;
constexpr uint32_t kWriteData = 0x37;
constexpr uint32_t kWaitRegMem = 0x3C;
constexpr uint32_t kIndirectBuffer = 0x3F;
constexpr uint32_t kEventWrite = 0x46;
constexpr uint32_t kReleaseMem = 0x49;
constexpr uint32_t kAcquireMem = 0x58;
constexpr uint32_t kSetShReg = 0x76;

// SH registers relative to PACKET3_SET_SH_REG_START (0x2C00), gfx9.
constexpr uint32_t kComputeNumThreadX = 0x207;
constexpr uint32_t kComputePgmLo = 0x20C;
constexpr uint32_t kComputePgmHi = 0x20D;
constexpr uint32_t kComputeUserData0 = 0x240;

constexpr int kMaxNesting = 2;  // the ring (or the AQL IB's stream) and one IB level

uint32_t Type(uint32_t header) { return header >> 30; }
uint32_t Opcode(uint32_t header) { return (header >> 8) & 0xff; }
uint32_t Count(uint32_t header) { return (header >> 16) & 0x3fff; }

bool Compare(uint32_t function, uint32_t value, uint32_t reference) {
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

void Pm4Engine::Start(uint64_t va, uint64_t dwords) { frames_.push_back(Frame{va, dwords}); }

Pm4Engine::Result Pm4Engine::Run(VmFault* fault, std::string* error) {
  bytes_moved_ = 0;
  while (!frames_.empty()) {
    Frame& f = frames_.back();
    if (f.left == 0) {
      frames_.pop_back();
      continue;
    }
    uint32_t header;
    if (!vm_.Read(f.va, &header, 4, fault).ok()) return Result::kFault;
    uint64_t length;  // dwords of the whole packet
    if (Type(header) == 2) {
      length = 1;  // filler
    } else if (Type(header) != 3) {
      char text[96];
      snprintf(text, sizeof(text), "PM4 packet type %u at 0x%" PRIx64, Type(header), f.va);
      *error = text;
      return Result::kError;
    } else if (Opcode(header) == kNop && Count(header) == 0x3fff) {
      length = 1;  // the one-dword NOP of ring padding
    } else {
      length = uint64_t{Count(header)} + 2;
    }
    if (length > f.left) {
      *error = "PM4 packet runs past the end of its buffer";
      return Result::kError;
    }
    std::vector<uint32_t> p(length);
    if (!vm_.Read(f.va, p.data(), length * 4, fault).ok()) return Result::kFault;
    if (Type(header) == 3 && Opcode(header) == kIndirectBuffer) {
      // Consumed before the buffer runs, so that a wait inside it resumes there, not here.
      if (length < 4) {
        *error = "INDIRECT_BUFFER: packet too short";
        return Result::kError;
      }
      if (frames_.size() >= kMaxNesting) {
        *error = "INDIRECT_BUFFER nested deeper than the CP allows";
        return Result::kError;
      }
      f.va += length * 4;
      f.left -= length;
      const uint64_t ib = (uint64_t{p[2] & 0xffff} << 32) | (p[1] & ~3u);
      frames_.push_back(Frame{ib, p[3] & 0xfffff});
      continue;
    }
    const Result r = Type(header) == 2 ? Result::kDone : Execute(p, fault, error);
    if (r != Result::kDone) return r;
    Frame& own = frames_.back();
    own.va += length * 4;
    own.left -= length;
  }
  return Result::kDone;
}

Pm4Engine::Result Pm4Engine::Execute(const std::vector<uint32_t>& p, VmFault* fault,
                                     std::string* error) {
  const uint32_t op = Opcode(p[0]);
  auto need = [&](size_t n, const char* what) {
    if (p.size() >= n) return true;
    *error = std::string(what) + ": packet too short";
    return false;
  };
  switch (op) {
    case kNop:
    case kAcquireMem:
    case kEventWrite:
      return Result::kDone;  // caches and pipeline events: nothing to do on coherent memory
    case kWriteData: {
      if (!need(5, "WRITE_DATA")) return Result::kError;
      const uint32_t dst_sel = (p[1] >> 8) & 0xf;
      const bool one_address = (p[1] >> 16) & 1;
      if (dst_sel != 1 && dst_sel != 2 && dst_sel != 5) return Result::kDone;  // registers, GDS
      const uint64_t addr = (uint64_t{p[3]} << 32) | (p[2] & ~3u);
      for (size_t i = 4; i < p.size(); ++i) {
        const uint64_t at = one_address ? addr : addr + 4 * (i - 4);
        if (!vm_.Write(at, &p[i], 4, fault).ok()) return Result::kFault;
      }
      return Result::kDone;
    }
    case kReleaseMem: {
      if (!need(8, "RELEASE_MEM")) return Result::kError;
      const uint32_t int_sel = (p[2] >> 24) & 7;
      const uint32_t data_sel = (p[2] >> 29) & 7;
      const uint64_t addr = (uint64_t{p[4]} << 32) | p[3];
      const uint64_t data = (uint64_t{p[6]} << 32) | p[5];
      const Status written = [&] {
        if (data_sel == 1) return vm_.Write(addr & ~3ull, &p[5], 4, fault);
        if (data_sel == 2) return vm_.Write(addr & ~7ull, &data, 8, fault);
        if (data_sel == 3 || data_sel == 4) {
          const uint64_t clock = GpuClockCounter();
          return vm_.Write(addr & ~7ull, &clock, 8, fault);
        }
        return Status::Ok();
      }();
      if (!written.ok()) return Result::kFault;
      if (int_sel != 0 && int_sel != 3 && client_ != nullptr) client_->OnInterrupt(p[7], 32);
      return Result::kDone;
    }
    case kWaitRegMem: {
      if (!need(7, "WAIT_REG_MEM")) return Result::kError;
      const uint32_t function = p[1] & 7;
      const bool memory = ((p[1] >> 4) & 3) == 1;
      if (!memory) return Result::kDone;  // no registers to poll on the emulated GPU
      const uint64_t addr = (uint64_t{p[3]} << 32) | (p[2] & ~3u);
      auto value = vm_.Load32(addr, fault);
      if (!value.ok()) return Result::kFault;
      return Compare(function, value.value() & p[5], p[4]) ? Result::kDone : Result::kWaiting;
    }
    case kSetShReg: {
      if (!need(3, "SET_SH_REG")) return Result::kError;
      for (size_t i = 2; i < p.size(); ++i) {
        const uint32_t reg = p[1] + static_cast<uint32_t>(i - 2);
        if (reg == kComputePgmLo) pgm_addr_ = (pgm_addr_ & ~0xffffffffull) | p[i];
        if (reg == kComputePgmHi) pgm_addr_ = (pgm_addr_ & 0xffffffffull) | (uint64_t{p[i]} << 32);
        if (reg >= kComputeUserData0 && reg < kComputeUserData0 + 16) {
          user_data_[reg - kComputeUserData0] = p[i];
        }
        if (reg >= kComputeNumThreadX && reg < kComputeNumThreadX + 3) {
          num_threads_[reg - kComputeNumThreadX] = p[i] & 0xffff;
        }
      }
      return Result::kDone;
    }
    case kDispatchDirect: {
      if (!need(5, "DISPATCH_DIRECT")) return Result::kError;
      if (dispatch_ops_.empty()) {
        const uint64_t code = pgm_addr_ << 8;
        auto symbol = SymbolAt(vm_, code, SymbolKind::kCode);
        const std::string name = symbol.ok() ? symbol->name : "<unnamed code>";
        const NativeKernel* kernel = nullptr;
        for (const auto* family : {&RocclrBlitKernels()}) {
          for (const NativeKernel* k : *family) {
            if (name == k->name()) kernel = k;
          }
        }
        if (kernel == nullptr) {
          *error = "kernel '" + name + "' is not one vkfd runs (it runs " + NativeKernelList() + ")";
          return Result::kError;
        }
        // The descriptor says which user SGPRs precede the kernarg pointer.
        auto kd = SymbolAddress(vm_, symbol->image_base, name + ".kd");
        uint32_t properties = 0;
        if (!kd.ok() || !vm_.Read(kd.value() + 0x38, &properties, 4, fault).ok()) {
          *error = "kernel '" + name + "' has no readable descriptor";
          return Result::kError;
        }
        const int sgpr = 4 * (properties & 1) + 2 * ((properties >> 1) & 1) +
                         2 * ((properties >> 2) & 1);
        Dispatch d;
        d.dims = 3;
        for (int i = 0; i < 3; ++i) d.grid[i] = p[1 + i] * (num_threads_[i] ? num_threads_[i] : 1);
        d.kernel_object = kd.value();
        d.kernarg = (uint64_t{user_data_[sgpr + 1]} << 32) | user_data_[sgpr];
        std::vector<MemOp> ops;
        const Status planned = kernel->Plan(vm_, d, &ops, fault);
        if (planned.code() == Code::kFault) return Result::kFault;
        if (!planned.ok()) {
          *error = "kernel '" + name + "' with arguments it cannot take";
          return Result::kError;
        }
        dispatch_ops_ = std::move(ops);
        dispatch_next_ = 0;
      }
      while (dispatch_next_ < dispatch_ops_.size()) {
        const MemOp& op = dispatch_ops_[dispatch_next_];
        const OpResult r = RunMemOp(vm_, op, fault);
        if (r == OpResult::kFault) return Result::kFault;
        if (r == OpResult::kWaiting) return Result::kWaiting;
        if (op.kind == MemOp::Kind::kCopy || op.kind == MemOp::Kind::kFill) bytes_moved_ += op.bytes;
        ++dispatch_next_;
      }
      dispatch_ops_.clear();
      return Result::kDone;
    }
    default: {
      char text[64];
      snprintf(text, sizeof(text), "PM4 opcode 0x%02x is not executed by vkfd", op);
      *error = text;
      return Result::kError;
    }
  }
}

}  // namespace vkfd::hw

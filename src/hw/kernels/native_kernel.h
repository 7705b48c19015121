// Native kernels: vkfd runs no GPU machine code. The few fixed kernels the ROCm 5.2 runtime dispatches
// for its own memory work — ROCr's blit shaders (CopyAligned, CopyMisaligned, Fill) and the HIP
// runtime's (ROCclr's) blit kernels — are implemented here in C++, as high-level emulation: each reads
// its kernel arguments through the dispatching GPU's page tables and turns them into memory
// operations (MemOps) over GPU VAs, with exactly the effect the kernel's work-items have. The engine
// executes the operations through the same page tables, so every byte a kernel touches is translated,
// and a page the process has not mapped on that GPU faults.
//
// Identification (docs/gpu-side.md): ROCr's shaders are raw ISA arrays, not code objects — a
// 256-byte amd_kernel_code_t header at the dispatch's kernel_object and the ISA after it; they are
// recognised by their header fields and the exact bytes of the ISA (hashed). Every other kernel comes
// from a code object that ROCr's loader copied into GPU memory whole, ELF header first; the kernel is
// named by the symbol `<name>.kd` whose value is the descriptor's offset in that image, and the native
// implementation is chosen by that name. A dispatch of anything else fails loudly: the queue stops with
// an error naming the kernel and listing the ones vkfd runs.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "base/status.h"
#include "hw/vm_access.h"

namespace vkfd::hw {

// One memory operation of a kernel (or of an SDMA packet): executed in order by the engine.
struct MemOp {
  enum class Kind : uint8_t {
    kCopy,     // bytes from src to dst
    kFill,     // bytes at dst, pattern repeated from its first byte
    kStore32,  // value (low 32 bits) at dst
    kStore64,  // value at dst
    kWait32,   // until (load32(dst) & mask) compares with value as `cond` says
    kWait64,
  };
  // ROCclr's stream-wait comparisons (amdblit.cl __amd_streamOpsWait).
  enum class Cond : uint8_t { kGeq = 0, kEq = 1, kAnd = 2, kNor = 3 };
  static constexpr size_t kMaxPattern = 128;

  Kind kind = Kind::kCopy;
  uint64_t dst = 0;
  uint64_t src = 0;
  uint64_t bytes = 0;
  uint64_t value = 0;
  uint64_t mask = ~0ull;
  Cond cond = Cond::kEq;
  uint8_t pattern_size = 0;
  uint8_t pattern[kMaxPattern] = {};
};

// What a kernel sees of its launch (hsa_kernel_dispatch_packet_t).
struct Dispatch {
  int dims = 1;
  uint32_t grid[3] = {1, 1, 1};       // work-items per dimension
  uint32_t workgroup[3] = {1, 1, 1};
  uint64_t kernel_object = 0;
  uint64_t kernarg = 0;
};

class NativeKernel {
 public:
  virtual ~NativeKernel() = default;
  // The symbol name ("__amd_rocclr_copyBuffer") or ROCr's shader name ("CopyAligned").
  virtual const char* name() const = 0;
  // The operations the dispatch performs, in order. kFault (*fault set) when the kernel arguments
  // cannot be read; kInvalidArgs for arguments the kernel cannot have been given (the queue fails).
  virtual Status Plan(const VmAccess& vm, const Dispatch& dispatch, std::vector<MemOp>* ops,
                      VmFault* fault) const = 0;
};

// Which native kernel runs a dispatch of `kernel_object` on this VM. `kernel` is null for a kernel
// vkfd does not run; `name` then says as much as could be found out (the symbol, or a description).
struct KernelIdentity {
  const NativeKernel* kernel = nullptr;
  std::string name;
};
KernelIdentity IdentifyKernel(const VmAccess& vm, uint64_t kernel_object);

// "CopyAligned, CopyMisaligned, Fill (ROCr); __amd_rocclr_copyBuffer, ... (HIP)": for messages.
std::string NativeKernelList();

// The kernels by family, for the registry and tests (hw/kernels/*.cc).
const std::vector<const NativeKernel*>& RocrBlitKernels();
const std::vector<const NativeKernel*>& RocclrBlitKernels();
// The ROCr shader whose header and ISA are at `kernel_object`, or null.
const NativeKernel* IdentifyRocrBlit(const VmAccess& vm, uint64_t kernel_object);

}  // namespace vkfd::hw

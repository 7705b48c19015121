// ROCr 5.2's own blit shaders (amd_blit_kernel.cpp): CopyAligned, CopyMisaligned and Fill, the
// kernels ROCr's loader uses to copy code objects into VRAM and hsa_memory_copy/hsa_amd_memory_fill
// use for memory work. They are raw ISA arrays (amd_gpu_shaders.h), placed by GpuAgent::AssembleShader
// behind a 256-byte amd_kernel_code_t header in system memory; kernel_object is the header's address.
//
// Recognition: the header's fields as AssembleShader writes them (entry offset 0x100, code properties
// 8, the version fields zero, rsrc1/rsrc2 per kernel) and a hash of the exact ISA bytes at +256 — the
// gfx9/gfx90a (`*8`) arrays, and the gfx10 ones. The hashes are FNV-1a 64 of those byte strings as
// Debian's libhsa-runtime64 5.2.3 carries them.
//
// Arguments (union KernelArgs, amd_blit_kernel.h) and effect: the phases of each shader copy or fill
// consecutive ranges; together they are memcpy(dst, src, size) and a 32-bit fill. Each phase is
// planned as its own operation, so arguments that do not chain (a hand-made dispatch) still do what
// the shader's loops would.
#include <cstring>

#include "hw/kernels/native_kernel.h"

namespace vkfd::hw {
namespace {

struct Header {
  uint8_t zero[16];
  uint64_t entry_offset;       // 0x10
  uint8_t pad[0x30 - 0x18];
  uint32_t rsrc1;              // 0x30
  uint32_t rsrc2;              // 0x34
  uint32_t code_properties;    // 0x38
};
static_assert(offsetof(Header, rsrc1) == 0x30 && offsetof(Header, code_properties) == 0x38);

uint64_t Fnv1a(const uint8_t* p, size_t n) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (size_t i = 0; i < n; ++i) {
    h ^= p[i];
    h *= 0x100000001b3ull;
  }
  return h;
}

struct Isa {
  uint32_t bytes;
  uint64_t fnv;
};

class RocrKernel : public NativeKernel {
 public:
  enum class Which { kCopyAligned, kCopyMisaligned, kFill };
  RocrKernel(Which which, const char* name, uint32_t rsrc1, Isa gfx9, Isa gfx10)
      : which_(which), name_(name), rsrc1_(rsrc1), isas_{gfx9, gfx10} {}

  const char* name() const override { return name_; }

  bool Matches(const VmAccess& vm, uint64_t kernel_object, const Header& h) const {
    if (h.rsrc1 != rsrc1_) return false;
    for (const Isa& isa : isas_) {
      uint8_t code[512];
      VmFault fault;
      if (isa.bytes > sizeof(code) || !vm.Read(kernel_object + 256, code, isa.bytes, &fault).ok()) {
        continue;
      }
      if (Fnv1a(code, isa.bytes) == isa.fnv) return true;
    }
    return false;
  }

  Status Plan(const VmAccess& vm, const Dispatch& d, std::vector<MemOp>* ops,
              VmFault* fault) const override {
    uint64_t a[11] = {};
    const size_t words = which_ == Which::kCopyAligned ? 10 : which_ == Which::kCopyMisaligned ? 6 : 3;
    VKFD_RETURN_IF_ERROR(vm.Read(d.kernarg, a, words * sizeof(uint64_t), fault));
    auto copy = [&](uint64_t src, uint64_t src_end, uint64_t dst) {
      if (src_end <= src) return;
      MemOp op;
      op.kind = MemOp::Kind::kCopy;
      op.src = src;
      op.dst = dst;
      op.bytes = src_end - src;
      ops->push_back(op);
    };
    switch (which_) {
      case Which::kCopyAligned:
        // phase n copies [src_n, src_{n+1}) to dst_n; the loops compare source addresses.
        copy(a[0], a[2], a[1]);
        copy(a[2], a[4], a[3]);
        copy(a[4], a[6], a[5]);
        copy(a[6], a[8], a[7]);
        break;
      case Which::kCopyMisaligned:
        copy(a[0], a[2], a[1]);
        copy(a[2], a[4], a[3]);
        break;
      case Which::kFill: {
        uint32_t value;
        VKFD_RETURN_IF_ERROR(vm.Read(d.kernarg + 0x18, &value, sizeof(value), fault));
        if (a[2] > a[0]) {
          MemOp op;
          op.kind = MemOp::Kind::kFill;
          op.dst = a[0];
          op.bytes = a[2] - a[0];
          op.pattern_size = 4;
          memcpy(op.pattern, &value, 4);
          ops->push_back(op);
        }
        break;
      }
    }
    return Status::Ok();
  }

 private:
  const Which which_;
  const char* const name_;
  const uint32_t rsrc1_;
  const Isa isas_[2];
};

// rsrc1 values from amd_gpu_agent.cpp's AssembleShader; ISA sizes and hashes of kCode*8 and kCode*10.
const RocrKernel kCopyAligned(RocrKernel::Which::kCopyAligned, "CopyAligned", 0x008c00c2,
                              Isa{496, 0xc9ed7ddde0f282c7ull}, Isa{500, 0x100ef5cb91f12135ull});
const RocrKernel kCopyMisaligned(RocrKernel::Which::kCopyMisaligned, "CopyMisaligned", 0x008c0082,
                                 Isa{412, 0x7625bfdd9a90794dull}, Isa{416, 0x8fe4ca08f2579c2bull});
const RocrKernel kFill(RocrKernel::Which::kFill, "Fill", 0x008c0081, Isa{188, 0xc3fd25e8e46c95f0ull},
                       Isa{192, 0x4ed0836003ce8f92ull});

}  // namespace

const std::vector<const NativeKernel*>& RocrBlitKernels() {
  static const std::vector<const NativeKernel*> kernels = {&kCopyAligned, &kCopyMisaligned, &kFill};
  return kernels;
}

const NativeKernel* IdentifyRocrBlit(const VmAccess& vm, uint64_t kernel_object) {
  Header h;
  VmFault fault;
  if (!vm.Read(kernel_object, &h, sizeof(h), &fault).ok()) return nullptr;
  static const uint8_t kZero[16] = {};
  if (memcmp(h.zero, kZero, sizeof(kZero)) != 0 || h.entry_offset != 0x100 ||
      h.code_properties != 8) {
    return nullptr;
  }
  for (const RocrKernel* k : {&kCopyAligned, &kCopyMisaligned, &kFill}) {
    if (k->Matches(vm, kernel_object, h)) return k;
  }
  return nullptr;
}

}  // namespace vkfd::hw

// The HIP runtime's blit kernels (ROCclr 5.2, device/blitcl.cpp and the device library's amdblit.cl),
// which ROCclr compiles at run time with comgr (code object v4) and dispatches for hipMemcpy* between
// device buffers, hipMemset*, rectangular copies and stream operations. Recognised by symbol name.
//
// Kernel-argument layouts (code object v4; explicit arguments with natural alignment, hidden
// arguments after them, hidden_global_offset_x/y/z first) and the per-work-item behaviour follow the
// kernels' source. The effect of all work-items is planned as ranges: work-items with an id beyond
// the kernel's own bound do nothing, and ids are global ids (hidden_global_offset included), so a
// dispatch with an unusual grid does exactly what the kernel would.
#include <algorithm>
#include <cstring>

#include "hw/kernels/native_kernel.h"

namespace vkfd::hw {
namespace {

template <typename T>
Status Arg(const VmAccess& vm, const Dispatch& d, uint64_t offset, T* out, VmFault* fault) {
  return vm.Read(d.kernarg + offset, out, sizeof(T), fault);
}

uint64_t Items(const Dispatch& d, int dim) { return d.dims > dim ? d.grid[dim] : 1; }

void AddCopy(std::vector<MemOp>* ops, uint64_t dst, uint64_t src, uint64_t bytes) {
  if (bytes == 0) return;
  // Rows that continue the previous copy become one operation.
  if (!ops->empty()) {
    MemOp& last = ops->back();
    if (last.kind == MemOp::Kind::kCopy && last.dst + last.bytes == dst &&
        last.src + last.bytes == src) {
      last.bytes += bytes;
      return;
    }
  }
  MemOp op;
  op.kind = MemOp::Kind::kCopy;
  op.dst = dst;
  op.src = src;
  op.bytes = bytes;
  ops->push_back(op);
}

// [lo, hi) of global ids in dimension 0 that exist: the grid shifted by the global offset.
struct IdRange {
  uint64_t lo, hi;
};
IdRange Ids(const Dispatch& d, uint64_t offset_x) { return IdRange{offset_x, offset_x + Items(d, 0)}; }

// __amd_rocclr_copyBuffer(uchar* srcI, uchar* dstI, ulong srcOrigin, ulong dstOrigin, ulong size,
// uint remain): work-item id < size-1 copies the uint at byte 4·id, id == size-1 copies `remain`
// bytes there (remain 8 is the byte-copy variant: each id copies one byte). Hidden offsets at 48.
class CopyBuffer : public NativeKernel {
 public:
  const char* name() const override { return "__amd_rocclr_copyBuffer"; }
  Status Plan(const VmAccess& vm, const Dispatch& d, std::vector<MemOp>* ops,
              VmFault* fault) const override {
    uint64_t src, dst, src_origin, dst_origin, size, offset_x;
    uint32_t remain;
    VKFD_RETURN_IF_ERROR(Arg(vm, d, 0, &src, fault));
    VKFD_RETURN_IF_ERROR(Arg(vm, d, 8, &dst, fault));
    VKFD_RETURN_IF_ERROR(Arg(vm, d, 16, &src_origin, fault));
    VKFD_RETURN_IF_ERROR(Arg(vm, d, 24, &dst_origin, fault));
    VKFD_RETURN_IF_ERROR(Arg(vm, d, 32, &size, fault));
    VKFD_RETURN_IF_ERROR(Arg(vm, d, 40, &remain, fault));
    VKFD_RETURN_IF_ERROR(Arg(vm, d, 48, &offset_x, fault));
    const IdRange ids = Ids(d, offset_x);
    const uint64_t lo = ids.lo, hi = std::min(ids.hi, size);
    if (lo >= hi) return Status::Ok();
    src += src_origin;
    dst += dst_origin;
    if (remain == 8) {
      AddCopy(ops, dst + lo, src + lo, hi - lo);
      return Status::Ok();
    }
    if (remain > 4) return Status(Code::kInvalidArgs);
    // Whole uints for ids below size-1, then the tail of the last id.
    const uint64_t whole_hi = std::min(hi, size - 1);
    if (whole_hi > lo) AddCopy(ops, dst + 4 * lo, src + 4 * lo, 4 * (whole_hi - lo));
    if (hi == size && size >= 1) AddCopy(ops, dst + 4 * (size - 1), src + 4 * (size - 1), remain);
    return Status::Ok();
  }
};

// __amd_rocclr_copyBufferAligned(uint* src, uint* dst, ulong srcOrigin, ulong dstOrigin, ulong size,
// uint alignment): origins and size in elements of 16 bytes (alignment 16) or 4 bytes.
class CopyBufferAligned : public NativeKernel {
 public:
  const char* name() const override { return "__amd_rocclr_copyBufferAligned"; }
  Status Plan(const VmAccess& vm, const Dispatch& d, std::vector<MemOp>* ops,
              VmFault* fault) const override {
    uint64_t src, dst, src_origin, dst_origin, size, offset_x;
    uint32_t alignment;
    VKFD_RETURN_IF_ERROR(Arg(vm, d, 0, &src, fault));
    VKFD_RETURN_IF_ERROR(Arg(vm, d, 8, &dst, fault));
    VKFD_RETURN_IF_ERROR(Arg(vm, d, 16, &src_origin, fault));
    VKFD_RETURN_IF_ERROR(Arg(vm, d, 24, &dst_origin, fault));
    VKFD_RETURN_IF_ERROR(Arg(vm, d, 32, &size, fault));
    VKFD_RETURN_IF_ERROR(Arg(vm, d, 40, &alignment, fault));
    VKFD_RETURN_IF_ERROR(Arg(vm, d, 48, &offset_x, fault));
    const uint64_t e = alignment == 16 ? 16 : 4;
    const IdRange ids = Ids(d, offset_x);
    const uint64_t lo = ids.lo, hi = std::min(ids.hi, size);
    if (lo < hi) {
      AddCopy(ops, dst + e * (dst_origin + lo), src + e * (src_origin + lo), e * (hi - lo));
    }
    return Status::Ok();
  }
};

// Which of bufUChar/bufUShort/bufUInt/bufULong (args 0..3) is set gives the element width.
Status FillTarget(const VmAccess& vm, const Dispatch& d, uint64_t* buf, uint64_t* width,
                  VmFault* fault) {
  uint64_t bufs[4];
  VKFD_RETURN_IF_ERROR(vm.Read(d.kernarg, bufs, sizeof(bufs), fault));
  static constexpr uint64_t kWidths[4] = {1, 2, 4, 8};
  for (int i = 0; i < 4; ++i) {
    if (bufs[i] != 0) {
      *buf = bufs[i];
      *width = kWidths[i];
      return Status::Ok();
    }
  }
  return Status(Code::kInvalidArgs);
}

Status ReadPattern(const VmAccess& vm, uint64_t pattern, uint64_t bytes, MemOp* op, VmFault* fault) {
  if (bytes == 0 || bytes > MemOp::kMaxPattern) return Status(Code::kInvalidArgs);
  op->pattern_size = static_cast<uint8_t>(bytes);
  return vm.Read(pattern, op->pattern, bytes, fault);
}

// __amd_rocclr_fillBufferAligned(uchar*, ushort*, uint*, ulong*, constant uchar* pattern,
// uint patternSize, ulong offset, ulong size): work-item id < size writes the pattern (patternSize
// elements) at element offset + id·patternSize. Hidden offsets at 64.
class FillBufferAligned : public NativeKernel {
 public:
  const char* name() const override { return "__amd_rocclr_fillBufferAligned"; }
  Status Plan(const VmAccess& vm, const Dispatch& d, std::vector<MemOp>* ops,
              VmFault* fault) const override {
    uint64_t buf, width, pattern, offset, size, offset_x;
    uint32_t pattern_elems;
    VKFD_RETURN_IF_ERROR(FillTarget(vm, d, &buf, &width, fault));
    VKFD_RETURN_IF_ERROR(Arg(vm, d, 32, &pattern, fault));
    VKFD_RETURN_IF_ERROR(Arg(vm, d, 40, &pattern_elems, fault));
    VKFD_RETURN_IF_ERROR(Arg(vm, d, 48, &offset, fault));
    VKFD_RETURN_IF_ERROR(Arg(vm, d, 56, &size, fault));
    VKFD_RETURN_IF_ERROR(Arg(vm, d, 64, &offset_x, fault));
    const IdRange ids = Ids(d, offset_x);
    const uint64_t lo = ids.lo, hi = std::min(ids.hi, size);
    if (lo >= hi) return Status::Ok();
    MemOp op;
    op.kind = MemOp::Kind::kFill;
    const uint64_t pattern_bytes = uint64_t{pattern_elems} * width;
    VKFD_RETURN_IF_ERROR(ReadPattern(vm, pattern, pattern_bytes, &op, fault));
    op.dst = buf + (offset + lo * pattern_elems) * width;
    op.bytes = (hi - lo) * pattern_bytes;
    ops->push_back(op);
    return Status::Ok();
  }
};

// __amd_rocclr_fillBufferAligned2D(uchar*, ushort*, uint*, ulong*, constant uchar* pattern,
// uint patternSize, ulong origin, ulong width, ulong height, ulong pitch): work-item (x, y) with
// x < width and y < height writes the pattern at element origin + y·pitch + x. Hidden offsets at 80.
class FillBufferAligned2D : public NativeKernel {
 public:
  const char* name() const override { return "__amd_rocclr_fillBufferAligned2D"; }
  Status Plan(const VmAccess& vm, const Dispatch& d, std::vector<MemOp>* ops,
              VmFault* fault) const override {
    uint64_t buf, elem, pattern, origin, width, height, pitch, off[2];
    uint32_t pattern_elems;
    VKFD_RETURN_IF_ERROR(FillTarget(vm, d, &buf, &elem, fault));
    VKFD_RETURN_IF_ERROR(Arg(vm, d, 32, &pattern, fault));
    VKFD_RETURN_IF_ERROR(Arg(vm, d, 40, &pattern_elems, fault));
    VKFD_RETURN_IF_ERROR(Arg(vm, d, 48, &origin, fault));
    VKFD_RETURN_IF_ERROR(Arg(vm, d, 56, &width, fault));
    VKFD_RETURN_IF_ERROR(Arg(vm, d, 64, &height, fault));
    VKFD_RETURN_IF_ERROR(Arg(vm, d, 72, &pitch, fault));
    VKFD_RETURN_IF_ERROR(vm.Read(d.kernarg + 80, off, sizeof(off), fault));
    MemOp proto;
    proto.kind = MemOp::Kind::kFill;
    VKFD_RETURN_IF_ERROR(ReadPattern(vm, pattern, uint64_t{pattern_elems} * elem, &proto, fault));
    const uint64_t x_lo = off[0], x_hi = std::min(off[0] + Items(d, 0), width);
    const uint64_t y_lo = off[1], y_hi = std::min(off[1] + Items(d, 1), height);
    if (x_lo >= x_hi) return Status::Ok();
    for (uint64_t y = y_lo; y < y_hi; ++y) {
      if (pattern_elems == 1) {
        MemOp op = proto;
        op.dst = buf + (origin + y * pitch + x_lo) * elem;
        op.bytes = (x_hi - x_lo) * elem;
        ops->push_back(op);
        continue;
      }
      // Overlapping patterns: work-items in increasing x, each writing its whole pattern.
      for (uint64_t x = x_lo; x < x_hi; ++x) {
        MemOp op = proto;
        op.dst = buf + (origin + y * pitch + x) * elem;
        op.bytes = proto.pattern_size;
        ops->push_back(op);
      }
    }
    return Status::Ok();
  }
};

// __amd_rocclr_copyBufferRect / copyBufferRectAligned(src, dst, ulong4 srcRect, ulong4 dstRect,
// ulong4 size): rect = {rowPitch, slicePitch, start, -}, size = {x, y, z, w}; work-item (x, y, z)
// within size copies one element at start + x + y·rowPitch + z·slicePitch — a byte, or for the
// aligned kernel a uint4 (w == 16) or a uint. Hidden offsets at 128.
class CopyBufferRect : public NativeKernel {
 public:
  explicit CopyBufferRect(bool aligned) : aligned_(aligned) {}
  const char* name() const override {
    return aligned_ ? "__amd_rocclr_copyBufferRectAligned" : "__amd_rocclr_copyBufferRect";
  }
  Status Plan(const VmAccess& vm, const Dispatch& d, std::vector<MemOp>* ops,
              VmFault* fault) const override {
    uint64_t src, dst, src_rect[4], dst_rect[4], size[4], off[3];
    VKFD_RETURN_IF_ERROR(Arg(vm, d, 0, &src, fault));
    VKFD_RETURN_IF_ERROR(Arg(vm, d, 8, &dst, fault));
    VKFD_RETURN_IF_ERROR(vm.Read(d.kernarg + 32, src_rect, sizeof(src_rect), fault));
    VKFD_RETURN_IF_ERROR(vm.Read(d.kernarg + 64, dst_rect, sizeof(dst_rect), fault));
    VKFD_RETURN_IF_ERROR(vm.Read(d.kernarg + 96, size, sizeof(size), fault));
    VKFD_RETURN_IF_ERROR(vm.Read(d.kernarg + 128, off, sizeof(off), fault));
    const uint64_t e = !aligned_ ? 1 : size[3] == 16 ? 16 : 4;
    const uint64_t x_lo = off[0], x_hi = std::min(off[0] + Items(d, 0), size[0]);
    const uint64_t y_lo = off[1], y_hi = std::min(off[1] + Items(d, 1), size[1]);
    const uint64_t z_lo = off[2], z_hi = std::min(off[2] + Items(d, 2), size[2]);
    if (x_lo >= x_hi) return Status::Ok();
    if ((y_hi - std::min(y_lo, y_hi)) * (z_hi - std::min(z_lo, z_hi)) > (1u << 24)) {
      return Status(Code::kInvalidArgs);  // beyond what a dispatch grid can hold
    }
    for (uint64_t z = z_lo; z < z_hi; ++z) {
      for (uint64_t y = y_lo; y < y_hi; ++y) {
        const uint64_t s = src_rect[2] + x_lo + y * src_rect[0] + z * src_rect[1];
        const uint64_t t = dst_rect[2] + x_lo + y * dst_rect[0] + z * dst_rect[1];
        AddCopy(ops, dst + e * t, src + e * s, e * (x_hi - x_lo));
      }
    }
    return Status::Ok();
  }

 private:
  const bool aligned_;
};

// __amd_rocclr_streamOpsWrite(uint* ptrInt, ulong* ptrUlong, ulong value, ulong sizeBytes): a
// 32-bit store when ptrInt is set, else a 64-bit one.
class StreamOpsWrite : public NativeKernel {
 public:
  const char* name() const override { return "__amd_rocclr_streamOpsWrite"; }
  Status Plan(const VmAccess& vm, const Dispatch& d, std::vector<MemOp>* ops,
              VmFault* fault) const override {
    uint64_t a[3];
    VKFD_RETURN_IF_ERROR(vm.Read(d.kernarg, a, sizeof(a), fault));
    MemOp op;
    op.kind = a[0] != 0 ? MemOp::Kind::kStore32 : MemOp::Kind::kStore64;
    op.dst = a[0] != 0 ? a[0] : a[1];
    op.value = a[2];
    if (op.dst == 0) return Status(Code::kInvalidArgs);
    ops->push_back(op);
    return Status::Ok();
  }
};

// __amd_rocclr_streamOpsWait(uint* ptrInt, ulong* ptrUlong, ulong value, ulong flags, ulong mask):
// spins until the comparison `flags` holds. The engine parks the queue instead of spinning.
class StreamOpsWait : public NativeKernel {
 public:
  const char* name() const override { return "__amd_rocclr_streamOpsWait"; }
  Status Plan(const VmAccess& vm, const Dispatch& d, std::vector<MemOp>* ops,
              VmFault* fault) const override {
    uint64_t a[5];
    VKFD_RETURN_IF_ERROR(vm.Read(d.kernarg, a, sizeof(a), fault));
    if (a[3] > 3) return Status(Code::kInvalidArgs);
    MemOp op;
    op.kind = a[0] != 0 ? MemOp::Kind::kWait32 : MemOp::Kind::kWait64;
    op.dst = a[0] != 0 ? a[0] : a[1];
    op.value = a[2];
    op.cond = static_cast<MemOp::Cond>(a[3]);
    op.mask = a[4];
    if (op.dst == 0) return Status(Code::kInvalidArgs);
    ops->push_back(op);
    return Status::Ok();
  }
};

// __amd_rocclr_gwsInit(uint value): initialises the GWS counter for cooperative launches; the
// emulated GPU keeps no GWS state, so it has no effect.
class GwsInit : public NativeKernel {
 public:
  const char* name() const override { return "__amd_rocclr_gwsInit"; }
  Status Plan(const VmAccess&, const Dispatch&, std::vector<MemOp>*, VmFault*) const override {
    return Status::Ok();
  }
};

const CopyBuffer kCopyBuffer;
const CopyBufferAligned kCopyBufferAligned;
const FillBufferAligned kFillBufferAligned;
const FillBufferAligned2D kFillBufferAligned2D;
const CopyBufferRect kCopyBufferRect(false);
const CopyBufferRect kCopyBufferRectAligned(true);
const StreamOpsWrite kStreamOpsWrite;
const StreamOpsWait kStreamOpsWait;
const GwsInit kGwsInit;

}  // namespace

const std::vector<const NativeKernel*>& RocclrBlitKernels() {
  static const std::vector<const NativeKernel*> kernels = {
      &kCopyBuffer,      &kCopyBufferAligned,     &kFillBufferAligned,
      &kFillBufferAligned2D, &kCopyBufferRect,    &kCopyBufferRectAligned,
      &kStreamOpsWrite,  &kStreamOpsWait,         &kGwsInit};
  return kernels;
}

}  // namespace vkfd::hw

// VmAccess: how an engine of one GPU reaches memory — every address it reads or writes is a GPU VA
// translated through one VM's page tables (the process's VM on that GPU), as the GPU's MMU does: the
// walker reads the tables from GPU memory, so an engine sees exactly what the DMA engine has written.
// Local VRAM, a hive peer's VRAM, a PCIe peer's BAR and system memory (GTT, userptr) all come out of
// the same translation.
//
// A VA that is not mapped, or a write through an entry without WRITEABLE, is a GPU page fault: the
// access fails with kFault and fills a VmFault (the first faulting address, whether it was a write,
// whether the page was present). Nothing is written past the fault. The client's own memory (userptr
// windows) may vanish while an engine uses it; those bytes are touched only through guarded copies
// (base/user_memory.h), so a vanished page is a fault too, never a crash.
//
// Translations are cached, as a GPU's TLB caches them: a few leaf entries, each valid while the GPU's
// page tables (PageTablePool::generation) and the system bus's windows (SystemBus::generation) are
// unchanged, so a packet processor polling a ring pays one page walk, not one per load. A cached
// entry never outlives an update: any page-table job or bus unmap invalidates them all (stricter
// than hardware, whose TLB keeps entries until the driver flushes it). Cheap to construct. Not
// thread-safe: one thread at a time uses an instance (an engine's, under its run flag).
#pragma once

#include <cstddef>
#include <cstdint>

#include "base/status.h"
#include "hw/node.h"

namespace vkfd::hw {

struct VmFault {
  uint64_t va = 0;
  bool write = false;
  bool present = false;  // the page is mapped, the access was not allowed (a write to read-only)
};

class VmAccess {
 public:
  VmAccess(const Node& node, size_t gpu_index, uint64_t root_phys)
      : node_(node), gpu_index_(gpu_index), root_phys_(root_phys) {}

  size_t gpu_index() const { return gpu_index_; }

  // Copies between the VM and the host (the engine's own buffers).
  Status Read(uint64_t va, void* dst, size_t n, VmFault* fault) const;
  Status Write(uint64_t va, const void* src, size_t n, VmFault* fault) const;
  // Copies within the VM, front to back (no overlap handling, as the engines' copy loops).
  Status Copy(uint64_t dst, uint64_t src, uint64_t n, VmFault* fault) const;
  // Writes `n` bytes at `dst` with `pattern` (1..16 bytes) repeated, starting at pattern byte 0.
  Status Fill(uint64_t dst, const void* pattern, size_t pattern_size, uint64_t n,
              VmFault* fault) const;
  // Naturally aligned 64-bit atomics on VM memory (signal values): the value after the add, or the
  // value loaded. Misaligned or unmapped: kFault.
  Result<int64_t> AtomicAdd64(uint64_t va, int64_t delta, VmFault* fault) const;
  Result<int64_t> Load64(uint64_t va, VmFault* fault) const;
  Status Store64(uint64_t va, uint64_t value, VmFault* fault) const;
  Result<uint32_t> Load32(uint64_t va, VmFault* fault) const;
  // A release store of 32 bits (publishing an AQL packet's header after its body).
  Status Store32(uint64_t va, uint32_t value, VmFault* fault) const;
  // Compare-and-swap of 64 bits: the value found (the swap happened if it equals `expected`).
  Result<uint64_t> CompareExchange64(uint64_t va, uint64_t expected, uint64_t desired,
                                     VmFault* fault) const;

 private:
  // The host bytes behind [va, va + len) as far as one page-table leaf reaches (at most len), with
  // the permission check of a read or a write.
  struct Span {
    uint8_t* host = nullptr;
    uint64_t len = 0;
    bool client = false;
  };
  Status MapSpan(uint64_t va, uint64_t len, bool write, Span* span, VmFault* fault) const;

  struct CachedLeaf {
    uint64_t base = 0;
    uint64_t size = 0;  // 0: empty
    uint8_t* host = nullptr;  // host address of `base`
    uint64_t entry = 0;
    bool client = false;
    uint64_t page_tables = 0, bus = 0;  // the generations it was made under
  };
  static constexpr int kCachedLeaves = 8;

  const Node& node_;
  const size_t gpu_index_;
  const uint64_t root_phys_;
  mutable CachedLeaf cache_[kCachedLeaves];
  mutable int next_victim_ = 0;
};

}  // namespace vkfd::hw

// GpuMemory: the physical memory behind one emulated GPU, kept in one memfd — the GPU's render node.
//
// Layout of the memfd (offsets are also the `mmap_offset`s clients pass to mmap on the render node):
//   [0, vram_bytes)                     VRAM. Offset o has VRAM physical address vram_base + o.
//   [kGttBase, kGttBase + gtt_bytes)    GTT (system memory) allocated through this GPU.
// The file is sized once, sparse, and never shrinks (shrinking under a client mapping raises SIGBUS).
// Freed ranges are punched out, so host RSS follows live data: a node of 8 × 64 GiB costs nothing
// until BOs are touched. The whole layout is mapped once into vkfd; HostPtr never maps anything.
//
// Capacity is enforced: VRAM allocation fails when no free range of the size exists. Thread-safe.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "base/status.h"
#include "base/thread_annotations.h"
#include "hw/range_allocator.h"

namespace vkfd::hw {

class GpuMemory {
 public:
  static constexpr uint64_t kGttBase = 1ull << 40;

  // Creates the memfd and maps it. kNoMemory if the host refuses.
  static Result<std::unique_ptr<GpuMemory>> Create(const std::string& name, uint64_t vram_bytes,
                                                   uint64_t gtt_bytes);
  ~GpuMemory();
  GpuMemory(const GpuMemory&) = delete;
  GpuMemory& operator=(const GpuMemory&) = delete;

  int fd() const { return fd_; }
  // The same file opened read-only (-1 if the host has no /proc): mappings through it can never be
  // made writable — what a render-node mapping without VM_MAYWRITE is.
  int read_only_fd() const { return read_only_fd_; }
  uint64_t vram_bytes() const { return vram_bytes_; }
  uint64_t gtt_bytes() const { return gtt_bytes_; }

  // Offsets into the memfd. kNoMemory when the region has no free range that fits.
  Result<uint64_t> AllocVram(uint64_t size, uint64_t align) EXCLUDES(mu_);
  Result<uint64_t> AllocGtt(uint64_t size, uint64_t align) EXCLUDES(mu_);
  // Returns the range and releases its host pages.
  void Free(uint64_t offset, uint64_t size) EXCLUDES(mu_);

  uint64_t vram_used() const EXCLUDES(mu_);
  uint64_t gtt_used() const EXCLUDES(mu_);

  bool IsVram(uint64_t offset) const { return offset < vram_bytes_; }
  // Host address of byte `offset` of the memfd; valid for the object's life.
  uint8_t* HostPtr(uint64_t offset) const;

 private:
  GpuMemory(int fd, uint64_t vram_bytes, uint64_t gtt_bytes, uint8_t* vram_host, uint8_t* gtt_host);

  const int fd_;
  int read_only_fd_ = -1;
  const uint64_t vram_bytes_;
  const uint64_t gtt_bytes_;
  uint8_t* const vram_host_;
  uint8_t* const gtt_host_;
  mutable Mutex mu_;
  RangeAllocator vram_ GUARDED_BY(mu_);
  RangeAllocator gtt_ GUARDED_BY(mu_);
};

}  // namespace vkfd::hw

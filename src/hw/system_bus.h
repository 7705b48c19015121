// SystemBus: the DMA address space through which GPUs reach system memory and each other's BARs.
//
// A PTE with kPteSystem carries a bus address. Ranges on the bus are windows onto host bytes: each GPU's
// GTT region and (large BAR) its VRAM BAR are mapped at fixed addresses when the node is built; userptr
// BOs get a range from the dynamic IOVA region for as long as they exist. Translate finds the window.
// Thread-safe; ranges never overlap.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>

#include "base/status.h"
#include "base/thread_annotations.h"
#include "hw/range_allocator.h"

namespace vkfd::hw {

class SystemBus {
 public:
  // Fixed windows: GPU i's GTT region and VRAM BAR. Up to 16 GPUs of at most 512 GiB VRAM each.
  static constexpr uint64_t GttWindow(uint32_t gpu_index) { return (2ull * gpu_index + 1) << 40; }
  static constexpr uint64_t BarWindow(uint32_t gpu_index) { return (2ull * gpu_index + 2) << 40; }
  static constexpr uint64_t kIovaBase = 64ull << 40;
  static constexpr uint64_t kIovaSize = 128ull << 40;

  SystemBus();

  // Maps [bus, bus + size) to host bytes at `host`. kInvalidArgs if it overlaps a window.
  Status MapFixed(uint64_t bus, uint64_t size, uint8_t* host) EXCLUDES(mu_);
  // Maps `size` bytes of host memory at a newly allocated bus address (page aligned).
  Result<uint64_t> MapDynamic(uint64_t size, uint8_t* host) EXCLUDES(mu_);
  // Removes the window that starts at `bus`.
  void Unmap(uint64_t bus) EXCLUDES(mu_);
  // Host address of bus address `bus`, or nullptr if no window covers it. *client (optional) tells
  // whether the window is a dynamic one — the client's own memory (userptr), which the client may
  // unmap at any time, so engines touch it only through guarded copies.
  uint8_t* Translate(uint64_t bus, bool* client = nullptr) const EXCLUDES(mu_);
  // Bumped by every Unmap: a translation cached under an older value may name a window that is gone
  // (hw/vm_access.h's translation cache).
  uint64_t generation() const { return generation_.load(std::memory_order_acquire); }

 private:
  struct Window {
    uint64_t size;
    uint8_t* host;
    bool dynamic;
  };
  mutable Mutex mu_;
  std::map<uint64_t, Window> windows_ GUARDED_BY(mu_);
  RangeAllocator iova_ GUARDED_BY(mu_);
  std::atomic<uint64_t> generation_{0};
};

}  // namespace vkfd::hw

// BufferObject: one KFD allocation (kgd_mem) — its placement, attributes, backing, and on which GPUs'
// VMs it is mapped.
//
// Life cycle: created by Process::AllocMemory on its owner GPU with a handle in that GPU's handle
// table; mapped and unmapped per GPU (at most once per VM: `mapped` is KFD's per-attachment is_mapped;
// an AQL BO may be half mapped, see upper_mapped);
// destroyed by FreeMemory only when mapped on no GPU, or at process teardown. The bytes never move:
// VRAM, GTT, doorbell and MMIO BOs own a range of the owner GPU's memfd, userptr BOs are windows on the
// client's memory registered on the system bus. Every client BO has a GEM object on its GPU's render
// node (kfd/gem_objects.h) whose offset is ALLOC's mmap_offset; the memfd range and the charge go back
// when that object's last reference does — at FREE, or at the last munmap of a CPU mapping after it.
// All fields are guarded by the owning Process's mutex.
#pragma once

#include <array>
#include <bitset>
#include <cstdint>

#include "kfd/fence.h"

namespace vkfd::kfd {

inline constexpr size_t kMaxGpus = 16;

enum class Domain : uint8_t { kVram, kGtt, kUserptr, kDoorbell, kMmioRemap };
const char* DomainName(Domain domain);

struct BoAttributes {
  bool writable = false;
  bool executable = false;
  bool cpu_visible = false;  // PUBLIC
  bool no_substitute = false;
  bool aql_queue = false;  // the BO is mapped twice, back to back
  bool coherent = false;
  bool uncached = false;
};

struct BufferObject {
  uint64_t handle = 0;
  uint32_t owner = 0;  // GPU index whose handle table holds the BO
  Domain domain = Domain::kVram;
  BoAttributes attrs;
  uint64_t va = 0;
  uint64_t size = 0;         // requested size, page aligned: the VA span that MAP covers
  uint64_t backing_size = 0;  // bytes of backing (half of `size` for AQL queue memory)
  uint64_t memfd_offset = 0;  // VRAM/GTT/doorbell/MMIO: offset in the owner's memfd
  uint64_t user_addr = 0;     // USERPTR: the client's CPU address
  uint64_t bus_addr = 0;      // USERPTR: its window on the system bus
  uint64_t gem_offset = 0;    // its object's offset on the owner's render node (0: the driver's own)
  bool kernel_internal = false;  // IB/CWSR buffers the driver maps itself; no handle

  std::bitset<kMaxGpus> attached;               // kfd_mem_attach done on that GPU's VM (until FREE)
  std::bitset<kMaxGpus> mapped;                 // is_mapped of every attachment, per GPU index
  // AQL queue memory has two attachments per VM (kfd_mem_attach with is_aql: the lower half at va,
  // the upper at va + backing_size), and MAP maps the upper one first (list_add puts it at the head
  // of mem->attachments). When the lower one then fails, the upper one stays mapped: this bit says
  // so, `mapped` stays clear, and FREE (mapped_to_gpu_memory > 0) says kBusy until UNMAP.
  std::bitset<kMaxGpus> upper_mapped;
  std::array<FenceRef, kMaxGpus> last_update;   // the BO's sync object: latest PTE update per GPU
};

}  // namespace vkfd::kfd

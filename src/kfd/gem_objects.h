// GemObjects: one GPU's render-node objects — what drm_gem and the drm_vma_offset_manager keep for
// the BOs KFD allocates (amdgpu_amdkfd_gpuvm_alloc_memory_of_gpu: amdgpu_gem_object_create, then
// drm_vma_node_allow for the process's render-node file; ALLOC returns amdgpu_bo_mmap_offset).
//
// Invariants:
//  * every object has a unique, page-aligned offset in the DRM range of the device (from 4 GiB,
//    DRM_FILE_PAGE_OFFSET_START, best fit as drm_mm inserts), kept until its last reference goes;
//  * references: one for the KFD BO (until FREE) and one per CPU mapping (drm_gem_mmap_obj's get,
//    and drm_gem_vm_open's when the host splits or duplicates a mapping, dropped by vm_close). The
//    memory behind an object is released only with the last one (`Put` hands the release back);
//  * only the file the object was allowed for may map it, until FREE revokes it (drm_vma_node_revoke).
// Offsets are per GPU (per drm_device); they are not the kernel's numbers, which depend on every GEM
// object of the device, only its range and rules. Thread-safe; mu_ is a leaf.
#pragma once

#include <cstdint>
#include <map>
#include <optional>

#include "base/status.h"
#include "base/thread_annotations.h"
#include "hw/range_allocator.h"
#include "kfd/memory_limits.h"

namespace vkfd::kfd {

// What goes when an object's last reference does: its backing in the GPU's memfd (none for userptr
// BOs) and its charge against KFD's limits (amdgpu_amdkfd_release_notify).
struct GemRelease {
  bool has_backing = false;
  size_t gpu = 0;
  uint64_t memfd_offset = 0;
  uint64_t backing_size = 0;
  Charge charge;
};

// Where a CPU mapping of an object lands: bytes memfd_offset.. of the GPU's memfd.
struct GemMapping {
  uint64_t memfd_offset = 0;
};

class GemObjects {
 public:
  static constexpr uint64_t kOffsetStart = 1ull << 32;        // DRM_FILE_PAGE_OFFSET_START pages
  static constexpr uint64_t kOffsetSize = 0xFFFFFull << 20;   // DRM_FILE_PAGE_OFFSET_SIZE pages

  GemObjects() : offsets_(kOffsetStart, kOffsetSize) {}

  // A new object of `size` bytes (page aligned) that `file_id` may map; `userptr` objects can never
  // be mapped. One reference. Its mmap offset, or kNoMemory when the offset space is full.
  Result<uint64_t> Add(uint64_t size, uint64_t file_id, bool userptr, uint64_t memfd_offset,
                       GemRelease release) EXCLUDES(mu_);
  // drm_gem_mmap for a mapping of `length` bytes at `offset` through file `file_id`, taking a
  // reference: kInvalidArgs when no object starts exactly there or it is shorter than `length`;
  // kAccess when the file may not map it (another file, or FREE revoked it); kPermission for a
  // userptr BO (amdgpu_gem_object_mmap).
  Result<GemMapping> Open(uint64_t offset, uint64_t length, uint64_t file_id) EXCLUDES(mu_);
  // Another reference (drm_gem_vm_open) to an object that has one.
  void Get(uint64_t offset) EXCLUDES(mu_);
  // Drops a reference; the release to perform when it was the last.
  std::optional<GemRelease> Put(uint64_t offset) EXCLUDES(mu_);
  // FREE: the file may no longer map it (drm_vma_node_revoke), and the BO's reference goes.
  std::optional<GemRelease> Revoke(uint64_t offset) EXCLUDES(mu_);

  // Objects that still exist, and references to one (tests).
  size_t size() const EXCLUDES(mu_);
  int refs(uint64_t offset) const EXCLUDES(mu_);

 private:
  struct Object {
    uint64_t size = 0;
    uint64_t file_id = 0;  // allowed to map; 0 once revoked
    bool userptr = false;
    uint64_t memfd_offset = 0;
    int refs = 0;
    GemRelease release;
  };
  std::optional<GemRelease> PutLocked(std::map<uint64_t, Object>::iterator it) REQUIRES(mu_);

  mutable Mutex mu_;
  hw::RangeAllocator offsets_ GUARDED_BY(mu_);
  std::map<uint64_t, Object> objects_ GUARDED_BY(mu_);  // by offset
};

}  // namespace vkfd::kfd

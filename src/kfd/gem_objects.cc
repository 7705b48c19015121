#include "kfd/gem_objects.h"

#include "hw/gpu_memory.h"

namespace vkfd::kfd {

namespace {
constexpr uint64_t kPage = 4096;
}

Result<uint64_t> GemObjects::Add(uint64_t size, uint64_t file_id, bool userptr,
                                 uint64_t memfd_offset, GemRelease release) {
  MutexLock lock(&mu_);
  // drm_vma_offset_add: drm_mm_insert_node of the object's pages (-ENOMEM when full).
  std::optional<uint64_t> offset = offsets_.Allocate(size, kPage);
  if (!offset) return Code::kNoMemory;
  Object& o = objects_[*offset];
  o.size = size;
  o.file_id = file_id;
  o.userptr = userptr;
  o.memfd_offset = memfd_offset;
  o.refs = 1;
  o.release = release;
  return *offset;
}

Result<GemMapping> GemObjects::Open(uint64_t offset, uint64_t length, uint64_t file_id) {
  MutexLock lock(&mu_);
  // drm_vma_offset_exact_lookup_locked: the object must start at the mapping's first page and hold
  // all of its pages; then kref_get_unless_zero (an object being freed is not found).
  auto it = objects_.find(offset);
  const uint64_t pages = (length + kPage - 1) / kPage;
  if (it == objects_.end() || it->second.refs == 0 || pages * kPage > it->second.size) {
    return Code::kInvalidArgs;
  }
  // drm_vma_node_is_allowed, then amdgpu_gem_object_mmap's userptr check.
  if (it->second.file_id == 0 || it->second.file_id != file_id) return Code::kAccess;
  if (it->second.userptr) return Code::kPermission;
  ++it->second.refs;  // drm_gem_mmap_obj: drm_gem_object_get for the VMA
  return GemMapping{it->second.memfd_offset};
}

void GemObjects::Get(uint64_t offset) {
  MutexLock lock(&mu_);
  auto it = objects_.find(offset);
  if (it != objects_.end()) ++it->second.refs;
}

std::optional<GemRelease> GemObjects::PutLocked(std::map<uint64_t, Object>::iterator it) {
  if (--it->second.refs > 0) return std::nullopt;
  GemRelease release = it->second.release;
  offsets_.Free(it->first, it->second.size);
  objects_.erase(it);
  return release;
}

std::optional<GemRelease> GemObjects::Put(uint64_t offset) {
  MutexLock lock(&mu_);
  auto it = objects_.find(offset);
  if (it == objects_.end()) return std::nullopt;
  return PutLocked(it);
}

std::optional<GemRelease> GemObjects::Revoke(uint64_t offset) {
  MutexLock lock(&mu_);
  auto it = objects_.find(offset);
  if (it == objects_.end()) return std::nullopt;
  it->second.file_id = 0;
  return PutLocked(it);
}

size_t GemObjects::size() const {
  MutexLock lock(&mu_);
  return objects_.size();
}

int GemObjects::refs(uint64_t offset) const {
  MutexLock lock(&mu_);
  auto it = objects_.find(offset);
  return it == objects_.end() ? 0 : it->second.refs;
}

}  // namespace vkfd::kfd

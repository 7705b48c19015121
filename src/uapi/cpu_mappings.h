// CPU mappings through the render node (drm_gem_mmap, amdgpu_gem_object_mmap, ttm_bo_mmap_obj) and
// what happens to them afterwards — the VMA's life that the kernel follows with vm_open/vm_close.
//
// mmap of a render-node fd maps one GEM object (kfd/gem_objects.h): it must start exactly at the
// object's offset and be no longer than it (else EINVAL), go through the file the object was
// allowed for (else EACCES; FREE revokes), not be a userptr BO (EPERM), and not be a copy-on-write
// mapping (EINVAL), except PROT_NONE MAP_PRIVATE, the thunk's mapping for debugger access to
// host-invisible VRAM, which amdgpu accepts. The host maps exactly the object's pages of the GPU's
// memfd there and nothing else; the render fd itself is an empty memfd, so a mapping made behind
// the interposer's back reaches no GPU memory at all.
//
// Each mapping holds a reference to its object, so the memory outlives FREE until the last munmap.
// The interposer routes munmap, mremap and MAP_FIXED mmaps here: a mapping split by a partial
// munmap holds one reference per piece; mremap may move or shrink one (a grown one is EFAULT, as
// VM_DONTEXPAND makes it, MREMAP_DONTUNMAP EINVAL, a range past the mapping's end EFAULT); a
// MAP_FIXED mmap over one drops what it replaces. Doorbell mappings of /dev/kfd are forgotten by
// hw::DoorbellWatch on the same paths.
//
// Debugger access (docs/semantics.md): the PROT_NONE MAP_PRIVATE mapping is made MAP_SHARED of the
// GPU's memory, so ptrace/process_vm/proc-mem *reads* see the VRAM as amdgpu's vm_ops->access gives
// them, while *writes* fail with EIO (a forced write into a shared mapping without PROT_WRITE is
// refused by the host) instead of landing silently in a private copy the GPU never sees.
//
// Process-wide: one table, guarded by a mutex taken around the host call and the bookkeeping (never
// while calling into the driver: object references are taken and dropped after it is released), and
// around fork (pthread_atfork), so a child never inherits it locked.
// With no render-node mapping and no doorbell mapping ever made, munmap/mremap/mmap cost one load.
#pragma once

#include <sys/types.h>

#include <cstddef>

namespace vkfd::uapi {

class KfdDevice;
struct FileRecord;

// The host's own calls, bypassing the interposer (the shim passes the next definitions; in-process
// users libc's, LibcMm()).
struct HostMm {
  void* (*mmap)(void*, size_t, int, int, int, off_t);
  int (*munmap)(void*, size_t);
  void* (*mremap)(void*, size_t, size_t, int, ...);
};
HostMm LibcMm();

// What do_mmap checks of the open file before its driver's mmap runs (6.1 mm/mmap.c): a shared
// writable mapping needs a file open for writing, any mapping one open for reading. 0 or EACCES.
int MmapAccessError(const FileRecord& file, int prot, int flags);

// mmap(2) of `file`, a render-node fd of `device`: MAP_FAILED with errno as the kernel sets it, or
// the address.
void* RenderMmap(KfdDevice& device, const FileRecord& file, void* addr, size_t length, int prot,
                 int flags, off_t offset, const HostMm& host);
// munmap(2), mremap(2), and mmap(2) of anything else, with the bookkeeping above.
int CpuMunmap(void* addr, size_t length, const HostMm& host);
void* CpuMremap(void* old_addr, size_t old_length, size_t new_length, int flags, void* new_addr,
                const HostMm& host);
void* CpuMmapOther(void* addr, size_t length, int prot, int flags, int fd, off_t offset,
                   const HostMm& host);
// A doorbell mapping was registered with hw::DoorbellWatch: from now on unmaps look there too.
void NoteDoorbellMapping();
// The device is going away: forget its mappings (the memory stays mapped; nothing is released).
void ForgetDeviceMappings(const KfdDevice* device);
// Render-node mappings tracked now (tests).
size_t RenderMappingCount();

}  // namespace vkfd::uapi

#include "uapi/kfd_mmap.h"

#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>

#include "base/process_identity.h"
#include "hw/queue/doorbell_watch.h"
#include "kfd/mmap_offsets.h"
#include "kfd/driver.h"
#include "kfd/process.h"
#include "uapi/cpu_mappings.h"
#include "uapi/errno_table.h"
#include "uapi/kfd_device.h"

namespace vkfd::uapi {

void* KfdMmap(KfdDevice& device, void* addr, size_t length, int prot, int flags, int fd,
              off_t offset) {
  auto file = device.Lookup(fd);
  if (!file || file->kind != FileRecord::Kind::kKfd) {
    errno = EBADF;
    return MAP_FAILED;
  }
  // The mmap system call's own checks come before the driver sees anything (do_mmap: a zero length,
  // an offset that is not page aligned, a length that overflows when rounded up are -EINVAL), and
  // the driver sees the vma's size, rounded up to whole pages (kfd_event_mmap records that size).
  constexpr uint64_t kPage = 4096;
  if (length == 0 || (static_cast<uint64_t>(offset) & (kPage - 1)) != 0 ||
      length > UINT64_MAX - (kPage - 1)) {
    errno = EINVAL;
    return MAP_FAILED;
  }
  if (const int error = MmapAccessError(*file, prot, flags); error != 0) {
    errno = error;
    return MAP_FAILED;
  }
  const uint64_t vma_size = (uint64_t{length} + kPage - 1) & ~(kPage - 1);
  // kfd_mmap works on the caller's process (kfd_get_process(current)), not on the file's.
  auto process = device.driver().FindProcess(CurrentPid());
  if (!process) {
    errno = EINVAL;
    return MAP_FAILED;
  }
  auto target = process->ResolveKfdMmap(static_cast<uint64_t>(offset), vma_size);
  if (!target.ok()) {
    errno = ErrnoFor(target.code());
    return MAP_FAILED;
  }
  void* mapped = target->fd >= 0
                     ? mmap(addr, length, prot, flags, target->fd, static_cast<off_t>(target->offset))
                     : mmap(addr, length, prot, flags | MAP_ANONYMOUS, -1, 0);
  if (mapped == MAP_FAILED) return mapped;
  // Every kfd mapping (doorbells, events, MMIO, reserved) is VM_DONTCOPY | VM_DONTDUMP (and VM_IO,
  // VM_PFNMAP, VM_DONTEXPAND, which have no user-space equivalent): a forked child has none of them,
  // core dumps leave them out.
  madvise(mapped, length, MADV_DONTFORK);
  madvise(mapped, length, MADV_DONTDUMP);
  if ((static_cast<uint64_t>(offset) & kfd::kMmapTypeMask) == kfd::kMmapTypeDoorbell) {
    // The command processor may watch this mapping while it sleeps (hw/queue/doorbell_watch.h).
    hw::DoorbellWatch::Global().Register(mapped, length,
                                         device.driver().node().queue_scheduler().kick_word());
    NoteDoorbellMapping();  // munmap/mremap/MAP_FIXED now tell DoorbellWatch (uapi/cpu_mappings.h)
  }
  return mapped;
}

}  // namespace vkfd::uapi

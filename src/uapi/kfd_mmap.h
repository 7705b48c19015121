// mmap(2) of a /dev/kfd fd (kfd_mmap): the offset's type bits select the process's doorbell slice, the
// MMIO-remap page or the event page of one GPU. The memfd behind a kfd fd has no such offsets, so the
// interposer calls this instead of the real mmap for kfd fds (render-node fds: RenderMmap in
// uapi/cpu_mappings.h).
#pragma once

#include <sys/types.h>

#include <cstddef>

namespace vkfd::uapi {

class KfdDevice;

// MAP_FAILED with errno as the kernel sets it (ENODEV unknown gpu, EINVAL wrong size or nothing to
// map, EBADF not a kfd fd), or the mapped address.
void* KfdMmap(KfdDevice& device, void* addr, size_t length, int prot, int flags, int fd,
              off_t offset);

}  // namespace vkfd::uapi

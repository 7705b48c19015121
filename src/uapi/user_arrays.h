// Arrays that ioctls copy in from user space, with the kernel's size limit: kmalloc() fails beyond
// KMALLOC_MAX_SIZE (4 MiB with SLUB on x86-64), and the ioctl then returns -ENOMEM before touching the
// user's pointer.
#pragma once

#include <cstdint>
#include <vector>

#include "base/status.h"

namespace vkfd::uapi {

inline constexpr uint64_t kKmallocMaxSize = uint64_t{4} << 20;

// The u32 GPU-id list of MAP/UNMAP and the extension map ioctls (kfd_ioctl_map_memory_to_gpu's
// kmalloc_array + copy_from_user): kNoMemory above the kmalloc limit, kFault for a bad pointer.
// n_devices == 0 is the caller's check (its errno differs per ioctl).
Code CopyDeviceIds(uint64_t user_ptr, uint32_t n_devices, std::vector<uint32_t>* ids);

}  // namespace vkfd::uapi

/* include/vkfd/vkfd_ioctl.h is C: it compiles as C11 and its structs have the sizes the C++ side
 * asserts (uapi/ext_ioctls.cc), with no padding that 32- and 64-bit user space would lay out apart. */
#include <vkfd/vkfd_ioctl.h>

#include <stddef.h>

_Static_assert(sizeof(struct vkfd_ext_version_args) == 8, "ext_version");
_Static_assert(sizeof(struct vkfd_map_async_args) == 32, "map_async");
_Static_assert(offsetof(struct vkfd_map_async_args, fence_fd) == 24, "map_async.fence_fd");
_Static_assert(sizeof(struct vkfd_fence_wait_args) == 32, "fence_wait");
_Static_assert(offsetof(struct vkfd_fence_wait_args, count) == 16, "fence_wait.count");
_Static_assert(sizeof(struct vkfd_fence_info_args) == 16, "fence_info");
_Static_assert(offsetof(struct vkfd_fence_info_args, timestamp_ns) == 8, "fence_info.timestamp");
_Static_assert(sizeof(struct vkfd_fence_merge_args) == 16, "fence_merge");
_Static_assert(sizeof(struct vkfd_map_atomic_args) == 32, "map_atomic");
_Static_assert(sizeof(struct vkfd_map_status_args) == 32, "map_status");
_Static_assert(offsetof(struct vkfd_map_status_args, n_devices) == 24, "map_status.n_devices");

/* Compiled into ext_preload (tests/CMakeLists.txt); the commands are usable in C constant expressions. */
static const unsigned long kCommands[] = {VKFD_IOC_EXT_VERSION, VKFD_IOC_MAP_ASYNC, VKFD_IOC_UNMAP_ASYNC,
                                          VKFD_IOC_FENCE_WAIT,  VKFD_IOC_FENCE_INFO, VKFD_IOC_FENCE_MERGE,
                                          VKFD_IOC_MAP_ATOMIC,  VKFD_IOC_MAP_STATUS};
unsigned long vkfd_ioctl_c_test_command(unsigned i) { return kCommands[i % 8]; }

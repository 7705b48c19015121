// Foreign files: fds of vkfd's kinds that this process's fd table does not route — a fence fd
// inherited from the parent (its FenceFile lives in the parent's device) or received over a Unix
// socket (SCM_RIGHTS), a /dev/kfd fd inherited across exec. The kernel object tells what they are
// (kfd/fence_file.h: a fence fd's socket is named; a kfd fd is a memfd named "vkfd-kfd"), never the
// fd number.
//
//  * Fence fds answer FENCE_INFO and FENCE_MERGE from their socket (the state the signalling process
//    sent), as sync_file's ioctls answer in any process; other commands are ENOTTY (sync_file_ioctl).
//  * A kfd fd of another KFD process (after exec, or received) is EBADF for every KFD command, as
//    kfd_ioctl answers a process that is not the file's (6.1: `process->lead_thread !=
//    current->group_leader`); numbers outside KFD's range are ENOTTY, before that check (6.1.y).
// Touches no device, no lock of another process's device, allocates only for MERGE.
#pragma once

namespace vkfd::uapi {

// ioctl(2) on `fd` if it is one of the above: *handled is set, and the result is 0 or -1 with errno.
// Otherwise *handled is false and nothing happened.
int ForeignFileIoctl(int fd, unsigned long cmd, void* arg, bool* handled);

}  // namespace vkfd::uapi

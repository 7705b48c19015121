// PrivateFds: the file descriptors vkfd opens for itself (each GPU's memory memfd, the doorbell
// apertures, the kernel event page, a fence file's notifying end), which the program never learnt of
// and must not be able to close behind vkfd's back.
//
// A kernel driver keeps such objects in kernel memory (kfd's signal page, kfd_process's doorbell
// pages, amdgpu's VRAM — never in the process's fd table); vkfd keeps them in the program's fd table, where
// closefrom(3), close_range() and close-everything loops would find them. The interposer consults
// this set: close() of a private fd answers EBADF (to the program the number is not open), and
// closefrom/close_range skip private fds. Fds at or above kMaxPrivateFd are not tracked.
// Lock-free (one bit per fd); async-signal-safe.
#pragma once

namespace vkfd {

inline constexpr int kMaxPrivateFd = 1 << 16;

void MarkPrivateFd(int fd);
void UnmarkPrivateFd(int fd);
bool IsPrivateFd(int fd);
// The lowest private fd >= fd, or -1.
int NextPrivateFd(int fd);

}  // namespace vkfd

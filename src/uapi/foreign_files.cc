#include "uapi/foreign_files.h"

#include <linux/kfd_ioctl.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "base/user_memory.h"
#include "kfd/fence_file.h"
#include "uapi/errno_table.h"
#include "uapi/ioctl_table.h"
#include "vkfd/vkfd_ioctl.h"

namespace vkfd::uapi {
namespace {

int Fail(int err) {
  errno = err;
  return -1;
}

// /proc/self/fd/<fd> of a kfd file reads "/memfd:vkfd-kfd (deleted)".
bool IsKfdMemfd(int fd) {
  char path[64];
  char target[64] = {};
  snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
  const ssize_t n = readlink(path, target, sizeof(target) - 1);
  static constexpr char kName[] = "/memfd:vkfd-kfd ";
  return n > 0 && strncmp(target, kName, sizeof(kName) - 1) == 0;
}

int FenceInfo(int fd, void* arg) {
  bool signaled = false;
  kfd::FenceFdState state;
  uint32_t count = 0;
  if (!kfd::PeekFenceFd(fd, &signaled, &state, &count).ok()) return Fail(EBADF);
  vkfd_fence_info_args args{};
  const uint64_t user = reinterpret_cast<uint64_t>(arg);
  if (!CopyFromUser(&args, user).ok()) return Fail(EFAULT);
  args.status = !signaled ? 0 : state.status < 0 ? -ErrnoFor(static_cast<Code>(state.error)) : 1;
  args.num_fences = count;
  args.timestamp_ns = signaled ? state.timestamp_ns : 0;
  if (!CopyToUser(user, args).ok()) return Fail(EFAULT);
  return 0;
}

int FenceMerge(int fd, void* arg) {
  vkfd_fence_merge_args args{};
  const uint64_t user = reinterpret_cast<uint64_t>(arg);
  if (!CopyFromUser(&args, user).ok()) return Fail(EFAULT);
  args.fence = -1;
  int err = 0;
  if (args.flags != 0 || args.reserved != 0) {
    err = EINVAL;
  } else if (!kfd::IsFenceFd(args.fd2)) {
    err = ENOENT;  // sync_file's MERGE for an fd that is not a sync_file
  } else {
    Result<int> merged = kfd::MergeFenceFds(fd, args.fd2);
    if (merged.ok()) {
      args.fence = merged.value();
    } else {
      err = ErrnoFor(merged.code());
    }
  }
  if (!CopyToUser(user, args).ok()) {
    if (args.fence >= 0) close(args.fence);
    return Fail(EFAULT);
  }
  return err == 0 ? 0 : Fail(err);
}

}  // namespace

int ForeignFileIoctl(int fd, unsigned long cmd, void* arg, bool* handled) {
  *handled = false;
  const unsigned type = _IOC_TYPE(cmd);
  if (type == VKFD_IOCTL_TYPE && kfd::IsFenceFd(fd)) {
    *handled = true;
    if (cmd == VKFD_IOC_FENCE_INFO) return FenceInfo(fd, arg);
    if (cmd == VKFD_IOC_FENCE_MERGE) return FenceMerge(fd, arg);
    return Fail(ENOTTY);
  }
  if (type == AMDKFD_IOCTL_BASE && IsKfdMemfd(fd)) {
    *handled = true;
    return Fail(FindIoctl(_IOC_NR(cmd)) != nullptr ? EBADF : ENOTTY);  // as KfdDevice::Ioctl
  }
  return -1;
}

}  // namespace vkfd::uapi

// GET_DMABUF_INFO and IMPORT_DMABUF (kfd_chardev.c, 6.1.y). vkfd's render nodes export nothing, so
// no fd is ever an amdgpu dma-buf: the kernel's answers reduce to its error paths, which are kept
// exactly — dma_buf_get first (-EBADF for a closed fd, -EINVAL for an open file that is not a
// dma-buf), then, for a dma-buf of another exporter, the ops check (-EINVAL), with IMPORT's gpu lookup
// and binding before it.
#include <fcntl.h>
#include <linux/kfd_ioctl.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>

#include "kfd/process.h"
#include "uapi/ioctl_table.h"
#include "uapi/kfd_device.h"

namespace vkfd::uapi {
namespace {

// dma_buf_get(fd): kBadFd if the caller has no such fd (the ABI's __u32 passed as an int: anything
// at or above 2^31 is negative, which fget refuses), kInvalidArgs if the file is not a dma-buf.
Code DmaBufGet(uint32_t ufd) {
  if (ufd > 0x7fffffffu) return Code::kBadFd;
  const int fd = static_cast<int>(ufd);
  if (fcntl(fd, F_GETFD) < 0) return Code::kBadFd;
  // A dma-buf's file lives on the dmabuf pseudo file system: /proc/self/fd shows "/dmabuf:<name>"
  // (older hosts: "anon_inode:dmabuf").
  char path[64];
  char target[128] = {};
  snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
  const ssize_t n = readlink(path, target, sizeof(target) - 1);
  if (n > 0 && (strncmp(target, "/dmabuf:", 8) == 0 || strcmp(target, "anon_inode:dmabuf") == 0)) {
    return Code::kOk;
  }
  return Code::kInvalidArgs;
}

}  // namespace

// kfd_ioctl_get_dmabuf_info: the first KFD device (none: -EINVAL), then amdgpu_amdkfd_get_dmabuf_info:
// dma_buf_get's error, then -EINVAL for a dma-buf amdgpu did not export — which is every dma-buf here.
// Nothing of the struct is written.
Code GetDmabufInfo(IoctlContext& ctx, kfd_ioctl_get_dmabuf_info_args& args) {
  if (ctx.device->driver().topology().gpus.empty()) return Code::kInvalidArgs;
  const Code got = DmaBufGet(args.dmabuf_fd);
  if (got != Code::kOk) return got;
  return Code::kInvalidArgs;  // dma_buf->ops != &amdgpu_dmabuf_ops
}

// kfd_ioctl_import_dmabuf: dma_buf_get's error first, then the gpu (-EINVAL unknown), the binding
// (-ENODEV without a VM), then amdgpu_amdkfd_gpuvm_import_dmabuf's ops check (-EINVAL).
Code ImportDmabuf(IoctlContext& ctx, kfd_ioctl_import_dmabuf_args& args) {
  const Code got = DmaBufGet(args.dmabuf_fd);
  if (got != Code::kOk) return got;
  const Status bound = ctx.process->BindDevice(args.gpu_id);
  if (!bound.ok()) return bound.code();
  return Code::kInvalidArgs;
}

}  // namespace vkfd::uapi

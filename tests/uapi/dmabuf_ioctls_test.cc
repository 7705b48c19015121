// GET_DMABUF_INFO and IMPORT_DMABUF error codes as 6.1.y returns them for fds that are not amdgpu
// dma-bufs (kfd_ioctl_get_dmabuf_info, kfd_ioctl_import_dmabuf, dma_buf_get), and the dispatcher's
// skipped copy-out after a failed validate step (kfd_ioctl, kfd_ioctl_svm_validate).
#include <errno.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <linux/kfd_ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstring>

#include "uapi/device_test.h"

namespace vkfd::conformance {
namespace {

constexpr uint32_t kClosedFd = 987654;  // not open in any test process

class DmabufTest : public DeviceTest {
 protected:
  int Info(uint32_t fd) {
    kfd_ioctl_get_dmabuf_info_args a{};
    a.dmabuf_fd = fd;
    a.size = 0x1234;
    const int r = Call(AMDKFD_IOC_GET_DMABUF_INFO, &a);
    const int saved = errno;
    EXPECT_EQ(0x1234u, a.size);  // nothing written on these paths
    errno = saved;
    return r;
  }
  int Import(uint32_t fd, uint32_t gpu_id) {
    kfd_ioctl_import_dmabuf_args a{};
    a.dmabuf_fd = fd;
    a.gpu_id = gpu_id;
    a.va_addr = kVa;
    return Call(AMDKFD_IOC_IMPORT_DMABUF, &a);
  }
};

TEST_F(DmabufTest, dma_buf_get_AClosedFdIsEbadfAnyOtherFileEinval) {
  int pipe_fds[2];
  ASSERT_EQ(0, pipe(pipe_fds));
  EXPECT_EQ(-1, Info(kClosedFd));
  EXPECT_EQ(EBADF, errno);
  EXPECT_EQ(-1, Info(0x80000001u));  // a negative int for fget
  EXPECT_EQ(EBADF, errno);
  EXPECT_EQ(-1, Info(static_cast<uint32_t>(pipe_fds[0])));
  EXPECT_EQ(EINVAL, errno);
  EXPECT_EQ(-1, Info(static_cast<uint32_t>(kfd_)));  // /dev/kfd is no dma-buf
  EXPECT_EQ(EINVAL, errno);
  EXPECT_EQ(-1, Info(static_cast<uint32_t>(render_[0])));  // nor is a render node
  EXPECT_EQ(EINVAL, errno);
  close(pipe_fds[0]);
  close(pipe_fds[1]);
}

TEST_F(DmabufTest, kfd_ioctl_import_dmabuf_TheFdIsCheckedBeforeTheGpu) {
  int pipe_fds[2];
  ASSERT_EQ(0, pipe(pipe_fds));
  EXPECT_EQ(-1, Import(kClosedFd, 0x4242));  // dma_buf_get first: EBADF, not the gpu's EINVAL
  EXPECT_EQ(EBADF, errno);
  EXPECT_EQ(-1, Import(kClosedFd, gpus_[0]));
  EXPECT_EQ(EBADF, errno);
  EXPECT_EQ(-1, Import(static_cast<uint32_t>(pipe_fds[0]), gpus_[0]));
  EXPECT_EQ(EINVAL, errno);
  EXPECT_EQ(-1, Import(static_cast<uint32_t>(kfd_), gpus_[0]));
  EXPECT_EQ(EINVAL, errno);
  close(pipe_fds[0]);
  close(pipe_fds[1]);
}

TEST_F(DmabufTest, kfd_ioctl_AFailedValidateStepCopiesNothingOut) {
  // SVM's validate (kfd_ioctl_svm_validate) fails before the handler: kfd_ioctl goes to err_i1 and
  // never writes the struct back, so a read-only argument page gives EINVAL; when validate passes,
  // the handler's EPERM is followed by the copy-out, which faults on that page: EFAULT.
  void* page = mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  ASSERT_NE(MAP_FAILED, page);
  auto* svm = static_cast<kfd_ioctl_svm_args*>(page);
  svm->start_addr = kVa;
  svm->size = 4096;
  svm->op = KFD_IOCTL_SVM_OP_GET_ATTR;
  svm->nattr = 2;  // the command's size holds none
  ASSERT_EQ(0, mprotect(page, 4096, PROT_READ));
  EXPECT_EQ(-1, Call(AMDKFD_IOC_SVM, svm));
  EXPECT_EQ(EINVAL, errno);
  ASSERT_EQ(0, mprotect(page, 4096, PROT_READ | PROT_WRITE));
  svm->nattr = 0;
  ASSERT_EQ(0, mprotect(page, 4096, PROT_READ));
  EXPECT_EQ(-1, Call(AMDKFD_IOC_SVM, svm));
  EXPECT_EQ(EFAULT, errno);
  munmap(page, 4096);
}

class DmabufNoVmTest : public DmabufTest {
 protected:
  void SetUp() override { OpenBackend(); }  // no VM acquired: nothing is bound
};

TEST_F(DmabufNoVmTest, kfd_ioctl_import_dmabuf_NoDmabufFailsBeforeTheBinding) {
  int pipe_fds[2];
  ASSERT_EQ(0, pipe(pipe_fds));
  // Not a dma-buf: EINVAL from dma_buf_get, not the binding's ENODEV.
  EXPECT_EQ(-1, Import(static_cast<uint32_t>(pipe_fds[0]), gpus_[0]));
  EXPECT_EQ(EINVAL, errno);
  close(pipe_fds[0]);
  close(pipe_fds[1]);
}

}  // namespace
}  // namespace vkfd::conformance

// The ioctl log's view of refused ioctls (issue 12 item 12): an ioctl the dispatcher refuses before
// its handler (an unknown number: -ENOTTY; a file of another process: -EBADF) still shows its
// arguments — the decoded struct when the command is known, its raw bytes otherwise.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <linux/kfd_ioctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <string>
#include <vector>

#include "hw/topology/topology.h"
#include "uapi/kfd_device.h"

namespace vkfd::uapi {
namespace {

class IoctlLogTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto topology = hw::LoadTopology("mi210x2");
    ASSERT_TRUE(topology.ok());
    auto device = KfdDevice::Create(std::move(*topology));
    ASSERT_TRUE(device.ok());
    device_ = std::move(device).value();
    device_->set_observer([this](const IoctlRecord& r) { records_.push_back(r); });
    kfd_ = device_->OpenKfd(O_RDWR | O_CLOEXEC);
    ASSERT_GT(kfd_, 0);
  }
  void TearDown() override {
    if (kfd_ > 0) {
      device_->ForgetFd(kfd_);
      close(kfd_);
    }
  }
  std::unique_ptr<KfdDevice> device_;
  std::vector<IoctlRecord> records_;
  int kfd_ = -1;
};

TEST_F(IoctlLogTest, AnUnknownNumberShowsItsRawBytes) {
  unsigned char arg[16];
  for (int i = 0; i < 16; ++i) arg[i] = static_cast<unsigned char>(i + 1);
  const unsigned long dbg_trap = _IOWR('K', 0x82, unsigned char[16]);
  EXPECT_EQ(-1, device_->Ioctl(kfd_, dbg_trap, arg));
  EXPECT_EQ(ENOTTY, errno);
  ASSERT_EQ(1u, records_.size());
  EXPECT_EQ("size=16 bytes=0102030405060708090a0b0c0d0e0f10", records_[0].args);
  EXPECT_EQ(-ENOTTY, records_[0].result);
  // A bad pointer is not followed into a crash.
  EXPECT_EQ(-1, device_->Ioctl(kfd_, dbg_trap, reinterpret_cast<void*>(16)));
  ASSERT_EQ(2u, records_.size());
  EXPECT_EQ("size=16 unreadable", records_[1].args);
}

TEST_F(IoctlLogTest, AFileOfAnotherProcessShowsTheDecodedStruct) {
  // The forked child is another process: EBADF before the handler, and its log line decodes the
  // struct the child passed.
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    records_.clear();
    kfd_ioctl_acquire_vm_args a{};
    a.drm_fd = 7;
    a.gpu_id = 0x1234;
    const int r = device_->Ioctl(kfd_, AMDKFD_IOC_ACQUIRE_VM, &a);
    const bool ok = r == -1 && errno == EBADF && records_.size() == 1 &&
                    records_[0].args == "drm_fd=7 gpu_id=0x1234" && records_[0].result == -EBADF;
    _exit(ok ? 0 : 1);
  }
  int status = 0;
  ASSERT_EQ(child, waitpid(child, &status, 0));
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

}  // namespace
}  // namespace vkfd::uapi

// CRIU_OP carries KFD_IOC_FLAG_CHECKPOINT_RESTORE: 6.1's dispatcher refuses it with -EACCES unless the
// caller has CAP_CHECKPOINT_RESTORE or CAP_SYS_ADMIN, before the handler looks at the arguments. An
// unknown op is -EINVAL from the handler (on a real driver too), so the test holds either way.
#include <errno.h>
#include <gtest/gtest.h>
#include <linux/capability.h>
#include <linux/kfd_ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <memory>

#include "uapi/backend.h"

namespace vkfd::conformance {
namespace {

bool CallerMayCheckpointRestore() {
  __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[2] = {};
  if (syscall(SYS_capget, &header, data) != 0) return false;
  auto has = [&](unsigned cap) { return (data[cap / 32].effective >> (cap % 32)) & 1u; };
  return has(21 /* CAP_SYS_ADMIN */) || has(40 /* CAP_CHECKPOINT_RESTORE */);
}

TEST(PrivilegedIoctlTest, CriuNeedsCheckpointRestoreCapability) {
  std::unique_ptr<Backend> backend(CreateBackend("mi210x2"));
  ASSERT_NE(nullptr, backend);
  const int kfd = backend->OpenKfd();
  ASSERT_GT(kfd, 0);
  kfd_ioctl_criu_args args{};
  args.op = 99;  // no such op
  EXPECT_EQ(-1, backend->Ioctl(kfd, AMDKFD_IOC_CRIU_OP, &args));
  EXPECT_EQ(CallerMayCheckpointRestore() ? EINVAL : EACCES, errno);
  backend->Close(kfd);
}

}  // namespace
}  // namespace vkfd::conformance

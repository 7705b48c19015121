// SMI_EVENTS as 6.1.y's kfd_ioctl_smi_events and kfd_smi_events.c serve it: a real fd that takes
// the event mask with write(2) and streams "<event hex> <text>\n" lines with read(2)
// (kfd_smi_event_open, kfd_smi_ev_write, kfd_smi_ev_read, kfd_smi_event_update_vmfault).
#include <errno.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <linux/kfd_ioctl.h>
#include <poll.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <string>

#include "uapi/queue_fixture.h"

namespace vkfd::conformance {
namespace {

using sdma::operator+;

class SmiEventsTest : public QueueTest {
 protected:
  int OpenSmi(size_t gpu) {
    kfd_ioctl_smi_events_args a{};
    a.gpuid = gpus_[gpu];
    EXPECT_EQ(0, Call(AMDKFD_IOC_SMI_EVENTS, &a)) << strerror(errno);
    return static_cast<int>(a.anon_fd);
  }
  static std::string Comm() {
    char name[32] = {};
    FILE* f = fopen("/proc/self/comm", "r");
    if (f == nullptr) return {};
    if (fgets(name, sizeof(name), f) == nullptr) name[0] = '\0';
    fclose(f);
    std::string s(name);
    while (!s.empty() && s.back() == '\n') s.pop_back();
    return s;
  }
};

TEST_F(SmiEventsTest, kfd_ioctl_smi_events_UnknownGpuIsEinval) {
  kfd_ioctl_smi_events_args a{};
  a.gpuid = 0x4242;
  EXPECT_EQ(-1, Call(AMDKFD_IOC_SMI_EVENTS, &a));
  EXPECT_EQ(EINVAL, errno);
}

TEST_F(SmiEventsTest, kfd_smi_ev_read_NothingQueuedIsEagainAndTheMaskIsEightBytes) {
  const int fd = OpenSmi(0);
  ASSERT_GT(fd, 2);
  // O_RDWR, not close-on-exec (anon_inode_getfd(.., O_RDWR)).
  EXPECT_EQ(O_RDWR, fcntl(fd, F_GETFL) & O_ACCMODE);
  EXPECT_EQ(0, fcntl(fd, F_GETFD) & FD_CLOEXEC);
  char buf[64];
  errno = 0;
  EXPECT_EQ(-1, read(fd, buf, sizeof(buf)));
  EXPECT_EQ(EAGAIN, errno);
  const uint64_t mask = KFD_SMI_EVENT_MASK_FROM_INDEX(KFD_SMI_EVENT_VMFAULT);
  EXPECT_EQ(8, write(fd, &mask, sizeof(mask)));
  pollfd p{fd, POLLIN, 0};
  EXPECT_EQ(0, poll(&p, 1, 0));  // nothing to read yet
  close(fd);
}

TEST_F(SmiEventsTest, kfd_smi_event_update_vmfault_AVmFaultIsALineForEnabledClientsOfTheGpu) {
  const int enabled = OpenSmi(1);
  const int disabled = OpenSmi(1);   // no mask written: events 0
  const int other_gpu = OpenSmi(0);  // the fault is on GPU 1
  const uint64_t mask = KFD_SMI_EVENT_MASK_FROM_INDEX(KFD_SMI_EVENT_VMFAULT);
  ASSERT_EQ(8, write(enabled, &mask, sizeof(mask)));
  ASSERT_EQ(8, write(other_gpu, &mask, sizeof(mask)));
  const uint32_t memory_event = CreateMemoryEvent();
  Buffer dst = HostMemory(8192, {1});
  Queue& q = CreateQueue(1, KFD_IOC_QUEUE_TYPE_SDMA);
  Submit(q, sdma::Copy(dst.va, kVa + 0x123000, 64) + sdma::Fence(dst.va + 4096, 1));
  // event_interrupt_wq_v9 publishes the SMI event before it signals the memory event.
  ASSERT_EQ(uint32_t{KFD_IOC_WAIT_RESULT_COMPLETE}, WaitEvent(memory_event, 20000));
  char buf[256] = {};
  const ssize_t n = read(enabled, buf, sizeof(buf) - 1);
  ASSERT_GT(n, 0) << strerror(errno);
  char expected[64];
  snprintf(expected, sizeof(expected), "%x %x:%s\n", KFD_SMI_EVENT_VMFAULT,
           static_cast<unsigned>(getpid()), Comm().substr(0, 15).c_str());
  EXPECT_EQ(std::string(expected), std::string(buf, static_cast<size_t>(n)));
  errno = 0;
  EXPECT_EQ(-1, read(disabled, buf, sizeof(buf)));
  EXPECT_EQ(EAGAIN, errno);
  errno = 0;
  EXPECT_EQ(-1, read(other_gpu, buf, sizeof(buf)));
  EXPECT_EQ(EAGAIN, errno);
  close(enabled);
  close(disabled);
  close(other_gpu);
}

}  // namespace
}  // namespace vkfd::conformance

// The event ioctls' rules as 6.1.y's kfd_events.c applies them, each test named after the kernel
// function whose rule it checks: event_can_be_cpu_signaled (kfd_set_event/kfd_reset_event),
// kfd_wait_on_events/init_event_waiter, kfd_event_page_set, create_signal_event/create_other_event,
// set_event_from_interrupt (event_can_be_gpu_signaled), kfd_signal_hw_exception_event.
#include <errno.h>
#include <gtest/gtest.h>
#include <linux/kfd_ioctl.h>
#include <sys/mman.h>

#include <cstring>
#include <thread>
#include <vector>

#include "uapi/queue_fixture.h"

namespace vkfd::conformance {
namespace {

using sdma::operator+;

constexpr uint32_t kPm4 = KFD_IOC_QUEUE_TYPE_COMPUTE;
constexpr uint32_t kEventTypeHwException = 3;
constexpr uint32_t kEventTypeDebug = 5;

class EventIoctlTest : public QueueTest {
 protected:
  // CREATE_EVENT of `type`; the whole struct as copied back.
  kfd_ioctl_create_event_args CreateEvent(uint32_t type, bool auto_reset = true) {
    kfd_ioctl_create_event_args a{};
    EnsureEventPage();
    a.event_type = type;
    a.auto_reset = auto_reset ? 1 : 0;
    if (!event_page_given_) a.event_page_offset = event_page_.handle;
    EXPECT_EQ(0, Call(AMDKFD_IOC_CREATE_EVENT, &a)) << strerror(errno);
    event_page_given_ = true;
    return a;
  }
  int SetEvent(uint32_t id) {
    kfd_ioctl_set_event_args a{};
    a.event_id = id;
    return Raw(kfd_, AMDKFD_IOC_SET_EVENT, &a);
  }
  int ResetEvent(uint32_t id) {
    kfd_ioctl_reset_event_args a{};
    a.event_id = id;
    return Raw(kfd_, AMDKFD_IOC_RESET_EVENT, &a);
  }
  // WAIT_EVENTS on `entries` (num_events of them), wait for any, immediate timeout.
  int WaitAny(kfd_event_data* entries, uint32_t n, kfd_ioctl_wait_events_args* out = nullptr) {
    kfd_ioctl_wait_events_args a{};
    a.events_ptr = reinterpret_cast<uint64_t>(entries);
    a.num_events = n;
    a.wait_for_all = 0;
    a.timeout = 0;
    const int r = Raw(kfd_, AMDKFD_IOC_WAIT_EVENTS, &a);
    if (out != nullptr) *out = a;
    return r;
  }
};

TEST_F(EventIoctlTest, event_can_be_cpu_signaled_OnlySignalEventsCanBeSetOrReset) {
  const auto signal = CreateEvent(kEventTypeSignal);
  EXPECT_EQ(0, SetEvent(signal.event_id));
  EXPECT_EQ(0, ResetEvent(signal.event_id));
  // DEBUG events live in the signal range with a slot (create_signal_event) but the CPU may not
  // signal them; neither MEMORY, HW_EXCEPTION nor any other type.
  const auto debug = CreateEvent(kEventTypeDebug);
  EXPECT_LT(debug.event_id, 4096u);
  EXPECT_EQ(debug.event_id, debug.event_slot_index);
  EXPECT_NE(0u, debug.event_page_offset);
  for (uint32_t type : {kEventTypeDebug, kEventTypeMemory, kEventTypeHwException, 1u, 2u, 4u, 6u, 7u}) {
    const uint32_t id = type == kEventTypeDebug ? debug.event_id : CreateEvent(type).event_id;
    EXPECT_EQ(-1, SetEvent(id)) << "type " << type;
    EXPECT_EQ(EINVAL, errno) << "type " << type;
    EXPECT_EQ(-1, ResetEvent(id)) << "type " << type;
    EXPECT_EQ(EINVAL, errno) << "type " << type;
  }
  // And an id nobody has.
  EXPECT_EQ(-1, SetEvent(0x7fffffff));
  EXPECT_EQ(EINVAL, errno);
}

TEST_F(EventIoctlTest, create_signal_event_create_other_event_IdsPerType) {
  // Signal and debug events share the lowest free ids from 1 (0 is reserved by
  // kfd_event_init_process); every other type takes the lowest free id from 4096.
  const auto s1 = CreateEvent(kEventTypeSignal);
  const auto d = CreateEvent(kEventTypeDebug);
  const auto m1 = CreateEvent(kEventTypeMemory);
  const auto h = CreateEvent(kEventTypeHwException);
  EXPECT_EQ(1u, s1.event_id);
  EXPECT_EQ(2u, d.event_id);
  EXPECT_EQ(4096u, m1.event_id);
  EXPECT_EQ(4097u, h.event_id);
  EXPECT_EQ(0u, m1.event_page_offset);  // no slot for the other types
  EXPECT_EQ(m1.event_id, m1.event_trigger_data);
  kfd_ioctl_destroy_event_args destroy{};
  destroy.event_id = s1.event_id;
  ASSERT_EQ(0, Call(AMDKFD_IOC_DESTROY_EVENT, &destroy));
  EXPECT_EQ(1u, CreateEvent(kEventTypeDebug).event_id);  // the freed id, for either kind
}

TEST_F(EventIoctlTest, kfd_wait_on_events_ABadLaterEntryHasConsumedTheEarlierOnes) {
  const uint32_t auto_id = CreateEvent(kEventTypeSignal, /*auto_reset=*/true).event_id;
  const uint32_t manual_id = CreateEvent(kEventTypeSignal, /*auto_reset=*/false).event_id;
  // An unknown id after two signaled events: EINVAL and FAIL, and the auto-reset event's signal is
  // gone (init_event_waiter consumed it, free_waiters does not give it back); the manual one stays.
  ASSERT_EQ(0, SetEvent(auto_id));
  ASSERT_EQ(0, SetEvent(manual_id));
  kfd_event_data entries[3] = {};
  entries[0].event_id = auto_id;
  entries[1].event_id = manual_id;
  entries[2].event_id = 0x7ffffff0;
  kfd_ioctl_wait_events_args out{};
  EXPECT_EQ(-1, WaitAny(entries, 3, &out));
  EXPECT_EQ(EINVAL, errno);
  EXPECT_EQ(uint32_t{KFD_IOC_WAIT_RESULT_FAIL}, out.wait_result);
  EXPECT_EQ(0, WaitAny(&entries[0], 1, &out));
  EXPECT_EQ(uint32_t{KFD_IOC_WAIT_RESULT_TIMEOUT}, out.wait_result);
  EXPECT_EQ(0, WaitAny(&entries[1], 1, &out));
  EXPECT_EQ(uint32_t{KFD_IOC_WAIT_RESULT_COMPLETE}, out.wait_result);
}

TEST_F(EventIoctlTest, kfd_wait_on_events_AnEntryThatCannotBeReadHasConsumedTheEarlierOnes) {
  const uint32_t auto_id = CreateEvent(kEventTypeSignal, /*auto_reset=*/true).event_id;
  ASSERT_EQ(0, SetEvent(auto_id));
  // Two pages, the second inaccessible: entry 0 at the end of the first, entry 1 in the second.
  void* pages = mmap(nullptr, 8192, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  ASSERT_NE(MAP_FAILED, pages);
  ASSERT_EQ(0, mprotect(static_cast<char*>(pages) + 4096, 4096, PROT_NONE));
  auto* entries =
      reinterpret_cast<kfd_event_data*>(static_cast<char*>(pages) + 4096 - sizeof(kfd_event_data));
  memset(entries, 0, sizeof(kfd_event_data));
  entries[0].event_id = auto_id;
  kfd_ioctl_wait_events_args out{};
  EXPECT_EQ(-1, WaitAny(entries, 2, &out));
  EXPECT_EQ(EFAULT, errno);
  EXPECT_EQ(uint32_t{KFD_IOC_WAIT_RESULT_FAIL}, out.wait_result);
  EXPECT_EQ(0, WaitAny(entries, 1, &out));
  EXPECT_EQ(uint32_t{KFD_IOC_WAIT_RESULT_TIMEOUT}, out.wait_result);  // consumed by the failed wait
  munmap(pages, 8192);
}

TEST_F(EventIoctlTest, kfd_event_page_set_AnEventPageBoSmallerThan32KiBIsEinval) {
  Buffer small = DeviceMemory(0, kVa + 0x100000000ull, 16384, {0}, kGtt);
  kfd_ioctl_create_event_args a{};
  a.event_type = kEventTypeSignal;
  a.event_page_offset = small.handle;
  EXPECT_EQ(-1, Call(AMDKFD_IOC_CREATE_EVENT, &a));
  EXPECT_EQ(EINVAL, errno);
  // No page was installed: a 32 KiB one still can be.
  EnsureEventPage();
  a.event_page_offset = event_page_.handle;
  EXPECT_EQ(0, Call(AMDKFD_IOC_CREATE_EVENT, &a)) << strerror(errno);
  event_page_given_ = true;
  // And a second page is refused (kfd_kmap_event_page: "Event page is already set").
  a.event_page_offset = event_page_.handle;
  EXPECT_EQ(-1, Call(AMDKFD_IOC_CREATE_EVENT, &a));
  EXPECT_EQ(EINVAL, errno);
}

TEST_F(EventIoctlTest, amdgpu_amdkfd_gpuvm_map_gtt_bo_to_kernel_AVramBoCanBeTheEventPage) {
  // 6.1.y pins the BO to GTT (amdgpu_bo_pin moves a VRAM BO) and kmaps it; only userptr BOs fail.
  Buffer vram = DeviceMemory(0, kVa + 0x200000000ull, kEventPageBytes, {0});
  kfd_ioctl_create_event_args a{};
  a.event_type = kEventTypeSignal;
  a.event_page_offset = vram.handle;
  ASSERT_EQ(0, Call(AMDKFD_IOC_CREATE_EVENT, &a)) << strerror(errno);
  EXPECT_EQ(~0ull, vram.at<volatile uint64_t>(0)[a.event_slot_index]);  // slots UNSIGNALED
}

TEST_F(EventIoctlTest, set_event_from_interrupt_TheGpuSignalsDebugEvents) {
  // A DEBUG event's slot written by RELEASE_MEM with its id: the interrupt sets it
  // (event_can_be_gpu_signaled), though SET_EVENT may not.
  const auto debug = CreateEvent(kEventTypeDebug, /*auto_reset=*/false);
  const uint64_t mailbox = event_page_.va + 8ull * debug.event_slot_index;
  Queue& q = CreateQueue(0, kPm4);
  Submit(q, pm4::ReleaseMem(mailbox, debug.event_id, debug.event_id));
  EXPECT_EQ(uint32_t{KFD_IOC_WAIT_RESULT_COMPLETE}, WaitEvent(debug.event_id, 20000));
}

TEST_F(EventIoctlTest, kfd_signal_hw_exception_event_APm4BadOpcodeSetsHwExceptionEvents) {
  // event_interrupt_wq_v9: SOC15_INTSRC_CP_BAD_OPCODE -> kfd_signal_hw_exception_event, which sets
  // every HW_EXCEPTION event of the process (and no other).
  const uint32_t hw = CreateEvent(kEventTypeHwException, /*auto_reset=*/false).event_id;
  const uint32_t memory = CreateMemoryEvent();
  EXPECT_EQ(uint32_t{KFD_IOC_WAIT_RESULT_TIMEOUT}, WaitEvent(hw, 0));
  Queue& q = CreateQueue(0, kPm4);
  Submit(q, std::vector<uint32_t>{pm4::Header(0xEE, 2), 0u, 0u});
  EXPECT_EQ(uint32_t{KFD_IOC_WAIT_RESULT_COMPLETE}, WaitEvent(hw, 20000));
  EXPECT_EQ(uint32_t{KFD_IOC_WAIT_RESULT_TIMEOUT}, WaitEvent(memory, 0));
}

}  // namespace
}  // namespace vkfd::conformance

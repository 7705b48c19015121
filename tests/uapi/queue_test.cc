// The GPU side through raw ioctls: every packet type the emulated engines execute (AQL, SDMA 4.4,
// PM4), every fault they take, on page tables built by real MAPs — and the seed's case, a MAP that
// failed on one GPU of four made observable by that GPU's DMA engine.
#include <errno.h>
#include <gtest/gtest.h>
#include <linux/kfd_ioctl.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <signal.h>

#include <cstring>
#include <numeric>
#include <thread>
#include <vector>

#include <vkfd/vkfd_ioctl.h>

#include "testing/code_object_builder.h"
#include "testing/thread_signal_timer.h"
#include "uapi/queue_fixture.h"

namespace vkfd::conformance {
namespace {

using sdma::operator+;

constexpr uint32_t kAql = KFD_IOC_QUEUE_TYPE_COMPUTE_AQL;
constexpr uint32_t kSdma = KFD_IOC_QUEUE_TYPE_SDMA;
constexpr uint32_t kPm4 = KFD_IOC_QUEUE_TYPE_COMPUTE;

// A pattern that differs at every 4-byte word.
void FillPattern(uint8_t* p, uint64_t bytes, uint32_t seed) {
  for (uint64_t i = 0; i < bytes / 4; ++i) {
    const uint32_t v = seed * 2654435761u + static_cast<uint32_t>(i) * 40503u;
    memcpy(p + 4 * i, &v, 4);
  }
}

// ---- AQL ----------------------------------------------------------------------------------------

TEST_F(QueueTest, AqlBarrierAndCompletesDecrementsItsSignalAndFreesTheSlot) {
  Queue& q = CreateQueue(0, kAql);
  const uint64_t done = NewSignal(1);
  Submit(q, AqlPacket(kAqlBarrierAnd | kAqlBarrierBit | kAqlAcquireSystem | kAqlReleaseSystem)
                .Completion(done));
  ASSERT_TRUE(WaitFor([&] { return SignalValue(done) == 0; }));
  ASSERT_TRUE(WaitFor([&] { return Drained(q); }));
  EXPECT_EQ(1u, *q.rptr);
  // The CP hands the slot back: the header is INVALID again.
  EXPECT_EQ(kAqlInvalid, *q.ring.at<uint16_t>(0) & 0xff);
}

TEST_F(QueueTest, AqlBarrierAndWaitsForEveryDependency) {
  Queue& q = CreateQueue(0, kAql);
  const uint64_t a = NewSignal(1), b = NewSignal(2), done = NewSignal(1);
  Submit(q, AqlPacket(kAqlBarrierAnd).Set<uint64_t>(8, a).Set<uint64_t>(24, b).Completion(done));
  const uint64_t after = NewSignal(1);
  Submit(q, AqlPacket(kAqlBarrierAnd).Completion(after));
  // Whenever we look, neither packet has completed: a dependency is not zero.
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_EQ(1, SignalValue(done));
  EXPECT_EQ(1, SignalValue(after));
  SetSignal(a, 0);
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_EQ(1, SignalValue(done));
  EXPECT_EQ(0u, *q.rptr);
  SetSignal(b, 0);
  ASSERT_TRUE(WaitFor([&] { return SignalValue(after) == 0; }));
  EXPECT_EQ(0, SignalValue(done));
  EXPECT_EQ(2u, *q.rptr);
}

TEST_F(QueueTest, AqlBarrierOrNeedsOneDependencyAndNullEntriesDoNotCount) {
  Queue& q = CreateQueue(0, kAql);
  const uint64_t a = NewSignal(5), b = NewSignal(7), done = NewSignal(1);
  Submit(q, AqlPacket(kAqlBarrierOr).Set<uint64_t>(16, a).Set<uint64_t>(40, b).Completion(done));
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_EQ(1, SignalValue(done));
  SetSignal(b, 0);
  ASSERT_TRUE(WaitFor([&] { return SignalValue(done) == 0; }));
  // An OR with five null entries has nothing that can be met: it never completes, and the queue
  // waits behind it — until it is destroyed, which must not hang.
  const uint64_t never = NewSignal(1);
  Submit(q, AqlPacket(kAqlBarrierOr).Completion(never));
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_EQ(1, SignalValue(never));
  EXPECT_EQ(1u, *q.rptr);
  EXPECT_EQ(0, DestroyQueue(q)) << strerror(errno);
}

TEST_F(QueueTest, AqlBarrierValuePacketComparesTheMaskedValue) {
  Queue& q = CreateQueue(0, kAql);
  const uint64_t watched = NewSignal(0x13), done = NewSignal(1);
  // AMD vendor packet, format 2 (BARRIER_VALUE): wait until (value & 0xf0) == 0x20.
  Submit(q, AqlPacket(kAqlVendor | kAqlBarrierBit)
                .Set<uint16_t>(2, 2)
                .Set<uint64_t>(8, watched)
                .Set<int64_t>(16, 0x20)
                .Set<int64_t>(24, 0xf0)
                .Set<uint32_t>(32, 0 /* EQ */)
                .Completion(done));
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_EQ(1, SignalValue(done));
  SetSignal(watched, 0x2f);
  ASSERT_TRUE(WaitFor([&] { return SignalValue(done) == 0; }));
}

TEST_F(QueueTest, AqlVendorPm4IbWithAcquireMemCompletesAsRocrExpects) {
  Queue& q = CreateQueue(0, kAql);
  Buffer ib = HostMemory(4096, {0});
  const std::vector<uint32_t> acquire = pm4::AcquireMem();
  memcpy(ib.cpu, acquire.data(), acquire.size() * 4);
  // ROCr's ExecutePM4: header 0 (VENDOR_SPECIFIC), format 1, an INDIRECT_BUFFER in dwords 1-4,
  // dw_cnt_remain 0xA; no completion signal — it spins until read_dispatch_id passes the packet.
  AqlPacket p(kAqlVendor);
  p.Set<uint16_t>(2, 1);
  const std::vector<uint32_t> jump = pm4::IndirectBuffer(ib.va, static_cast<uint32_t>(acquire.size()));
  for (size_t i = 0; i < jump.size(); ++i) p.Set<uint32_t>(4 + 4 * i, jump[i]);
  p.Set<uint32_t>(20, 0xA);
  const uint64_t index = Submit(q, p);
  ASSERT_TRUE(WaitFor([&] { return __atomic_load_n(q.rptr, __ATOMIC_ACQUIRE) > index; }));
}

TEST_F(QueueTest, AqlPacketsCompleteInOrderAcrossManyRingWraps) {
  Queue& q = CreateQueue(0, kAql, 1024);  // 16 slots
  std::vector<uint64_t> signals;
  for (int i = 0; i < 200; ++i) {
    signals.push_back(NewSignal(1));
    Submit(q, AqlPacket(kAqlBarrierAnd).Completion(signals.back()));
  }
  ASSERT_TRUE(WaitFor([&] { return Drained(q); }));
  EXPECT_EQ(200u, *q.rptr);
  for (uint64_t s : signals) EXPECT_EQ(0, SignalValue(s));
}

TEST_F(QueueTest, AqlStopsAtASlotThatIsReservedButNotWritten) {
  Queue& q = CreateQueue(0, kAql);
  const uint64_t first = NewSignal(1), second = NewSignal(1);
  // Slot 0 reserved (write_dispatch_id = 1) but its header still INVALID; slot 1 written and rung.
  q.written = 1;
  __atomic_store_n(q.wptr, 1, __ATOMIC_RELEASE);
  Submit(q, AqlPacket(kAqlBarrierAnd).Completion(second));
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_EQ(1, SignalValue(second));
  EXPECT_EQ(0u, *q.rptr);
  // The writer finishes slot 0 and rings: both run, in order.
  AqlPacket p(kAqlBarrierAnd);
  p.Completion(first);
  memcpy(q.ring.cpu + 4, p.bytes + 4, 60);
  __atomic_store_n(q.ring.at<uint32_t>(0), static_cast<uint32_t>(kAqlBarrierAnd), __ATOMIC_RELEASE);
  q.doorbell->store(0, std::memory_order_release);
  ASSERT_TRUE(WaitFor([&] { return SignalValue(second) == 0; }));
  EXPECT_EQ(0, SignalValue(first));
}

TEST_F(QueueTest, AqlCompletionSignalWithAMailboxWakesItsEvent) {
  const SignalEvent event = CreateSignalEvent();
  Queue& q = CreateQueue(1, kAql);
  const uint64_t done = NewSignal(1, &event);
  std::thread submitter([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(30));
    Submit(q, AqlPacket(kAqlBarrierAnd).Completion(done));
  });
  // The CP decrements the value, writes the event id into the mailbox slot and interrupts: the
  // waiter wakes long before its timeout.
  EXPECT_EQ(uint32_t{KFD_IOC_WAIT_RESULT_COMPLETE}, WaitEvent(event.id, 20000));
  submitter.join();
  EXPECT_EQ(0, SignalValue(done));
}

TEST_F(QueueTest, AqlQueuesOfSeveralGpusRunConcurrently) {
  // A barrier on GPU 0 waits for a signal only GPU 1's queue completes.
  Queue& q0 = CreateQueue(0, kAql);
  Queue& q1 = CreateQueue(1, kAql);
  const uint64_t gate = NewSignal(1), d0 = NewSignal(1);
  Submit(q0, AqlPacket(kAqlBarrierAnd).Set<uint64_t>(8, gate).Completion(d0));
  std::this_thread::sleep_for(std::chrono::milliseconds(10));
  Submit(q1, AqlPacket(kAqlBarrierAnd).Completion(gate));
  ASSERT_TRUE(WaitFor([&] { return SignalValue(d0) == 0; }));
  EXPECT_EQ(0, SignalValue(gate));
}

TEST_F(QueueTest, ADoorbellAfterALongIdleIsNoticed) {
  // Idle long enough that the command processor stops polling and watches the doorbells instead
  // (hw/queue/doorbell_watch.h): the write traps, wakes it, and lands.
  Queue& q = CreateQueue(0, kAql);
  const uint64_t first = NewSignal(1);
  Submit(q, AqlPacket(kAqlBarrierAnd).Completion(first));
  ASSERT_TRUE(WaitFor([&] { return SignalValue(first) == 0; }));
  for (int round = 0; round < 3; ++round) {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    const uint64_t later = NewSignal(1);
    Submit(q, AqlPacket(kAqlBarrierAnd).Completion(later));
    EXPECT_TRUE(WaitFor([&] { return SignalValue(later) == 0; })) << round;
    EXPECT_EQ(uint64_t(round) + 2, *q.rptr);
  }
}

TEST_F(QueueTest, AForkedChildHasNoDoorbells) {
  // kfd_doorbell_mmap's VM_DONTCOPY: the child's store to the parent's doorbell address faults.
  Queue& q = CreateQueue(0, kAql);
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    signal(SIGSEGV, SIG_DFL);
    q.doorbell->store(99, std::memory_order_relaxed);
    _exit(0);
  }
  int status = 0;
  ASSERT_EQ(child, waitpid(child, &status, 0));
  EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGSEGV) << status;
  // The parent's queue is untouched and works.
  const uint64_t done = NewSignal(1);
  Submit(q, AqlPacket(kAqlBarrierAnd).Completion(done));
  EXPECT_TRUE(WaitFor([&] { return SignalValue(done) == 0; }));
}

TEST_F(QueueTest, TimingModelDelaysCompletionsAndKeepsTheirOrder) {
  if (!backend_->SetDmaLatency(30'000'000)) GTEST_SKIP() << "needs 30 ms completions";
  Queue& q = CreateQueue(0, kAql);
  std::vector<uint64_t> signals;
  for (int i = 0; i < 4; ++i) signals.push_back(NewSignal(1));
  const auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < 3; ++i) Submit(q, AqlPacket(kAqlBarrierAnd).Completion(signals[i]));
  // The barrier bit: launched only once the three before it have completed.
  Submit(q, AqlPacket(kAqlBarrierAnd | kAqlBarrierBit).Completion(signals[3]));
  // Whenever we look, completions are a prefix of the packets (in order).
  std::vector<std::chrono::steady_clock::duration> seen(4);
  int done = 0;
  ASSERT_TRUE(WaitFor([&] {
    int prefix = 0;
    while (prefix < 4 && SignalValue(signals[prefix]) == 0) ++prefix;
    for (int i = prefix; i < 4; ++i) EXPECT_EQ(1, SignalValue(signals[i])) << i;
    for (; done < prefix; ++done) seen[done] = std::chrono::steady_clock::now() - t0;
    return prefix == 4;
  }));
  // Never before the modelled latency; the barrier-bit packet is launched only once the others have
  // completed, so it completes at least two latencies after the first submission. (When this thread
  // sees them is the host's business: only lower bounds are the design's.)
  for (int i = 0; i < 4; ++i) EXPECT_GE(seen[i], std::chrono::milliseconds(30)) << i;
  EXPECT_GE(seen[3], std::chrono::milliseconds(60));
  backend_->SetDmaLatency(0);
}

// Malformed packets: the queue takes the error the CP gives (the code in its inactive signal), the
// read index stays on the packet, and everything else keeps working.
class AqlErrorTest : public QueueTest {
 protected:
  void ExpectQueueError(const AqlPacket& bad, int64_t code) {
    Queue& q = CreateQueue(0, kAql);
    const uint64_t inactive = NewSignal(0);
    *q.control.at<uint64_t>(kQueueInactiveSignal) = inactive;
    const uint64_t before = NewSignal(1);
    Submit(q, AqlPacket(kAqlBarrierAnd).Completion(before));
    Submit(q, bad);
    const uint64_t after = NewSignal(1);
    Submit(q, AqlPacket(kAqlBarrierAnd).Completion(after));
    ASSERT_TRUE(WaitFor([&] { return SignalValue(inactive) != 0; }));
    EXPECT_EQ(code, SignalValue(inactive));
    EXPECT_EQ(0, SignalValue(before));
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    EXPECT_EQ(1u, *q.rptr);          // stopped on the bad packet
    EXPECT_EQ(1, SignalValue(after));  // nothing after it runs
    // Another queue on the same GPU works; the failed one can be destroyed.
    Queue& other = CreateQueue(0, kAql);
    const uint64_t fine = NewSignal(1);
    Submit(other, AqlPacket(kAqlBarrierAnd).Completion(fine));
    EXPECT_TRUE(WaitFor([&] { return SignalValue(fine) == 0; }));
    EXPECT_EQ(0, DestroyQueue(q));
  }
};

TEST_F(AqlErrorTest, UnknownPacketTypeIsAnInvalidPacketFormat) {
  ExpectQueueError(AqlPacket(7), kErrorInvalidPacketFormat);
}

TEST_F(AqlErrorTest, AgentDispatchOnAGpuQueueIsAnInvalidPacketFormat) {
  ExpectQueueError(AqlPacket(kAqlAgentDispatch), kErrorInvalidPacketFormat);
}

TEST_F(AqlErrorTest, UnknownVendorFormatIsAnInvalidVendorPacket) {
  ExpectQueueError(AqlPacket(kAqlVendor).Set<uint16_t>(2, 9), kErrorInvalidVendorPacket);
}

TEST_F(AqlErrorTest, DispatchWithZeroDimensionsIsAnInvalidDimension) {
  ExpectQueueError(AqlPacket(kAqlDispatch).Set<uint16_t>(2, 0), kErrorInvalidDimension);
}

TEST_F(AqlErrorTest, DispatchOfAKernelVkfdDoesNotRunFailsAtOnce) {
  // A kernel object in mapped memory that is no code object vkfd knows: an illegal instruction,
  // reported at once (the test's patience is the bound), never a hang.
  Buffer code = HostMemory(8192, {0});
  FillPattern(code.cpu, code.size, 99);
  AqlPacket p(kAqlDispatch | kAqlAcquireSystem | kAqlReleaseSystem);
  p.Set<uint16_t>(2, 1).Set<uint16_t>(4, 64).Set<uint16_t>(6, 1).Set<uint16_t>(8, 1);
  p.Set<uint32_t>(12, 64).Set<uint32_t>(16, 1).Set<uint32_t>(20, 1);
  p.Set<uint64_t>(32, code.va + 256).Set<uint64_t>(40, code.va + 4096);
  ExpectQueueError(p, kErrorIllegalInstruction);
}

TEST_F(QueueTest, AqlWriteIndexBehindTheReadIndexDoesNothingAndCostsNothing) {
  Queue& q = CreateQueue(0, kAql);
  const uint64_t done = NewSignal(1);
  Submit(q, AqlPacket(kAqlBarrierAnd).Completion(done));
  ASSERT_TRUE(WaitFor([&] { return SignalValue(done) == 0; }));
  // A corrupt write index (behind what was consumed) and a doorbell: nothing to execute.
  __atomic_store_n(q.wptr, 0, __ATOMIC_RELEASE);
  q.doorbell->store(12345, std::memory_order_release);
  rusage before{}, after{};
  getrusage(RUSAGE_SELF, &before);
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  getrusage(RUSAGE_SELF, &after);
  auto cpu_us = [](const rusage& r) {
    return (r.ru_utime.tv_sec + r.ru_stime.tv_sec) * 1000000ll + r.ru_utime.tv_usec +
           r.ru_stime.tv_usec;
  };
  // No spinning: an idle queue's command processor sleeps (the bound is loose; spinning would use
  // the whole 500 ms).
  EXPECT_LT(cpu_us(after) - cpu_us(before), 150000);
  EXPECT_EQ(1u, *q.rptr);
  // The runtime repairs the index: the queue goes on.
  __atomic_store_n(q.wptr, 1, __ATOMIC_RELEASE);
  q.written = 1;
  const uint64_t next = NewSignal(1);
  Submit(q, AqlPacket(kAqlBarrierAnd).Completion(next));
  EXPECT_TRUE(WaitFor([&] { return SignalValue(next) == 0; }));
}

// ---- kernels --------------------------------------------------------------------------------------

// The HIP runtime's blit kernels, named by their symbols in a code object in GPU memory (as ROCr's
// loader leaves it), run natively through the dispatching GPU's page tables.
class KernelTest : public QueueTest {
 protected:
  void SetUp() override {
    QueueTest::SetUp();
    if (HasFatalFailure() || IsSkipped()) return;
    const testing::CodeObject co = testing::BuildCodeObject(
        {"__amd_rocclr_copyBuffer", "__amd_rocclr_copyBufferAligned",
         "__amd_rocclr_fillBufferAligned"});
    code_ = DeviceMemory(0, kVa + 0x40000000, (co.image.size() + 4095) & ~4095ull, {0, 1});
    memcpy(code_.cpu, co.image.data(), co.image.size());
    for (size_t i = 0; i < 3; ++i) {
      descriptor_[i] = code_.va + co.descriptor_offsets[i];
      program_[i] = code_.va + co.code_offsets[i];
    }
    kernargs_ = HostMemory(64 * 1024, {0, 1});
  }
  // A 1-D dispatch of kernel `k` over `items` work-items with `args` as its kernel arguments.
  AqlPacket Dispatch(int k, uint32_t items, const std::vector<uint64_t>& args, uint64_t signal) {
    const uint64_t kernarg = kernargs_.va + next_kernarg_;
    memcpy(kernargs_.cpu + next_kernarg_, args.data(), args.size() * 8);
    next_kernarg_ += 256;
    AqlPacket p(kAqlDispatch | kAqlAcquireSystem | kAqlReleaseSystem);
    p.Set<uint16_t>(2, 1).Set<uint16_t>(4, 256).Set<uint16_t>(6, 1).Set<uint16_t>(8, 1);
    p.Set<uint32_t>(12, items).Set<uint32_t>(16, 1).Set<uint32_t>(20, 1);
    p.Set<uint64_t>(32, descriptor_[k]).Set<uint64_t>(40, kernarg);
    return p.Completion(signal);
  }

  Buffer code_, kernargs_;
  uint64_t descriptor_[3] = {}, program_[3] = {};
  uint64_t next_kernarg_ = 0;
};

TEST_F(KernelTest, AqlCopyBufferFillBufferAndAlignedCopy) {
  Buffer a = DeviceMemory(0, kVa, 2 * kMiB, {0});
  Buffer b = HostMemory(64 * 1024, {0});
  FillPattern(a.cpu, 64 * 1024, 9);
  Queue& q = CreateQueue(0, kAql);
  const uint64_t s1 = NewSignal(1), s2 = NewSignal(1), s3 = NewSignal(1);
  // copyBuffer, byte-wise (remain 8): 1000 bytes from a+3 to b+5.
  Submit(q, Dispatch(0, 1000, {a.va, b.va, 3, 5, 1000, 8, 0}, s1));
  // copyBufferAligned, 16-byte elements: 256 of them from a+4096 to b+8192.
  Submit(q, Dispatch(1, 256, {a.va, b.va, 4096 / 16, 8192 / 16, 256, 16, 0}, s2));
  // fillBufferAligned of uints with a 2-uint pattern, 100 work-items from element 4 of b+16384.
  const uint32_t pattern[2] = {0x11111111u, 0x22222222u};
  memcpy(kernargs_.cpu + 60000, pattern, 8);
  Submit(q, Dispatch(2, 100, {0, 0, b.va + 16384, 0, kernargs_.va + 60000, 2, 4, 100, 0}, s3));
  ASSERT_TRUE(WaitFor([&] { return SignalValue(s3) == 0; }));
  EXPECT_EQ(0, SignalValue(s1));
  EXPECT_EQ(0, memcmp(a.cpu + 3, b.cpu + 5, 1000));
  EXPECT_EQ(0u, b.cpu[1005]);
  EXPECT_EQ(0, memcmp(a.cpu + 4096, b.cpu + 8192, 4096));
  for (int i = 0; i < 4; ++i) EXPECT_EQ(0u, *b.at<uint32_t>(16384 + 4 * i));
  for (int i = 0; i < 200; ++i) {
    EXPECT_EQ(pattern[i % 2], *b.at<uint32_t>(16384 + 16 + 4 * i)) << i;
  }
  EXPECT_EQ(0u, *b.at<uint32_t>(16384 + 16 + 800));
}

TEST_F(KernelTest, AqlKernelReadingAnUnmappedPageFaults) {
  const uint32_t memory_event = CreateMemoryEvent();
  Buffer b = HostMemory(8192, {1});
  Queue& q = CreateQueue(1, kAql);
  const uint64_t hole = kVa + 0x9000000;
  Submit(q, Dispatch(0, 64, {hole, b.va, 0, 0, 64, 8, 0}, NewSignal(1)));
  kfd_event_data data{};
  ASSERT_EQ(uint32_t{KFD_IOC_WAIT_RESULT_COMPLETE}, WaitEvent(memory_event, 20000, &data));
  EXPECT_EQ(gpus_[1], data.memory_exception_data.gpu_id);
  EXPECT_EQ(hole, data.memory_exception_data.va);
}

TEST_F(KernelTest, Pm4DispatchDirectRunsTheKernelAtThePrograms) {
  Buffer a = HostMemory(8192, {0});
  Buffer b = HostMemory(8192, {0});
  FillPattern(a.cpu, 8192, 10);
  const uint64_t kernarg = kernargs_.va + 32768;
  const uint64_t args[7] = {a.va, b.va, 0, 0, 3000, 8, 0};
  memcpy(kernargs_.cpu + 32768, args, sizeof(args));
  Queue& q = CreateQueue(0, kPm4);
  const uint64_t pgm = program_[0] >> 8;
  // COMPUTE_PGM_LO/HI, COMPUTE_NUM_THREAD_X/Y/Z, COMPUTE_USER_DATA_0/1 (the kernarg pointer),
  // then DISPATCH_DIRECT of 12 × 1 × 1 groups of 256.
  Submit(q, std::vector<uint32_t>{pm4::Header(0x76, 3), 0x20C, static_cast<uint32_t>(pgm),
                                  static_cast<uint32_t>(pgm >> 32)} +
                std::vector<uint32_t>{pm4::Header(0x76, 4), 0x207, 256, 1, 1} +
                std::vector<uint32_t>{pm4::Header(0x76, 3), 0x240, static_cast<uint32_t>(kernarg),
                                      static_cast<uint32_t>(kernarg >> 32)} +
                std::vector<uint32_t>{pm4::Header(0x15, 4), 12, 1, 1, 1} +
                pm4::WriteData(b.va + 4096 + 64, {0xd0e}));
  ASSERT_TRUE(WaitFor([&] { return *b.at<volatile uint32_t>(4096 + 64) == 0xd0e; }));
  EXPECT_EQ(0, memcmp(a.cpu, b.cpu, 3000));
  EXPECT_EQ(0u, b.cpu[3000]);
}

// ---- SDMA ---------------------------------------------------------------------------------------

TEST_F(QueueTest, SdmaCopyLinearHostToVramToHost) {
  constexpr uint64_t kBytes = 3 * kMiB + 4096 + 12;  // crosses 2 MiB and 4 KiB pages, odd tail
  Buffer src = HostMemory(kBytes, {0});
  Buffer dst = HostMemory(kBytes, {0});
  Buffer vram = DeviceMemory(0, kVa, 4 * kMiB, {0});
  FillPattern(src.cpu, kBytes, 1);
  Queue& q = CreateQueue(0, kSdma);
  // COPY_LINEAR moves at most 4 MiB - 1 per packet (a 22-bit count).
  Submit(q, sdma::Copy(vram.va + 4, src.va, kBytes) + sdma::Copy(dst.va, vram.va + 4, kBytes));
  ASSERT_TRUE(WaitFor([&] { return Drained(q); }));
  EXPECT_EQ(0, memcmp(src.cpu, dst.cpu, kBytes));
  EXPECT_EQ(0, memcmp(src.cpu, vram.cpu + 4, kBytes));  // the CPU's view of VRAM agrees
}

TEST_F(QueueTest, SdmaCopyAcrossMixedTwoMiBAndFourKiBMappings) {
  // A 2 MiB-aligned BO (2 MiB PTEs) and right after it a BO of 4 KiB pages at an odd page; a copy
  // spans both and the host.
  Buffer big = DeviceMemory(0, kVa, 2 * kMiB, {0});
  Buffer small = DeviceMemory(0, kVa + 2 * kMiB, 5 * 4096, {0});
  Buffer host = HostMemory(2 * kMiB + 5 * 4096, {0});
  Buffer back = HostMemory(2 * kMiB + 5 * 4096, {0});
  FillPattern(host.cpu, host.size, 2);
  Queue& q = CreateQueue(0, kSdma);
  const uint64_t bytes = kMiB + 3 * 4096 + 100;
  const uint64_t at = kVa + 2 * kMiB - kMiB;  // 1 MiB before the boundary
  Submit(q, sdma::Copy(at, host.va, bytes) + sdma::Copy(back.va, at, bytes));
  ASSERT_TRUE(WaitFor([&] { return Drained(q); }));
  EXPECT_EQ(0, memcmp(host.cpu, back.cpu, bytes));
  EXPECT_EQ(0, memcmp(host.cpu, big.cpu + kMiB, kMiB));
  EXPECT_EQ(0, memcmp(host.cpu + kMiB, small.cpu, bytes - kMiB));
}

TEST_F(QueueTest, SdmaConstFillWriteFenceAndTimestamp) {
  Buffer buf = HostMemory(3 * 4096, {2});
  Queue& q = CreateQueue(2, kSdma);
  Submit(q, sdma::Fill(buf.va, 0xA5A5C3C3u, 4096) + sdma::Write(buf.va + 4096, {1, 2, 3, 4, 5}) +
                sdma::Timestamp(buf.va + 8192) + sdma::Nop(2) + std::vector<uint32_t>{0u, 0u} +
                sdma::Timestamp(buf.va + 8200) + sdma::Fence(buf.va + 8208, 0xfeed));
  ASSERT_TRUE(WaitFor([&] { return *buf.at<volatile uint32_t>(8208) == 0xfeed; }));
  for (uint64_t i = 0; i < 1024; ++i) ASSERT_EQ(0xA5A5C3C3u, *buf.at<uint32_t>(4 * i)) << i;
  for (uint32_t i = 0; i < 5; ++i) EXPECT_EQ(i + 1, *buf.at<uint32_t>(4096 + 4 * i));
  EXPECT_EQ(0u, *buf.at<uint32_t>(4096 + 20));  // nothing past the WRITE's data
  const uint64_t t0 = *buf.at<uint64_t>(8192), t1 = *buf.at<uint64_t>(8200);
  EXPECT_NE(0u, t0);
  EXPECT_LE(t0, t1);
  // The timestamps are in GET_CLOCK_COUNTERS' GPU clock domain.
  kfd_ioctl_get_clock_counters_args clocks{};
  clocks.gpu_id = gpus_[2];
  ASSERT_EQ(0, Call(AMDKFD_IOC_GET_CLOCK_COUNTERS, &clocks));
  EXPECT_LE(t1, clocks.gpu_clock_counter);
  ASSERT_TRUE(WaitFor([&] { return Drained(q); }));
}

TEST_F(QueueTest, SdmaAtomicsAreRocrsSignalOperations) {
  Buffer buf = HostMemory(4096, {0});
  *buf.at<int64_t>(0) = 10;
  *buf.at<uint64_t>(8) = 7;
  *buf.at<uint64_t>(16) = 7;
  Queue& q = CreateQueue(0, kSdma);
  Submit(q, sdma::Atomic(0x2F, buf.va, static_cast<uint64_t>(-1)) +     // add -1: the decrement
                sdma::Atomic(0x28, buf.va + 8, 99, 7) +                  // cmpswap hits
                sdma::Atomic(0x28, buf.va + 16, 99, 8) +                 // cmpswap misses
                sdma::Atomic(0x27, buf.va + 24, 0x1234));               // swap
  ASSERT_TRUE(WaitFor([&] { return Drained(q); }));
  EXPECT_EQ(9, *buf.at<int64_t>(0));
  EXPECT_EQ(99u, *buf.at<uint64_t>(8));
  EXPECT_EQ(7u, *buf.at<uint64_t>(16));
  EXPECT_EQ(0x1234u, *buf.at<uint64_t>(24));
}

TEST_F(QueueTest, SdmaPollRegmemWaitsForMemoryThenTheRestRuns) {
  Buffer buf = HostMemory(4096, {0});
  Queue& q = CreateQueue(0, kSdma);
  Submit(q, sdma::PollEqual(buf.va, 0x50, 0xf0) + sdma::Fence(buf.va + 64, 1));
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_EQ(0u, *buf.at<volatile uint32_t>(64));
  __atomic_store_n(buf.at<uint32_t>(0), 0x5a, __ATOMIC_RELEASE);
  ASSERT_TRUE(WaitFor([&] { return *buf.at<volatile uint32_t>(64) == 1; }));
}

TEST_F(QueueTest, SdmaTrapAfterTheMailboxWakesTheEvent) {
  // ROCr's SDMA signal: decrement (ATOMIC), the event id into the mailbox (FENCE), TRAP with the id.
  const SignalEvent event = CreateSignalEvent();
  Queue& q = CreateQueue(3, kSdma);
  const uint64_t signal = NewSignal(1, &event);
  std::thread submitter([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(30));
    Submit(q, sdma::Atomic(0x2F, signal + kSignalValue, static_cast<uint64_t>(-1)) +
                  sdma::Fence(event.mailbox, event.id) + sdma::Trap(event.id));
  });
  EXPECT_EQ(uint32_t{KFD_IOC_WAIT_RESULT_COMPLETE}, WaitEvent(event.id, 20000));
  submitter.join();
  EXPECT_EQ(0, SignalValue(signal));
  // The driver acknowledged the slot (UNSIGNALED again) when it set the event.
  EXPECT_EQ(kUnsignaledSlot, *event_page_.at<volatile uint64_t>(event.mailbox - event_page_.va));
}

TEST_F(QueueTest, SdmaSubWindowCopyMovesARectangle) {
  // 16x8 elements of 4 bytes from (2,3) of a 64-wide source to (5,1) of a 32-wide destination.
  Buffer src = HostMemory(64 * 32 * 4, {0});
  Buffer dst = HostMemory(32 * 16 * 4, {0});
  FillPattern(src.cpu, src.size, 3);
  Queue& q = CreateQueue(0, kSdma);
  const uint32_t e_log2 = 2;
  Submit(q, {1u | (4u << 8) | (e_log2 << 29), sdma::Lo(src.va), sdma::Hi(src.va),
             2u | (3u << 16), (63u << 13), 64u * 32 - 1, sdma::Lo(dst.va), sdma::Hi(dst.va),
             5u | (1u << 16), (31u << 13), 32u * 16 - 1, 15u | (7u << 16), 0u});
  ASSERT_TRUE(WaitFor([&] { return Drained(q); }));
  for (uint32_t y = 0; y < 16; ++y) {
    for (uint32_t x = 0; x < 32; ++x) {
      const bool inside = x >= 5 && x < 21 && y >= 1 && y < 9;
      const uint32_t expect = inside ? *src.at<uint32_t>(4 * ((y - 1 + 3) * 64 + (x - 5 + 2))) : 0;
      ASSERT_EQ(expect, *dst.at<uint32_t>(4 * (y * 32 + x))) << x << "," << y;
    }
  }
}

TEST_F(QueueTest, SdmaRingWrapsWithRocrsZeroPadding) {
  Buffer buf = HostMemory(4096, {0});
  Queue& q = CreateQueue(0, kSdma, 1024);
  // Fences until the ring has wrapped several times; ROCr pads the end with zero dwords (NOPs) so
  // that no packet straddles it.
  for (uint32_t i = 1; i <= 300; ++i) {
    const uint64_t room = q.ring_bytes - q.written % q.ring_bytes;
    if (room < 16) Submit(q, std::vector<uint32_t>(room / 4, 0u));
    ASSERT_TRUE(WaitFor([&] { return q.written - *q.rptr + 16 <= q.ring_bytes; }));
    Submit(q, sdma::Fence(buf.va + 4 * (i % 512), i));
  }
  ASSERT_TRUE(WaitFor([&] { return Drained(q); }));
  for (uint32_t i = 45; i <= 300; ++i) EXPECT_EQ(i, *buf.at<uint32_t>(4 * (i % 512)));
}

// ---- PM4 ----------------------------------------------------------------------------------------

TEST_F(QueueTest, Pm4WriteDataIndirectBufferAndReleaseMemInterrupt) {
  const SignalEvent event = CreateSignalEvent();
  Buffer buf = HostMemory(4096, {0});
  Buffer ib = HostMemory(4096, {0});
  const std::vector<uint32_t> inner = pm4::WriteData(buf.va + 64, {0xabc, 0xdef});
  memcpy(ib.cpu, inner.data(), inner.size() * 4);
  Queue& q = CreateQueue(0, kPm4);
  std::thread submitter([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(30));
    Submit(q, pm4::WriteData(buf.va, {11, 22, 33}) + pm4::Nop() +
                  pm4::IndirectBuffer(ib.va, static_cast<uint32_t>(inner.size())) +
                  pm4::AcquireMem() + pm4::ReleaseMem(event.mailbox, event.id, event.id));
  });
  EXPECT_EQ(uint32_t{KFD_IOC_WAIT_RESULT_COMPLETE}, WaitEvent(event.id, 20000));
  submitter.join();
  EXPECT_EQ(11u, *buf.at<uint32_t>(0));
  EXPECT_EQ(33u, *buf.at<uint32_t>(8));
  EXPECT_EQ(0xabcu, *buf.at<uint32_t>(64));
  EXPECT_EQ(0xdefu, *buf.at<uint32_t>(68));
  // The PM4 read pointer is a 32-bit dword offset that wraps at the ring ("gfx9 hardware is 32bit
  // rptr").
  ASSERT_TRUE(WaitFor([&] { return Drained(q); }));
}

TEST_F(QueueTest, Pm4WaitRegMemParksTheQueue) {
  Buffer buf = HostMemory(4096, {0});
  Queue& q = CreateQueue(0, kPm4);
  Submit(q, pm4::WaitMemEqual(buf.va, 3) + pm4::WriteData(buf.va + 8, {77}));
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_EQ(0u, *buf.at<volatile uint32_t>(8));
  __atomic_store_n(buf.at<uint32_t>(0), 3, __ATOMIC_RELEASE);
  ASSERT_TRUE(WaitFor([&] { return *buf.at<volatile uint32_t>(8) == 77; }));
  ASSERT_TRUE(WaitFor([&] { return Drained(q); }));
}

TEST_F(QueueTest, Pm4BadOpcodeStopsOnlyThatQueue) {
  Buffer buf = HostMemory(4096, {0});
  Queue& q = CreateQueue(0, kPm4);
  Submit(q, pm4::WriteData(buf.va, {1}) + std::vector<uint32_t>{pm4::Header(0xEE, 2), 0u, 0u} +
                pm4::WriteData(buf.va + 4, {2}));
  ASSERT_TRUE(WaitFor([&] { return *buf.at<volatile uint32_t>(0) == 1; }));
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_EQ(0u, *buf.at<volatile uint32_t>(4));
  Queue& other = CreateQueue(0, kPm4);
  Submit(other, pm4::WriteData(buf.va + 8, {3}));
  EXPECT_TRUE(WaitFor([&] { return *buf.at<volatile uint32_t>(8) == 3; }));
}

// ---- GPU VM faults ------------------------------------------------------------------------------

class VmFaultTest : public QueueTest {
 protected:
  // Waits for the process's memory event and returns its data.
  kfd_hsa_memory_exception_data WaitForFault(uint32_t memory_event) {
    kfd_event_data data{};
    EXPECT_EQ(uint32_t{KFD_IOC_WAIT_RESULT_COMPLETE}, WaitEvent(memory_event, 20000, &data));
    return data.memory_exception_data;
  }
};

TEST_F(VmFaultTest, SdmaCopyFromAnUnmappedPageFaultsWithItsAddress) {
  const uint32_t memory_event = CreateMemoryEvent();
  Buffer dst = HostMemory(8192, {1});
  Queue& q = CreateQueue(1, kSdma);
  const uint64_t hole = kVa + 0x123000;  // nothing is mapped there
  Submit(q, sdma::Copy(dst.va, hole + 0x10, 64) + sdma::Fence(dst.va + 4096, 1));
  const kfd_hsa_memory_exception_data fault = WaitForFault(memory_event);
  EXPECT_EQ(gpus_[1], fault.gpu_id);
  EXPECT_EQ(hole, fault.va);  // the page, as kfd_signal_vm_fault_event reports it
  EXPECT_EQ(1u, fault.failure.NotPresent);
  EXPECT_EQ(0u, fault.failure.ReadOnly);
  EXPECT_EQ(0u, fault.failure.imprecise);
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_EQ(0u, *dst.at<volatile uint32_t>(4096));  // the queue stopped at the fault
}

TEST_F(VmFaultTest, WriteThroughAReadOnlyMappingFaults) {
  const uint32_t memory_event = CreateMemoryEvent();
  Buffer ro = DeviceMemory(0, kVa, 2 * kMiB, {0},
                           KFD_IOC_ALLOC_MEM_FLAGS_VRAM | KFD_IOC_ALLOC_MEM_FLAGS_PUBLIC);
  Buffer src = HostMemory(4096, {0});
  Queue& q = CreateQueue(0, kSdma);
  // Reading it is fine; writing it is not.
  Submit(q, sdma::Copy(src.va, ro.va, 64) + sdma::Copy(ro.va + 4096, src.va, 64));
  const kfd_hsa_memory_exception_data fault = WaitForFault(memory_event);
  EXPECT_EQ(gpus_[0], fault.gpu_id);
  EXPECT_EQ(ro.va + 4096, fault.va);
  EXPECT_EQ(0u, fault.failure.NotPresent);
  EXPECT_EQ(1u, fault.failure.ReadOnly);
}

TEST_F(VmFaultTest, AqlCompletionSignalInUnmappedMemoryFaults) {
  const uint32_t memory_event = CreateMemoryEvent();
  Queue& q = CreateQueue(2, kAql);
  Submit(q, AqlPacket(kAqlBarrierAnd).Completion(kVa + 0x777000));
  const kfd_hsa_memory_exception_data fault = WaitForFault(memory_event);
  EXPECT_EQ(gpus_[2], fault.gpu_id);
  EXPECT_EQ(kVa + 0x777000, fault.va);
}

TEST_F(VmFaultTest, AFaultStopsTheProcessQueuesOnThatGpuOnly) {
  const uint32_t memory_event = CreateMemoryEvent();
  Buffer buf = HostMemory(4096, {0, 1});
  Queue& faulting = CreateQueue(0, kSdma);
  Queue& same_gpu = CreateQueue(0, kSdma);
  Queue& other_gpu = CreateQueue(1, kSdma);
  Submit(faulting, sdma::Fence(kVa + 0x5000, 1));
  WaitForFault(memory_event);
  // kfd_dqm_evict_pasid: every queue of the process on GPU 0 is evicted and never restored.
  Submit(same_gpu, sdma::Fence(buf.va, 1));
  Submit(other_gpu, sdma::Fence(buf.va + 4, 2));
  ASSERT_TRUE(WaitFor([&] { return *buf.at<volatile uint32_t>(4) == 2; }));
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_EQ(0u, *buf.at<volatile uint32_t>(0));
}

// ---- peers --------------------------------------------------------------------------------------

TEST_F(QueueTest, SdmaCopiesFromEveryPeerVramItMayMap) {
  if (gpus_.size() < 2) GTEST_SKIP();
  Buffer host = HostMemory(64 * 1024, AllGpus());
  FillPattern(host.cpu, host.size, 4);
  int checked = 0;
  for (size_t owner = 0; owner < gpus_.size() && owner < 4; ++owner) {
    std::vector<size_t> readers;
    for (size_t g = 0; g < gpus_.size() && g < 4; ++g) {
      if (g == owner || backend_->PeerAccessible(g, owner)) readers.push_back(g);
    }
    Buffer vram = DeviceMemory(owner, kVa + owner * 64 * kMiB, 2 * kMiB, readers);
    memcpy(vram.cpu, host.cpu, host.size);
    for (size_t reader : readers) {
      if (reader == owner) continue;
      Buffer out = HostMemory(64 * 1024, {reader});
      Queue& q = CreateQueue(reader, kSdma);
      Submit(q, sdma::Copy(out.va, vram.va, 64 * 1024));
      ASSERT_TRUE(WaitFor([&] { return Drained(q); }));
      EXPECT_EQ(0, memcmp(host.cpu, out.cpu, 64 * 1024)) << owner << "->" << reader;
      ++checked;
    }
  }
  RecordProperty("peer_copies", checked);
}

class XgmiQueueTest : public QueueTest {
 protected:
  std::string Topology() const override { return "mi250x8"; }
};

TEST_F(XgmiQueueTest, SdmaCopiesPeerVramOverXgmi) {
  ASSERT_TRUE(backend_->PeerAccessible(1, 0));
  Buffer vram = DeviceMemory(0, kVa, 2 * kMiB, {0, 1});
  FillPattern(vram.cpu, 64 * 1024, 5);
  Buffer out = HostMemory(64 * 1024, {1});
  Queue& q = CreateQueue(1, KFD_IOC_QUEUE_TYPE_SDMA_XGMI);
  Submit(q, sdma::Copy(out.va, vram.va, 64 * 1024));
  ASSERT_TRUE(WaitFor([&] { return Drained(q); }));
  EXPECT_EQ(0, memcmp(vram.cpu, out.cpu, 64 * 1024));
}

// ---- the dispatch extension (VKFD_IOC_SUBMIT) -----------------------------------------------------

class SubmitTest : public QueueTest {
 protected:
  int SubmitIoctl(const Queue& q, const void* packets, uint32_t bytes, uint32_t flags = 0,
                  uint64_t* position = nullptr) {
    vkfd_submit_args a{};
    a.packets_ptr = reinterpret_cast<uint64_t>(packets);
    a.queue_id = q.id;
    a.size_bytes = bytes;
    a.flags = flags;
    const int r = Raw(kfd_, VKFD_IOC_SUBMIT, &a);
    if (position != nullptr) *position = a.position;
    return r;
  }
};

TEST_F(SubmitTest, AqlPacketsRunAndReportTheirPositions) {
  Queue& q = CreateQueue(0, kAql);
  for (uint32_t flags : {0u, uint32_t{VKFD_SUBMIT_DEFER}}) {
    std::vector<AqlPacket> batch;
    std::vector<uint64_t> signals;
    for (int i = 0; i < 3; ++i) {
      signals.push_back(NewSignal(1));
      batch.push_back(AqlPacket(kAqlBarrierAnd | kAqlBarrierBit).Completion(signals.back()));
    }
    uint64_t position = ~0ull;
    ASSERT_EQ(0, SubmitIoctl(q, batch.data(), 3 * 64, flags, &position)) << strerror(errno);
    EXPECT_EQ(flags == 0 ? 0u : 3u, position);
    for (uint64_t s : signals) EXPECT_TRUE(WaitFor([&] { return SignalValue(s) == 0; }));
  }
  EXPECT_EQ(6u, *q.wptr);
  EXPECT_TRUE(WaitFor([&] { return *q.rptr == 6; }));
}

TEST_F(SubmitTest, SdmaAndPm4Rings) {
  Buffer buf = HostMemory(8192, {0});
  FillPattern(buf.cpu, 4096, 8);
  Queue& s = CreateQueue(0, kSdma);
  const std::vector<uint32_t> copy = sdma::Copy(buf.va + 4096, buf.va, 4096) + sdma::Fence(buf.va + 4096 + 4000, 0x5d);
  uint64_t position = ~0ull;
  ASSERT_EQ(0, SubmitIoctl(s, copy.data(), static_cast<uint32_t>(copy.size() * 4), 0, &position));
  EXPECT_EQ(0u, position);
  EXPECT_EQ(copy.size() * 4, *s.wptr);  // bytes
  ASSERT_TRUE(WaitFor([&] { return *buf.at<volatile uint32_t>(4096 + 4000) == 0x5d; }));
  EXPECT_EQ(0, memcmp(buf.cpu, buf.cpu + 4096, 4000));

  Queue& p = CreateQueue(1, kPm4);
  Buffer out = HostMemory(4096, {1});
  const std::vector<uint32_t> write = pm4::WriteData(out.va, {4, 5, 6});
  ASSERT_EQ(0, SubmitIoctl(p, write.data(), static_cast<uint32_t>(write.size() * 4), 0, &position));
  ASSERT_EQ(0, SubmitIoctl(p, write.data(), static_cast<uint32_t>(write.size() * 4), 0, &position));
  EXPECT_EQ(write.size(), position);  // dwords
  EXPECT_TRUE(WaitFor([&] { return *out.at<volatile uint32_t>(8) == 6; }));
}

TEST_F(SubmitTest, DirectAndIoctlProducersShareAnAqlQueue) {
  Queue& q = CreateQueue(0, kAql, 1024);
  constexpr int kEach = 300;
  std::vector<uint64_t> direct(kEach), submitted(kEach);
  for (int i = 0; i < kEach; ++i) {
    direct[i] = NewSignal(1);
    submitted[i] = NewSignal(1);
  }
  std::thread ioctls([&] {
    for (int i = 0; i < kEach; ++i) {
      const AqlPacket p = AqlPacket(kAqlBarrierAnd).Completion(submitted[i]);
      int r;
      while ((r = SubmitIoctl(q, p.bytes, 64)) != 0 && errno == ENOSPC) std::this_thread::yield();
      ASSERT_EQ(0, r) << strerror(errno);
    }
  });
  // This thread reserves with an atomic add on write_dispatch_id, as ROCr does.
  const uint64_t slots = q.ring_bytes / 64;
  for (int i = 0; i < kEach; ++i) {
    const uint64_t index = __atomic_fetch_add(q.wptr, 1, __ATOMIC_ACQ_REL);
    ASSERT_TRUE(WaitFor([&] { return index - __atomic_load_n(q.rptr, __ATOMIC_ACQUIRE) < slots; }));
    const AqlPacket p = AqlPacket(kAqlBarrierAnd).Completion(direct[i]);
    uint8_t* slot = q.ring.cpu + (index % slots) * 64;
    memcpy(slot + 4, p.bytes + 4, 60);
    uint32_t dword0;
    memcpy(&dword0, p.bytes, 4);
    __atomic_store_n(reinterpret_cast<uint32_t*>(slot), dword0, __ATOMIC_RELEASE);
    q.doorbell->store(index, std::memory_order_release);
  }
  ioctls.join();
  ASSERT_TRUE(WaitFor([&] { return *q.rptr == 2 * kEach; }));
  for (int i = 0; i < kEach; ++i) {
    EXPECT_EQ(0, SignalValue(direct[i]));
    EXPECT_EQ(0, SignalValue(submitted[i]));
  }
}

TEST_F(SubmitTest, Errors) {
  Queue& q = CreateQueue(0, kAql, 1024);  // 16 slots
  const AqlPacket barrier(kAqlBarrierAnd);
  Queue bogus;
  bogus.id = 99;
  EXPECT_EQ(-1, SubmitIoctl(bogus, barrier.bytes, 64));
  EXPECT_EQ(EINVAL, errno);
  EXPECT_EQ(-1, SubmitIoctl(q, barrier.bytes, 64, 2));
  EXPECT_EQ(EINVAL, errno);
  EXPECT_EQ(-1, SubmitIoctl(q, barrier.bytes, 63));
  EXPECT_EQ(EINVAL, errno);
  EXPECT_EQ(-1, SubmitIoctl(q, barrier.bytes, 0));
  EXPECT_EQ(EINVAL, errno);
  EXPECT_EQ(-1, SubmitIoctl(q, reinterpret_cast<void*>(0xffff800000000000ull), 64));
  EXPECT_EQ(EFAULT, errno);
  std::vector<uint8_t> too_big(2048);
  EXPECT_EQ(-1, SubmitIoctl(q, too_big.data(), 2048));
  EXPECT_EQ(EINVAL, errno);
  // A barrier that never completes holds the ring: 16 slots fill, the 17th has no room.
  const AqlPacket stuck = AqlPacket(kAqlBarrierOr);
  ASSERT_EQ(0, SubmitIoctl(q, stuck.bytes, 64));
  for (int i = 1; i < 16; ++i) ASSERT_EQ(0, SubmitIoctl(q, barrier.bytes, 64)) << i;
  EXPECT_EQ(-1, SubmitIoctl(q, barrier.bytes, 64));
  EXPECT_EQ(ENOSPC, errno);
  EXPECT_EQ(16u, *q.wptr);  // nothing reserved by the refused call

  // A queue that failed takes nothing more.
  Queue& failed = CreateQueue(0, kAql);
  const uint64_t inactive = NewSignal(0);
  *failed.control.at<uint64_t>(kQueueInactiveSignal) = inactive;
  const AqlPacket bad(7);
  ASSERT_EQ(0, SubmitIoctl(failed, bad.bytes, 64));
  ASSERT_TRUE(WaitFor([&] { return SignalValue(inactive) != 0; }));
  EXPECT_EQ(-1, SubmitIoctl(failed, barrier.bytes, 64));
  EXPECT_EQ(ECANCELED, errno);
}

// ---- the seed's case ----------------------------------------------------------------------------

// Felix Kuehling, 2018: "when map_memory_to_gpu returns, the memory can be used by the GPUs
// immediately". A MAP on four GPUs fails on the fourth (n_success = 3). 6.1 returns from a failed MAP
// without waiting for the updates it did submit (amdgpu_amdkfd_gpuvm_sync_memory is only reached on
// success), so the prefix is usable once a MAP succeeds: the retry from n_success, which also waits for
// them. Two orders:
//  * the fourth GPU copies before the retry: it faults (the memory-exception event names the page and
//    the GPU); kfd_dqm_evict_pasid then keeps the process's queues on that GPU evicted for good — a
//    queue made there afterwards never runs, even once the retry has mapped the BO (6.1 has no path
//    that restores them);
//  * the retry first: then all four GPUs copy.
// Each with and without a signal landing in the retry's wait (EINTR with n_success = 4, restart).
class SeedCaseTest : public VmFaultTest, public ::testing::WithParamInterface<std::tuple<bool, bool>> {
 protected:
  static constexpr uint64_t kBytes = 64 * 1024;

  void TearDown() override {
    timer_.reset();
    if (backend_) {
      backend_->ClearFaults();
      backend_->SetDmaLatency(0);
    }
    VmFaultTest::TearDown();
  }
  // The retry from n_success until it succeeds (a signal may interrupt its wait).
  void RetryMap(uint64_t handle, uint32_t n_success) {
    int err = 0;
    int attempts = 0;
    do {
      n_success = MapOn(handle, {0, 1, 2, 3}, n_success, &err);
      ASSERT_LT(++attempts, 100);
      if (err != 0) {
        ASSERT_EQ(EINTR, err);
      }
    } while (err != 0);
    EXPECT_EQ(4u, n_success);
  }
  void Copy(size_t gpu, const Buffer& from, const Buffer& to) {
    Queue& q = CreateQueue(gpu, kSdma);
    Submit(q, sdma::Copy(to.va, from.va, kBytes));
    ASSERT_TRUE(WaitFor([&] { return Drained(q); })) << "gpu " << gpu;
    EXPECT_EQ(0, memcmp(from.cpu, to.cpu, kBytes)) << "gpu " << gpu;
  }

  std::unique_ptr<testing::ThreadSignalTimer> timer_;
};

TEST_P(SeedCaseTest, MapFailureOnTheFourthGpu) {
  const auto [fault_first, with_signal] = GetParam();
  if (gpus_.size() < 4) GTEST_SKIP() << "needs four GPUs";
  const uint32_t memory_event = CreateMemoryEvent();
  std::vector<Buffer> outs;
  for (size_t g = 0; g < 4; ++g) outs.push_back(HostMemory(kBytes, {g}));
  Buffer bo = HostMemory(kBytes, {});
  FillPattern(bo.cpu, kBytes, 6);
  if (!backend_->InjectFaults("map.page_tables[gpu=3,nth=1]:ENOMEM")) {
    GTEST_SKIP() << "the backend cannot inject faults";
  }
  if (with_signal) {
    if (!backend_->SetDmaLatency(50'000'000)) GTEST_SKIP() << "needs 50 ms page-table jobs";
    timer_ = std::make_unique<testing::ThreadSignalTimer>(SIGRTMIN, /*restart=*/false);
  }
  int err = 0;
  const uint32_t n_success = MapOn(bo.handle, {0, 1, 2, 3}, 0, &err);
  ASSERT_EQ(ENOMEM, err);
  ASSERT_EQ(3u, n_success);
  backend_->ClearFaults();
  EXPECT_FALSE(MappedAt(3, bo.va));

  if (fault_first) {
    Queue& fourth = CreateQueue(3, kSdma);
    Submit(fourth, sdma::Copy(outs[3].va, bo.va, kBytes));
    const kfd_hsa_memory_exception_data fault = WaitForFault(memory_event);
    EXPECT_EQ(gpus_[3], fault.gpu_id);
    EXPECT_EQ(bo.va, fault.va);
    EXPECT_EQ(1u, fault.failure.NotPresent);
  }
  if (with_signal) timer_->Arm(10'000'000, 10'000'000);
  RetryMap(bo.handle, n_success);
  if (with_signal) {
    timer_->Arm(0, 0);
    EXPECT_GE(timer_->count(), 1);
  }
  EXPECT_TRUE(MappedAt(3, bo.va));
  for (size_t g = 0; g < 3; ++g) Copy(g, bo, outs[g]);
  if (!fault_first) {
    Copy(3, bo, outs[3]);
    return;
  }
  // The GPU that faulted: mapped now, but the process's queues there stay evicted.
  Queue& later = CreateQueue(3, kSdma);
  Submit(later, sdma::Fence(outs[3].va, 0x600d));
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_EQ(0u, *outs[3].at<volatile uint32_t>(0));
  EXPECT_EQ(0u, *later.rptr);
}

INSTANTIATE_TEST_SUITE_P(, SeedCaseTest,
                         ::testing::Combine(::testing::Bool(), ::testing::Bool()),
                         [](const auto& info) {
                           return std::string(std::get<0>(info.param) ? "FaultThenRetry"
                                                                      : "RetryThenCopy") +
                                  (std::get<1>(info.param) ? "WithSignalInTheWait" : "");
                         });

}  // namespace
}  // namespace vkfd::conformance

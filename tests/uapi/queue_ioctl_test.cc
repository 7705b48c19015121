// The queue ioctls' rules as 6.1.y applies them, each test named after the kernel function whose rule
// it checks: set_queue_properties_from_user, kfd_ioctl_create_queue, pqm_create_queue,
// allocate_sdma_queue/allocate_doorbell, pqm_update_queue_properties, kfd_ioctl_set_cu_mask,
// pqm_get_wave_state/get_wave_state, kfd_ioctl_alloc_queue_gws, kfd_doorbell_mmap.
#include <errno.h>
#include <gtest/gtest.h>
#include <linux/kfd_ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "uapi/queue_fixture.h"

namespace vkfd::conformance {
namespace {

using sdma::operator+;

constexpr uint64_t kKernelAddress = 0xffff800000001000ull;  // above TASK_SIZE_MAX: access_ok fails
constexpr int kEnotsupp = 524;

class QueueIoctlTest : public QueueTest {
 protected:
  // A CREATE_QUEUE with no ring (inactive) and valid pointers: the base the rule tests vary.
  kfd_ioctl_create_queue_args Args(size_t gpu, uint32_t type = KFD_IOC_QUEUE_TYPE_COMPUTE_AQL) {
    kfd_ioctl_create_queue_args a{};
    a.gpu_id = gpus_[gpu];
    a.queue_type = type;
    a.queue_percentage = 100;
    a.ring_size = 4096;
    a.read_pointer_address = reinterpret_cast<uint64_t>(&pointers_[0]);
    a.write_pointer_address = reinterpret_cast<uint64_t>(&pointers_[1]);
    return a;
  }
  int Create(kfd_ioctl_create_queue_args* a) { return Call(AMDKFD_IOC_CREATE_QUEUE, a); }
  int Destroy(uint32_t id) {
    kfd_ioctl_destroy_queue_args a{};
    a.queue_id = id;
    return Call(AMDKFD_IOC_DESTROY_QUEUE, &a);
  }
  uint64_t pointers_[2] = {};
};

TEST_F(QueueIoctlTest, set_queue_properties_from_user_ChecksInTheKernelsOrder) {
  // Each check fires with every later argument also wrong: the order is observable.
  auto a = Args(0);
  a.queue_percentage = 101;
  a.queue_priority = 16;
  a.ring_base_address = kKernelAddress;
  EXPECT_EQ(-1, Create(&a));
  EXPECT_EQ(EINVAL, errno);
  a.queue_percentage = 100;
  a.ring_size = 3000;
  EXPECT_EQ(-1, Create(&a));
  EXPECT_EQ(EINVAL, errno);  // priority 16
  a.queue_priority = 15;
  EXPECT_EQ(-1, Create(&a));
  EXPECT_EQ(EFAULT, errno);  // the ring address, before the ring size
  a.ring_base_address = 0;
  EXPECT_EQ(-1, Create(&a));
  EXPECT_EQ(EINVAL, errno);  // not a power of two
  a.ring_size = 4096;
  a.read_pointer_address = kKernelAddress;
  a.write_pointer_address = kKernelAddress;
  a.eop_buffer_address = kKernelAddress;
  a.queue_type = 7;
  EXPECT_EQ(-1, Create(&a));
  EXPECT_EQ(EFAULT, errno);
  a.read_pointer_address = 0;  // access_ok(NULL, 4) holds
  EXPECT_EQ(-1, Create(&a));
  EXPECT_EQ(EFAULT, errno);  // the write pointer
  a.write_pointer_address = 0;
  EXPECT_EQ(-1, Create(&a));
  EXPECT_EQ(EFAULT, errno);  // the EOP buffer
  a.eop_buffer_address = 0;
  a.ctx_save_restore_address = kKernelAddress;
  EXPECT_EQ(-1, Create(&a));
  EXPECT_EQ(EFAULT, errno);
  a.ctx_save_restore_address = 0;
  // The queue type last among the argument checks, and before the GPU is looked up: -ENOTSUPP.
  a.gpu_id = 0x4242;
  EXPECT_EQ(-1, Create(&a));
  EXPECT_EQ(kEnotsupp, errno);
  a.queue_type = KFD_IOC_QUEUE_TYPE_COMPUTE_AQL;
  EXPECT_EQ(-1, Create(&a));
  EXPECT_EQ(EINVAL, errno);  // kfd_process_device_data_by_id: no such GPU
}

TEST_F(QueueIoctlTest, set_queue_properties_from_user_ClampsTheRingSizeAndCopiesItBack) {
  for (uint32_t size : {0u, 1u, 512u}) {
    auto a = Args(0);
    a.ring_size = size;
    ASSERT_EQ(0, Create(&a)) << strerror(errno);
    EXPECT_EQ(uint32_t{KFD_MIN_QUEUE_RING_SIZE}, a.ring_size) << size;
    EXPECT_EQ(0, Destroy(a.queue_id));
  }
  // kfd_ioctl copies an IOWR struct back whatever the result: a failing call shows the clamp too.
  auto a = Args(0);
  a.ring_size = 256;
  a.gpu_id = 0x4242;
  EXPECT_EQ(-1, Create(&a));
  EXPECT_EQ(EINVAL, errno);
  EXPECT_EQ(uint32_t{KFD_MIN_QUEUE_RING_SIZE}, a.ring_size);
}

TEST_F(QueueIoctlTest, pqm_create_queue_QueueIdsAreProcessWideAndTheLowestFree) {
  auto a0 = Args(0), a1 = Args(1), a2 = Args(2, KFD_IOC_QUEUE_TYPE_SDMA);
  ASSERT_EQ(0, Create(&a0));
  ASSERT_EQ(0, Create(&a1));
  ASSERT_EQ(0, Create(&a2));
  EXPECT_EQ(0u, a0.queue_id);
  EXPECT_EQ(1u, a1.queue_id);
  EXPECT_EQ(2u, a2.queue_id);
  EXPECT_EQ(0, Destroy(a1.queue_id));
  auto again = Args(3);
  ASSERT_EQ(0, Create(&again));
  EXPECT_EQ(1u, again.queue_id);
}

TEST_F(QueueIoctlTest, pqm_create_queue_127PerDeviceIsEnospc) {
  std::vector<uint32_t> ids;
  for (int i = 0; i < 127; ++i) {
    auto a = Args(0, i % 2 == 0 ? KFD_IOC_QUEUE_TYPE_COMPUTE_AQL : KFD_IOC_QUEUE_TYPE_COMPUTE);
    ASSERT_EQ(0, Raw(kfd_, AMDKFD_IOC_CREATE_QUEUE, &a)) << i << ": " << strerror(errno);
    ids.push_back(a.queue_id);
  }
  auto a = Args(0);
  EXPECT_EQ(-1, Create(&a));
  EXPECT_EQ(ENOSPC, errno);
  auto sdma = Args(0, KFD_IOC_QUEUE_TYPE_SDMA);  // the count is of every type
  EXPECT_EQ(-1, Create(&sdma));
  EXPECT_EQ(ENOSPC, errno);
  auto other = Args(1);  // per device
  EXPECT_EQ(0, Create(&other));
  EXPECT_EQ(0, Destroy(ids[5]));
  EXPECT_EQ(0, Create(&a));
  EXPECT_EQ(ids[5], a.queue_id);
}

TEST_F(QueueIoctlTest, allocate_doorbell_ComputeQueuesTakeTheLowestFreeDoorbell) {
  auto a0 = Args(0), a1 = Args(0, KFD_IOC_QUEUE_TYPE_COMPUTE);
  ASSERT_EQ(0, Create(&a0));
  ASSERT_EQ(0, Create(&a1));
  // KFD_MMAP_TYPE_DOORBELL | gpu_id << 46 | doorbell_id · 8 within the 8 KiB process slice.
  const uint64_t base = (3ull << 62) | (uint64_t{gpus_[0]} << 46);
  EXPECT_EQ(base | 0, a0.doorbell_offset);
  EXPECT_EQ(base | 8, a1.doorbell_offset);
  EXPECT_EQ(0, Destroy(a0.queue_id));
  auto a2 = Args(0);
  ASSERT_EQ(0, Create(&a2));
  EXPECT_EQ(base | 0, a2.doorbell_offset);
}

TEST_F(QueueIoctlTest, allocate_sdma_queue_DoorbellsAreStaticPerEngineAndQueue) {
  // sdma_id = lowest free; engine = sdma_id % engines, queue = sdma_id / engines; doorbell =
  // 0x100 + 0xA · engine + (queue & 1) · 512 + (queue >> 1) (Vega20's sdma_doorbell_idx).
  const uint64_t base = (3ull << 62) | (uint64_t{gpus_[0]} << 46);
  std::vector<uint64_t> offsets;
  for (int i = 0; i < 5; ++i) {
    auto a = Args(0, KFD_IOC_QUEUE_TYPE_SDMA);
    ASSERT_EQ(0, Create(&a)) << i;
    offsets.push_back(a.doorbell_offset & 0x1fff);
    EXPECT_EQ(base, a.doorbell_offset & ~0x1fffull);
  }
  // MI210 has two PCIe-optimised SDMA engines (sdma0, sdma1), 8 queues each.
  EXPECT_EQ(0x100u * 8, offsets[0]);             // engine 0, queue 0
  EXPECT_EQ((0x100u + 0xA) * 8, offsets[1]);     // engine 1, queue 0
  EXPECT_EQ((0x100u + 512) * 8 % 0x2000, offsets[2]);  // engine 0, queue 1: the mirror half
  EXPECT_EQ((0x100u + 0xA + 512) * 8 % 0x2000, offsets[3]);
  EXPECT_EQ((0x100u + 1) * 8, offsets[4]);       // engine 0, queue 2
}

TEST_F(QueueIoctlTest, allocate_sdma_queue_ExhaustedEnginesAreEnomem) {
  // 2 engines × 8 queues on MI210; the 17th SDMA queue of the device has no slot.
  for (int i = 0; i < 16; ++i) {
    auto a = Args(0, KFD_IOC_QUEUE_TYPE_SDMA);
    ASSERT_EQ(0, Raw(kfd_, AMDKFD_IOC_CREATE_QUEUE, &a)) << i << ": " << strerror(errno);
  }
  auto a = Args(0, KFD_IOC_QUEUE_TYPE_SDMA);
  EXPECT_EQ(-1, Create(&a));
  EXPECT_EQ(ENOMEM, errno);
  auto compute = Args(0);  // compute queues are unaffected
  EXPECT_EQ(0, Create(&compute));
}

TEST_F(QueueIoctlTest, pqm_destroy_queue_UnknownIdIsEinval) {
  EXPECT_EQ(-1, Destroy(77));
  EXPECT_EQ(EINVAL, errno);
  auto a = Args(0);
  ASSERT_EQ(0, Create(&a));
  EXPECT_EQ(0, Destroy(a.queue_id));
  EXPECT_EQ(-1, Destroy(a.queue_id));
  EXPECT_EQ(EINVAL, errno);
}

TEST_F(QueueIoctlTest, pqm_update_queue_properties_SuspendsAndResumesAQueue) {
  kfd_ioctl_update_queue_args u{};
  u.queue_id = 9;
  u.queue_percentage = 100;
  u.ring_size = 4096;
  EXPECT_EQ(-1, Call(AMDKFD_IOC_UPDATE_QUEUE, &u));
  EXPECT_EQ(EFAULT, errno);  // no such queue
  u.queue_percentage = 101;
  EXPECT_EQ(-1, Call(AMDKFD_IOC_UPDATE_QUEUE, &u));
  EXPECT_EQ(EINVAL, errno);

  Queue& q = CreateQueue(0, KFD_IOC_QUEUE_TYPE_COMPUTE_AQL);
  u = {};
  u.queue_id = q.id;
  u.ring_base_address = q.ring.va;
  u.ring_size = static_cast<uint32_t>(q.ring_bytes);
  u.queue_percentage = 0;  // not active: the CP reads nothing
  ASSERT_EQ(0, Call(AMDKFD_IOC_UPDATE_QUEUE, &u));
  const uint64_t done = NewSignal(1);
  Submit(q, AqlPacket(kAqlBarrierAnd).Completion(done));
  std::this_thread::sleep_for(std::chrono::milliseconds(30));
  EXPECT_EQ(1, SignalValue(done));
  u.queue_percentage = 100;
  ASSERT_EQ(0, Call(AMDKFD_IOC_UPDATE_QUEUE, &u));
  EXPECT_TRUE(WaitFor([&] { return SignalValue(done) == 0; }));
}

TEST_F(QueueIoctlTest, kfd_ioctl_create_queue_WithoutARingTheQueueWaitsForUpdate) {
  Queue& q = CreateQueue(0, KFD_IOC_QUEUE_TYPE_COMPUTE_AQL);
  // A second queue made with ring address 0: inactive until UPDATE_QUEUE gives it the ring.
  auto a = Args(0);
  a.read_pointer_address = reinterpret_cast<uint64_t>(q.rptr);
  a.write_pointer_address = reinterpret_cast<uint64_t>(q.wptr);
  ASSERT_EQ(0, DestroyQueue(q));
  ASSERT_EQ(0, Create(&a));
  const uint64_t done = NewSignal(1);
  std::atomic<uint64_t>* doorbell = reinterpret_cast<std::atomic<uint64_t>*>(
      static_cast<uint8_t*>(Doorbells(0, a.doorbell_offset)) + (a.doorbell_offset & 0x1fff));
  q.doorbell = doorbell;
  q.destroyed = false;
  q.id = a.queue_id;
  Submit(q, AqlPacket(kAqlBarrierAnd).Completion(done));
  std::this_thread::sleep_for(std::chrono::milliseconds(30));
  EXPECT_EQ(1, SignalValue(done));
  kfd_ioctl_update_queue_args u{};
  u.queue_id = a.queue_id;
  u.ring_base_address = q.ring.va;
  u.ring_size = static_cast<uint32_t>(q.ring_bytes);
  u.queue_percentage = 100;
  ASSERT_EQ(0, Call(AMDKFD_IOC_UPDATE_QUEUE, &u));
  EXPECT_TRUE(WaitFor([&] { return SignalValue(done) == 0; }));
}

TEST_F(QueueIoctlTest, kfd_ioctl_set_cu_mask_Rules) {
  auto a = Args(0);
  ASSERT_EQ(0, Create(&a));
  std::vector<uint32_t> mask(64, 0xffffffffu);
  kfd_ioctl_set_cu_mask_args m{};
  m.queue_id = a.queue_id;
  m.cu_mask_ptr = reinterpret_cast<uint64_t>(mask.data());
  m.num_cu_mask = 33;
  EXPECT_EQ(-1, Call(AMDKFD_IOC_SET_CU_MASK, &m));
  EXPECT_EQ(EINVAL, errno);
  m.num_cu_mask = 0;
  EXPECT_EQ(-1, Call(AMDKFD_IOC_SET_CU_MASK, &m));
  EXPECT_EQ(EINVAL, errno);
  m.num_cu_mask = 64;
  EXPECT_EQ(0, Call(AMDKFD_IOC_SET_CU_MASK, &m)) << strerror(errno);
  // More than 1024 bits: only the first 1024 (128 bytes) are read.
  m.num_cu_mask = 1024 * 64;
  EXPECT_EQ(0, Call(AMDKFD_IOC_SET_CU_MASK, &m)) << strerror(errno);
  m.cu_mask_ptr = kKernelAddress;
  EXPECT_EQ(-1, Call(AMDKFD_IOC_SET_CU_MASK, &m));
  EXPECT_EQ(EFAULT, errno);
  m.cu_mask_ptr = reinterpret_cast<uint64_t>(mask.data());
  m.queue_id = 500;  // pqm_update_mqd: no such queue
  EXPECT_EQ(-1, Call(AMDKFD_IOC_SET_CU_MASK, &m));
  EXPECT_EQ(EFAULT, errno);
}

TEST_F(QueueIoctlTest, get_wave_state_OnlyForInactiveComputeQueues) {
  kfd_ioctl_get_queue_wave_state_args w{};
  w.queue_id = 3;
  EXPECT_EQ(-1, Call(AMDKFD_IOC_GET_QUEUE_WAVE_STATE, &w));
  EXPECT_EQ(EFAULT, errno);  // pqm_get_wave_state: no such queue

  Queue& active = CreateQueue(0, KFD_IOC_QUEUE_TYPE_COMPUTE_AQL);
  w.queue_id = active.id;
  EXPECT_EQ(-1, Call(AMDKFD_IOC_GET_QUEUE_WAVE_STATE, &w));
  EXPECT_EQ(EINVAL, errno);
  auto sdma = Args(0, KFD_IOC_QUEUE_TYPE_SDMA);
  ASSERT_EQ(0, Create(&sdma));
  w.queue_id = sdma.queue_id;
  EXPECT_EQ(-1, Call(AMDKFD_IOC_GET_QUEUE_WAVE_STATE, &w));
  EXPECT_EQ(EINVAL, errno);

  auto idle = Args(0);
  idle.ring_base_address = 0;  // inactive
  ASSERT_EQ(0, Create(&idle));
  w = {};
  w.queue_id = idle.queue_id;
  w.ctl_stack_used_size = 77;
  w.save_area_used_size = 77;
  ASSERT_EQ(0, Call(AMDKFD_IOC_GET_QUEUE_WAVE_STATE, &w)) << strerror(errno);
  EXPECT_EQ(0u, w.ctl_stack_used_size);
  EXPECT_EQ(0u, w.save_area_used_size);
}

TEST_F(QueueIoctlTest, kfd_ioctl_alloc_queue_gws_UnknownQueueIsEinval) {
  kfd_ioctl_alloc_queue_gws_args g{};
  g.queue_id = 12;
  g.num_gws = 1;
  EXPECT_EQ(-1, Call(AMDKFD_IOC_ALLOC_QUEUE_GWS, &g));
  EXPECT_EQ(EINVAL, errno);
}

TEST_F(QueueIoctlTest, kfd_ioctl_alloc_queue_gws_OneGwsQueuePerProcessAndGpu) {
  // gfx90a with HWS and MEC2 firmware >= 0x30 has GWS (kfd_gws_init): the node says num_gws 64 and
  // pqm_set_gws does the bookkeeping — one queue per process and GPU, first_gws 0.
  auto a = Args(0);
  ASSERT_EQ(0, Create(&a)) << strerror(errno);
  auto b = Args(0);
  ASSERT_EQ(0, Create(&b)) << strerror(errno);
  kfd_ioctl_alloc_queue_gws_args g{};
  g.queue_id = a.queue_id;
  g.num_gws = 64;
  g.first_gws = 99;
  EXPECT_EQ(0, Call(AMDKFD_IOC_ALLOC_QUEUE_GWS, &g)) << strerror(errno);
  EXPECT_EQ(0u, g.first_gws);
  g.queue_id = b.queue_id;
  EXPECT_EQ(-1, Call(AMDKFD_IOC_ALLOC_QUEUE_GWS, &g));
  EXPECT_EQ(EBUSY, errno);
  g.queue_id = a.queue_id;
  g.num_gws = 0;  // release
  EXPECT_EQ(0, Call(AMDKFD_IOC_ALLOC_QUEUE_GWS, &g)) << strerror(errno);
  g.num_gws = 0;  // nothing to release
  EXPECT_EQ(-1, Call(AMDKFD_IOC_ALLOC_QUEUE_GWS, &g));
  EXPECT_EQ(EINVAL, errno);
  g.queue_id = b.queue_id;
  g.num_gws = 1;
  EXPECT_EQ(0, Call(AMDKFD_IOC_ALLOC_QUEUE_GWS, &g)) << strerror(errno);
}

// A GPU whose node says num_gws 0 (no GWS: dev->gws NULL) answers -ENODEV, after the queue lookup.
class NoGwsTest : public QueueIoctlTest {
 protected:
  std::string Topology() const override {
    static const std::string path = [] {
      const std::string p = "/tmp/vkfd-no-gws-" + std::to_string(getpid()) + ".toml";
      FILE* f = fopen(p.c_str(), "w");
      if (f != nullptr) {
        fputs("name = \"no-gws\"\n[[gpu]]\nmodel = \"mi210\"\ncount = 2\n"
              "[gpu.properties]\nnum_gws = 0\n", f);
        fclose(f);
      }
      return p;
    }();
    return path;
  }
};

TEST_F(NoGwsTest, kfd_ioctl_alloc_queue_gws_WithoutGwsIsEnodev) {
  kfd_ioctl_alloc_queue_gws_args g{};
  g.queue_id = 5;
  g.num_gws = 1;
  EXPECT_EQ(-1, Call(AMDKFD_IOC_ALLOC_QUEUE_GWS, &g));
  EXPECT_EQ(EINVAL, errno);  // no such queue comes first
  auto a = Args(0);
  ASSERT_EQ(0, Create(&a)) << strerror(errno);
  g.queue_id = a.queue_id;
  g.first_gws = 99;
  EXPECT_EQ(-1, Call(AMDKFD_IOC_ALLOC_QUEUE_GWS, &g));
  EXPECT_EQ(ENODEV, errno);
  EXPECT_EQ(99u, g.first_gws);  // returned before pqm_set_gws: not written
}

TEST_F(QueueIoctlTest, kfd_doorbell_mmap_Rules) {
  const uint64_t offset = (3ull << 62) | (uint64_t{gpus_[1]} << 46);
  // Before any queue: the process's doorbells are allocated on demand (kfd_get_process_doorbells).
  void* page = backend_->Mmap(nullptr, kDoorbellSliceBytes, PROT_READ | PROT_WRITE, MAP_SHARED,
                              kfd_, static_cast<off_t>(offset));
  ASSERT_NE(MAP_FAILED, page) << strerror(errno);
  backend_->Munmap(page, kDoorbellSliceBytes);
  // The size must be the process slice.
  errno = 0;
  EXPECT_EQ(MAP_FAILED, backend_->Mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, kfd_,
                                       static_cast<off_t>(offset)));
  EXPECT_EQ(EINVAL, errno);
  // No such GPU: kfd_mmap's -ENODEV.
  errno = 0;
  EXPECT_EQ(MAP_FAILED,
            backend_->Mmap(nullptr, kDoorbellSliceBytes, PROT_READ | PROT_WRITE, MAP_SHARED, kfd_,
                           static_cast<off_t>((3ull << 62) | (0x4242ull << 46))));
  EXPECT_EQ(ENODEV, errno);
}

// Destroying a queue while a long copy runs, and ending the process with busy queues: the packet in
// flight finishes (or the engine stops between its slices), nothing is left behind, nothing hangs.
TEST_F(QueueIoctlTest, pqm_destroy_queue_WhileACopyRuns) {
  Buffer src = HostMemory(64 * kMiB, {0});
  Buffer dst = HostMemory(64 * kMiB, {0});
  Queue& q = CreateQueue(0, KFD_IOC_QUEUE_TYPE_SDMA);
  std::vector<uint32_t> packets;
  for (uint64_t off = 0; off < 64 * kMiB; off += 2 * kMiB) {
    auto copy = sdma::Copy(dst.va + off, src.va + off, 2 * kMiB);
    packets.insert(packets.end(), copy.begin(), copy.end());
  }
  Submit(q, packets);
  EXPECT_EQ(0, DestroyQueue(q));
  const uint64_t consumed = *q.rptr;
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_EQ(consumed, *q.rptr);  // nothing runs after destroy returned
}

TEST_F(QueueIoctlTest, ProcessExitWithBusyQueues) {
  Buffer src = HostMemory(32 * kMiB, {0, 1});
  Buffer dst = HostMemory(32 * kMiB, {0, 1});
  for (size_t gpu = 0; gpu < 2; ++gpu) {
    for (int i = 0; i < 3; ++i) {
      Queue& q = CreateQueue(gpu, i == 0 ? KFD_IOC_QUEUE_TYPE_SDMA : KFD_IOC_QUEUE_TYPE_COMPUTE_AQL);
      if (i == 0) {
        Submit(q, sdma::Copy(dst.va, src.va, 4 * kMiB - 4) + sdma::Copy(dst.va, src.va, 4 * kMiB - 4));
      } else {
        Submit(q, AqlPacket(kAqlBarrierOr).Completion(NewSignal(1)));  // waits forever
      }
      q.destroyed = true;  // the process's end takes them
    }
  }
  if (!backend_->EndProcess()) GTEST_SKIP() << "the backend cannot end the process";
  EXPECT_EQ("", backend_->CheckInvariant());
}

}  // namespace
}  // namespace vkfd::conformance

// QueueTest: the fixture of the queue conformance programs (queue_test.cc, queue_ioctl_test.cc) — a
// DeviceTest plus what running packets on the emulated GPUs needs, through raw ioctls only:
//   * memory both the test and the GPUs reach: host memory registered as USERPTR (GPU VA == CPU
//     address), and VRAM/GTT BOs mapped for the CPU through the render node as libhsakmt maps them;
//   * user queues made by CREATE_QUEUE with their doorbell page mapped from /dev/kfd, and writers for
//     the three ring protocols (AQL packets, SDMA bytes, PM4 dwords — docs/gpu-side.md);
//   * HSA signals (amd_signal_t), the event page (a GTT BO given to CREATE_EVENT), memory events;
//   * bounded waits: a test that waits for the GPU waits at most kPatience, then fails.
#pragma once

#include <errno.h>
#include <gtest/gtest.h>
#include <linux/kfd_ioctl.h>
#include <sys/mman.h>
#include <time.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <functional>
#include <thread>
#include <vector>

#include "uapi/device_test.h"
#include "testing/event_wait.h"

namespace vkfd::conformance {

// amd_queue_t (hsa/amd_hsa_queue.h): the AQL queue's control block.
inline constexpr uint64_t kAmdQueueBytes = 256;
inline constexpr uint64_t kWriteDispatchId = 0x38;
inline constexpr uint64_t kReadDispatchId = 0x80;
inline constexpr uint64_t kQueueInactiveSignal = 0xC0;
// amd_signal_t (hsa/amd_hsa_signal.h).
inline constexpr uint64_t kSignalBytes = 64;
inline constexpr uint64_t kSignalValue = 0x08;
inline constexpr uint64_t kSignalMailbox = 0x10;
inline constexpr uint64_t kSignalEventId = 0x18;
// AQL packet types and header bits (hsa.h).
inline constexpr uint16_t kAqlVendor = 0, kAqlInvalid = 1, kAqlDispatch = 2, kAqlBarrierAnd = 3,
                          kAqlAgentDispatch = 4, kAqlBarrierOr = 5;
inline constexpr uint16_t kAqlBarrierBit = 1 << 8;
inline constexpr uint16_t kAqlAcquireSystem = 2 << 9, kAqlReleaseSystem = 2 << 11;
// queue_inactive_signal codes (what ROCr's queue error handler decodes).
inline constexpr int64_t kErrorInvalidDimension = 2;
inline constexpr int64_t kErrorInvalidPacketFormat = 32;
inline constexpr int64_t kErrorInvalidVendorPacket = 256;
inline constexpr int64_t kErrorIllegalInstruction = 0x40000000;
// kfd_priv.h: KFD_SIGNAL_EVENT_LIMIT slots of 8 bytes, UNSIGNALED_EVENT_SLOT.
inline constexpr uint64_t kEventPageBytes = 4096 * 8;
inline constexpr uint64_t kUnsignaledSlot = ~0ull;
inline constexpr uint32_t kEventTypeSignal = 0, kEventTypeMemory = 8;
inline constexpr uint64_t kDoorbellSliceBytes = 8192;  // SOC15: 1024 doorbells of 8 bytes
inline constexpr auto kPatience = std::chrono::seconds(20);

// Memory the test reads and writes and the GPUs reach at `va`.
struct Buffer {
  uint8_t* cpu = nullptr;
  uint64_t va = 0;
  uint64_t size = 0;
  uint64_t handle = 0;
  template <typename T>
  T* at(uint64_t offset) const { return reinterpret_cast<T*>(cpu + offset); }
};

struct Queue {
  uint32_t id = 0;
  size_t gpu = 0;
  uint32_t type = 0;
  Buffer ring;
  uint64_t ring_bytes = 0;  // the queue's ring size (the buffer may be larger)
  Buffer control;  // AQL: the amd_queue_t; SDMA/PM4: the thunk's struct queue {id; wptr @8; rptr @16}
  uint64_t* wptr = nullptr;
  uint64_t* rptr = nullptr;
  std::atomic<uint64_t>* doorbell = nullptr;
  uint64_t written = 0;  // AQL: packets; SDMA: bytes; PM4: dwords
  bool destroyed = false;
};

// A 64-byte AQL packet; the header is published last (release), as ROCr/ROCclr do.
struct AqlPacket {
  uint8_t bytes[64] = {};
  explicit AqlPacket(uint16_t header) { Set<uint16_t>(0, header); }
  template <typename T>
  AqlPacket& Set(size_t offset, T value) {
    memcpy(bytes + offset, &value, sizeof(T));
    return *this;
  }
  AqlPacket& Completion(uint64_t signal) { return Set<uint64_t>(56, signal); }
};

struct SignalEvent {
  uint32_t id = 0;
  uint64_t mailbox = 0;  // GPU VA of the event's slot in the event page
};

class QueueTest : public DeviceTest {
 protected:
  // What these tests follow when their names do not say (`vkfd conformance`'s "follows" column).
  QueueTest() { RecordProperty("follows", "CP/SDMA engines (hardware)"); }
  const char* Destructive() const override {
    return "runs packets on the GPU's queues: a GPU may hang or fault";
  }
  void TearDown() override {
    if (backend_) {
      for (Queue* q : queues_) {
        if (!q->destroyed) DestroyQueue(*q);
      }
      for (auto [addr, len] : device_maps_) backend_->Munmap(addr, len);
    }
    DeviceTest::TearDown();
    // The engines are gone with their queues; the driver (in-process) goes with the backend. Only
    // then the host memory registered as USERPTR is returned.
    backend_.reset();
    for (auto [addr, len] : host_maps_) munmap(addr, len);
  }

  // --- memory ---------------------------------------------------------------------------------

  // n_success after mapping `handle` on `gpus` (indices), starting at `from`.
  uint32_t MapOn(uint64_t handle, const std::vector<size_t>& gpus, uint32_t from = 0,
                 int* err = nullptr) {
    std::vector<uint32_t> ids;
    for (size_t g : gpus) ids.push_back(gpus_[g]);
    kfd_ioctl_map_memory_to_gpu_args args{};
    args.handle = handle;
    args.device_ids_array_ptr = reinterpret_cast<uint64_t>(ids.data());
    args.n_devices = static_cast<uint32_t>(ids.size());
    args.n_success = from;
    const int r = Call(AMDKFD_IOC_MAP_MEMORY_TO_GPU, &args);
    if (err != nullptr) {
      *err = r == 0 ? 0 : errno;
    } else {
      EXPECT_EQ(0, r) << strerror(errno);
    }
    return args.n_success;
  }
  void UnmapFrom(uint64_t handle, const std::vector<size_t>& gpus) {
    std::vector<uint32_t> ids;
    for (size_t g : gpus) ids.push_back(gpus_[g]);
    kfd_ioctl_unmap_memory_from_gpu_args args{};
    args.handle = handle;
    args.device_ids_array_ptr = reinterpret_cast<uint64_t>(ids.data());
    args.n_devices = static_cast<uint32_t>(ids.size());
    EXPECT_EQ(0, Call(AMDKFD_IOC_UNMAP_MEMORY_FROM_GPU, &args)) << strerror(errno);
  }

  // Host memory (page-aligned, zeroed) registered as USERPTR on GPU `owner` and mapped on `map_on`.
  Buffer HostMemory(uint64_t size, const std::vector<size_t>& map_on, bool writable = true) {
    Buffer b;
    b.size = (size + 4095) & ~4095ull;
    void* p = mmap(nullptr, b.size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    EXPECT_NE(MAP_FAILED, p);
    if (p == MAP_FAILED) return {};
    host_maps_.push_back({p, b.size});
    b.cpu = static_cast<uint8_t*>(p);
    b.va = reinterpret_cast<uint64_t>(p);
    kfd_ioctl_alloc_memory_of_gpu_args args{};
    args.va_addr = b.va;
    args.size = b.size;
    args.gpu_id = gpus_[map_on.empty() ? 0 : map_on[0]];
    args.mmap_offset = b.va;
    args.flags = KFD_IOC_ALLOC_MEM_FLAGS_USERPTR |
                 (writable ? KFD_IOC_ALLOC_MEM_FLAGS_WRITABLE : 0u);
    EXPECT_EQ(0, Call(AMDKFD_IOC_ALLOC_MEMORY_OF_GPU, &args)) << strerror(errno);
    b.handle = args.handle;
    if (!map_on.empty()) {
      EXPECT_EQ(map_on.size(), MapOn(b.handle, map_on));
    }
    return b;
  }

  // A BO in GPU `owner`'s VRAM (`flags`, default kVram | PUBLIC) or GTT, at `va`, mapped on `map_on`
  // and, when `cpu` is set, for the CPU through the render node at the BO's mmap_offset.
  Buffer DeviceMemory(size_t owner, uint64_t va, uint64_t size, const std::vector<size_t>& map_on,
                      uint32_t flags = kVram | KFD_IOC_ALLOC_MEM_FLAGS_PUBLIC, bool cpu = true) {
    Buffer b;
    b.va = va;
    b.size = size;
    kfd_ioctl_alloc_memory_of_gpu_args args{};
    args.va_addr = va;
    args.size = size;
    args.gpu_id = gpus_[owner];
    args.flags = flags;
    EXPECT_EQ(0, Call(AMDKFD_IOC_ALLOC_MEMORY_OF_GPU, &args)) << strerror(errno);
    b.handle = args.handle;
    if (cpu) {
      void* p = backend_->Mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, render_[owner],
                               static_cast<off_t>(args.mmap_offset));
      EXPECT_NE(MAP_FAILED, p) << strerror(errno);
      if (p != MAP_FAILED) {
        b.cpu = static_cast<uint8_t*>(p);
        device_maps_.push_back({p, size});
      }
    }
    if (!map_on.empty()) {
      EXPECT_EQ(map_on.size(), MapOn(b.handle, map_on));
    }
    return b;
  }

  // --- signals and events ---------------------------------------------------------------------

  // An amd_signal_t with `value` (kind USER), in host memory every GPU reaches.
  uint64_t NewSignal(int64_t value, const SignalEvent* event = nullptr) {
    if (signals_.cpu == nullptr || next_signal_ + kSignalBytes > signals_.size) {
      signals_ = HostMemory(64 * kSignalBytes, AllGpus());
      next_signal_ = 0;
    }
    const uint64_t offset = next_signal_;
    next_signal_ += kSignalBytes;
    *signals_.at<int64_t>(offset) = 1;  // AMD_SIGNAL_KIND_USER
    __atomic_store_n(signals_.at<int64_t>(offset + kSignalValue), value, __ATOMIC_RELEASE);
    if (event != nullptr) {
      *signals_.at<uint64_t>(offset + kSignalMailbox) = event->mailbox;
      *signals_.at<uint32_t>(offset + kSignalEventId) = event->id;
    }
    return signals_.va + offset;
  }
  // The value of the signal whose handle (address) is `signal`.
  static int64_t SignalValue(uint64_t signal) {
    return __atomic_load_n(reinterpret_cast<int64_t*>(signal + kSignalValue), __ATOMIC_ACQUIRE);
  }
  static void SetSignal(uint64_t signal, int64_t value) {
    __atomic_store_n(reinterpret_cast<int64_t*>(signal + kSignalValue), value, __ATOMIC_RELEASE);
  }

  // The process's event page: a 32 KiB GTT BO on GPU 0, mapped on every GPU and for the CPU, given
  // to the first CREATE_EVENT (as libhsakmt does).
  void EnsureEventPage() {
    if (event_page_.cpu != nullptr) return;
    event_page_ = DeviceMemory(0, kVa + 0x3f000000000ull, kEventPageBytes, AllGpus(), kGtt);
  }
  SignalEvent CreateSignalEvent() {
    EnsureEventPage();
    kfd_ioctl_create_event_args args{};
    args.event_type = kEventTypeSignal;
    args.auto_reset = 1;
    if (!event_page_given_) args.event_page_offset = event_page_.handle;
    EXPECT_EQ(0, Call(AMDKFD_IOC_CREATE_EVENT, &args)) << strerror(errno);
    event_page_given_ = true;
    return SignalEvent{args.event_id, event_page_.va + 8ull * args.event_slot_index};
  }
  uint32_t CreateMemoryEvent() {
    kfd_ioctl_create_event_args args{};
    args.event_type = kEventTypeMemory;
    args.auto_reset = 0;
    EXPECT_EQ(0, Call(AMDKFD_IOC_CREATE_EVENT, &args)) << strerror(errno);
    return args.event_id;
  }
  // WAIT_EVENTS on one event: the wait_result (KFD_IOC_WAIT_RESULT_*), *data receives the event data.
  uint32_t WaitEvent(uint32_t id, uint32_t timeout_ms, kfd_event_data* data = nullptr) {
    vkfd::testing::OneEventWait wait(id, timeout_ms, /*wait_for_all=*/true);
    EXPECT_EQ(0, Raw(kfd_, AMDKFD_IOC_WAIT_EVENTS, &wait.args)) << strerror(errno);
    if (data != nullptr) *data = wait.data;
    return wait.args.wait_result;
  }

  // --- queues ---------------------------------------------------------------------------------

  std::vector<size_t> AllGpus() const {
    std::vector<size_t> all;
    for (size_t i = 0; i < gpus_.size(); ++i) all.push_back(i);
    return all;
  }

  // CREATE_QUEUE of `type` on GPU `gpu` with a ring of `ring_bytes` in host memory, and the doorbell
  // page mapped. The Queue lives as long as the test (its address is kept for TearDown).
  Queue& CreateQueue(size_t gpu, uint32_t type, uint64_t ring_bytes = 4096) {
    auto q = std::make_unique<Queue>();
    q->gpu = gpu;
    q->type = type;
    q->ring = HostMemory(ring_bytes, {gpu});
    q->ring_bytes = ring_bytes;
    q->control = HostMemory(4096, {gpu});
    if (type == KFD_IOC_QUEUE_TYPE_COMPUTE_AQL) {
      q->wptr = q->control.at<uint64_t>(kWriteDispatchId);
      q->rptr = q->control.at<uint64_t>(kReadDispatchId);
      // Every slot starts INVALID (ROCr initialises the ring so).
      for (uint64_t off = 0; off < ring_bytes; off += 64) {
        *q->ring.at<uint16_t>(off) = kAqlInvalid;
      }
    } else {
      q->wptr = q->control.at<uint64_t>(8);
      q->rptr = q->control.at<uint64_t>(16);
    }
    kfd_ioctl_create_queue_args args{};
    args.ring_base_address = q->ring.va;
    args.ring_size = static_cast<uint32_t>(ring_bytes);
    args.gpu_id = gpus_[gpu];
    args.queue_type = type;
    args.queue_percentage = 100;
    args.queue_priority = 7;
    args.write_pointer_address = reinterpret_cast<uint64_t>(q->wptr);
    args.read_pointer_address = reinterpret_cast<uint64_t>(q->rptr);
    EXPECT_EQ(0, Call(AMDKFD_IOC_CREATE_QUEUE, &args)) << strerror(errno);
    q->id = args.queue_id;
    void* page = Doorbells(gpu, args.doorbell_offset);
    q->doorbell = reinterpret_cast<std::atomic<uint64_t>*>(
        static_cast<uint8_t*>(page) + (args.doorbell_offset & (kDoorbellSliceBytes - 1)));
    queues_.push_back(q.get());
    owned_queues_.push_back(std::move(q));
    return *queues_.back();
  }
  int DestroyQueue(Queue& q) {
    kfd_ioctl_destroy_queue_args args{};
    args.queue_id = q.id;
    q.destroyed = true;
    return Call(AMDKFD_IOC_DESTROY_QUEUE, &args);
  }
  // The process's doorbell slice on GPU `gpu`, mapped once.
  void* Doorbells(size_t gpu, uint64_t doorbell_offset) {
    if (doorbell_pages_.size() < gpus_.size()) doorbell_pages_.resize(gpus_.size(), nullptr);
    if (doorbell_pages_[gpu] == nullptr) {
      void* p = backend_->Mmap(nullptr, kDoorbellSliceBytes, PROT_READ | PROT_WRITE, MAP_SHARED,
                               kfd_, static_cast<off_t>(doorbell_offset & ~(kDoorbellSliceBytes - 1)));
      EXPECT_NE(MAP_FAILED, p) << strerror(errno);
      if (p == MAP_FAILED) return nullptr;
      doorbell_pages_[gpu] = p;
      device_maps_.push_back({p, kDoorbellSliceBytes});
    }
    return doorbell_pages_[gpu];
  }

  // AQL: reserve the slot (write_dispatch_id first), write the body, publish the header (release),
  // ring the doorbell with the packet's index. Returns the index.
  uint64_t Submit(Queue& q, const AqlPacket& p, bool ring = true) {
    const uint64_t slots = q.ring_bytes / 64;
    const uint64_t index = q.written++;
    EXPECT_TRUE(WaitFor([&] { return index - __atomic_load_n(q.rptr, __ATOMIC_ACQUIRE) < slots; }))
        << "ring full";
    __atomic_store_n(q.wptr, index + 1, __ATOMIC_RELEASE);
    uint8_t* slot = q.ring.cpu + (index % slots) * 64;
    memcpy(slot + 4, p.bytes + 4, 60);
    uint32_t dword0;
    memcpy(&dword0, p.bytes, 4);
    __atomic_store_n(reinterpret_cast<uint32_t*>(slot), dword0, __ATOMIC_RELEASE);
    if (ring) q.doorbell->store(index, std::memory_order_release);
    return index;
  }
  // SDMA (bytes) and PM4 (dwords): the packet's dwords at the write pointer, then the write pointer
  // and the doorbell (64-bit stores of the same monotonic value).
  void Submit(Queue& q, const std::vector<uint32_t>& dwords, bool ring = true) {
    const bool sdma = q.type == KFD_IOC_QUEUE_TYPE_SDMA || q.type == KFD_IOC_QUEUE_TYPE_SDMA_XGMI;
    const uint64_t ring_dwords = q.ring_bytes / 4;
    uint64_t pos = sdma ? q.written / 4 : q.written;  // in dwords
    for (uint32_t dw : dwords) {
      *q.ring.at<uint32_t>((pos % ring_dwords) * 4) = dw;
      ++pos;
    }
    q.written = sdma ? pos * 4 : pos;
    __atomic_store_n(q.wptr, q.written, __ATOMIC_RELEASE);
    if (ring) q.doorbell->store(q.written, std::memory_order_release);
  }
  // Everything submitted was consumed (the read pointer caught up with the write pointer).
  bool Drained(const Queue& q) const {
    const uint64_t r = __atomic_load_n(q.rptr, __ATOMIC_ACQUIRE);
    if (q.type == KFD_IOC_QUEUE_TYPE_COMPUTE) return r == q.written % (q.ring_bytes / 4);
    return r == q.written;
  }

  // Polls `done` until it holds or kPatience passes (then false): the GPU side promises completion,
  // not a time; the bound only keeps a broken build from hanging.
  static bool WaitFor(const std::function<bool()>& done,
                      std::chrono::milliseconds patience = kPatience) {
    const auto deadline = std::chrono::steady_clock::now() + patience;
    while (!done()) {
      if (std::chrono::steady_clock::now() > deadline) return false;
      std::this_thread::sleep_for(std::chrono::microseconds(50));
    }
    return true;
  }

  Buffer event_page_;
  bool event_page_given_ = false;
  Buffer signals_;
  uint64_t next_signal_ = 0;
  std::vector<std::unique_ptr<Queue>> owned_queues_;
  std::vector<Queue*> queues_;
  std::vector<void*> doorbell_pages_;
  std::vector<std::pair<void*, size_t>> host_maps_;
  std::vector<std::pair<void*, size_t>> device_maps_;
};

// SDMA 4.4 packets (vega10_sdma_pkt_open.h).
namespace sdma {
inline uint32_t Lo(uint64_t a) { return static_cast<uint32_t>(a); }
inline uint32_t Hi(uint64_t a) { return static_cast<uint32_t>(a >> 32); }
inline std::vector<uint32_t> Copy(uint64_t dst, uint64_t src, uint64_t bytes) {
  return {1u, static_cast<uint32_t>(bytes - 1), 0u, Lo(src), Hi(src), Lo(dst), Hi(dst)};
}
inline std::vector<uint32_t> Fill(uint64_t dst, uint32_t pattern, uint64_t bytes) {
  return {11u | (2u << 30), Lo(dst), Hi(dst), pattern, static_cast<uint32_t>(bytes - 1)};
}
inline std::vector<uint32_t> Fence(uint64_t addr, uint32_t value) {
  return {5u, Lo(addr), Hi(addr), value};
}
inline std::vector<uint32_t> Trap(uint32_t context) { return {6u, context & 0x0fffffff}; }
inline std::vector<uint32_t> Write(uint64_t dst, const std::vector<uint32_t>& data) {
  std::vector<uint32_t> p = {2u, Lo(dst), Hi(dst), static_cast<uint32_t>(data.size() - 1)};
  p.insert(p.end(), data.begin(), data.end());
  return p;
}
// ATOMIC with 64-bit add (op 0x2F) / swap (0x27) / compare-swap (0x28); loop disabled.
inline std::vector<uint32_t> Atomic(uint32_t op, uint64_t addr, uint64_t src, uint64_t cmp = 0) {
  return {10u | (op << 25), Lo(addr), Hi(addr), Lo(src), Hi(src), Lo(cmp), Hi(cmp), 0u};
}
// POLL_REGMEM on memory: until (*addr & mask) == value, retrying forever (retry count 0xfff).
inline std::vector<uint32_t> PollEqual(uint64_t addr, uint32_t value, uint32_t mask = ~0u) {
  return {8u | (3u << 28) | (1u << 31), Lo(addr), Hi(addr), value, mask, (0xfffu << 16) | 10u};
}
inline std::vector<uint32_t> Timestamp(uint64_t addr) { return {13u | (2u << 8), Lo(addr), Hi(addr)}; }
inline std::vector<uint32_t> Nop(uint32_t extra = 0) { return {0u | (extra << 16)}; }
inline std::vector<uint32_t> operator+(std::vector<uint32_t> a, const std::vector<uint32_t>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}
}  // namespace sdma

// PM4 type-3 packets (soc15d.h), compute shader type.
namespace pm4 {
inline uint32_t Header(uint32_t opcode, uint32_t body_dwords) {
  return (3u << 30) | ((body_dwords - 1) << 16) | (opcode << 8) | 2u;
}
inline std::vector<uint32_t> WriteData(uint64_t dst, const std::vector<uint32_t>& data) {
  std::vector<uint32_t> p = {Header(0x37, static_cast<uint32_t>(2 + data.size() + 1)), 5u << 8,
                             sdma::Lo(dst), sdma::Hi(dst)};
  p.insert(p.end(), data.begin(), data.end());
  return p;
}
// RELEASE_MEM: end-of-pipe, write 32-bit `data` at `addr`, then the interrupt with `ctxid`.
inline std::vector<uint32_t> ReleaseMem(uint64_t addr, uint32_t data, uint32_t ctxid) {
  return {Header(0x49, 7), 0x14u | (5u << 8), (2u << 24) | (1u << 29), sdma::Lo(addr),
          sdma::Hi(addr), data, 0u, ctxid};
}
// WAIT_REG_MEM on memory: until (*addr & mask) == ref.
inline std::vector<uint32_t> WaitMemEqual(uint64_t addr, uint32_t ref, uint32_t mask = ~0u) {
  return {Header(0x3C, 6), 3u | (1u << 4), sdma::Lo(addr), sdma::Hi(addr), ref, mask, 4u};
}
inline std::vector<uint32_t> IndirectBuffer(uint64_t ib, uint32_t dwords) {
  return {Header(0x3F, 3), sdma::Lo(ib), sdma::Hi(ib) & 0xffff, dwords | (1u << 23)};
}
// ROCr's gfx9 ACQUIRE_MEM (InvalidateCodeCaches).
inline std::vector<uint32_t> AcquireMem() {
  return {0xC0055800u, 0x28840000u, 0xFFFFFFFFu, 0xFFu, 0u, 0u, 0u};
}
inline std::vector<uint32_t> Nop() { return {0xFFFF1002u}; }
}  // namespace pm4

}  // namespace vkfd::conformance

// The GPU side measured (docs/benchmarks.md, docs/api-designs-measured.md): user-mode queues with a
// doorbell write against the dispatch ioctl (VKFD_IOC_SUBMIT), the copy engines' bandwidth against the
// host's memcpy, and what an idle process's queues cost. A real program: raw ioctls on /dev/kfd
// through the interposer, run under `vkfd run --topology mi210x4` (timing model off) and with
// `--dma-latency 10us` (on); scripts/bench_queues.sh runs both and writes the tables.
//
//   SubmitCost/<path>            32 empty barrier packets per iteration, submission only
//   BarrierRoundTrip/<path>/<w>  one empty barrier with a completion signal: submit -> the CP
//                                decrements the signal -> the waiter sees it (spin) or wakes in
//                                WAIT_EVENTS (event)
//   SdmaStream/<path>            256 SDMA COPY_LINEAR of 4 KiB, each its own submission, then a fence
//   BlitStream/<path>            256 dispatches of HIP's copyBuffer kernel (4 KiB), each its own
//                                submission, the last with a completion signal
//   Copy64MiB/<engine>/<dir>     64 MiB by SDMA COPY_LINEAR, by the copy kernel, or by the host's
//                                memcpy between the same mappings: VRAM->VRAM and host->VRAM
//   ColdRoundTrip                the round trip of the first packet after 120 ms of idleness (the
//                                command processor watches the doorbells then: one trap)
//   IdleQueues                   4 queues on each of 4 GPUs, nothing submitted, 10 s: CPU used
//   HostIoctl                    a real ioctl(2) the host kernel fails, for scale
// <path>: doorbell (the runtime's way), ioctl (SUBMIT, run on the caller's thread), ioctl_defer
// (SUBMIT with VKFD_SUBMIT_DEFER: handed to the command-processor thread).
#include <benchmark/benchmark.h>
#include <fcntl.h>
#include <linux/kfd_ioctl.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>
#include <vkfd/vkfd_ioctl.h>

#include <atomic>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "testing/code_object_builder.h"
#include "testing/event_wait.h"

namespace {

constexpr uint64_t kMiB = 1ull << 20;
constexpr uint64_t kVa = 0x7f0000000000ull;
constexpr uint64_t kSignalValue = 8;
constexpr uint16_t kAqlInvalid = 1, kAqlDispatch = 2, kAqlBarrierAnd = 3;
constexpr uint16_t kAcqRelSystem = (2 << 9) | (2 << 11);

void Die(const char* what) {
  perror(what);
  exit(1);
}

int64_t NowNs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1000000000ll + ts.tv_nsec;
}

struct Buffer {
  uint8_t* cpu = nullptr;
  uint64_t va = 0;
  uint64_t size = 0;
  uint64_t handle = 0;
};

struct Queue {
  uint32_t id = 0;
  uint32_t type = 0;
  Buffer ring, control;
  uint64_t ring_bytes = 0;
  uint64_t* wptr = nullptr;
  uint64_t* rptr = nullptr;
  std::atomic<uint64_t>* doorbell = nullptr;
  uint64_t written = 0;  // AQL packets; SDMA bytes
};

// One process's view of the node: /dev/kfd, the render nodes, every GPU's VM.
class Node {
 public:
  Node() {
    for (int n = 0;; ++n) {
      const std::string dir = "/sys/devices/virtual/kfd/kfd/topology/nodes/" + std::to_string(n);
      std::ifstream id_file(dir + "/gpu_id");
      if (!id_file) break;
      uint32_t id = 0;
      id_file >> id;
      if (id == 0) continue;
      std::ifstream props(dir + "/properties");
      std::string key;
      uint64_t value, minor = 0;
      while (props >> key >> value) {
        if (key == "drm_render_minor") minor = value;
      }
      gpus_.push_back(id);
      const int fd = open(("/dev/dri/renderD" + std::to_string(minor)).c_str(), O_RDWR | O_CLOEXEC);
      if (fd < 0) Die("render node");
      render_.push_back(fd);
    }
    kfd_ = open("/dev/kfd", O_RDWR | O_CLOEXEC);
    if (kfd_ < 0 || gpus_.empty()) Die("/dev/kfd (run under `vkfd run`)");
    for (size_t i = 0; i < gpus_.size(); ++i) {
      kfd_ioctl_acquire_vm_args a{};
      a.drm_fd = static_cast<uint32_t>(render_[i]);
      a.gpu_id = gpus_[i];
      if (ioctl(kfd_, AMDKFD_IOC_ACQUIRE_VM, &a) != 0) Die("ACQUIRE_VM");
    }
    doorbells_.resize(gpus_.size(), nullptr);
  }

  size_t gpu_count() const { return gpus_.size(); }
  int kfd() const { return kfd_; }

  void Map(uint64_t handle, const std::vector<size_t>& on) {
    std::vector<uint32_t> ids;
    for (size_t g : on) ids.push_back(gpus_[g]);
    kfd_ioctl_map_memory_to_gpu_args a{};
    a.handle = handle;
    a.device_ids_array_ptr = reinterpret_cast<uint64_t>(ids.data());
    a.n_devices = static_cast<uint32_t>(ids.size());
    if (ioctl(kfd_, AMDKFD_IOC_MAP_MEMORY_TO_GPU, &a) != 0) Die("MAP");
  }
  Buffer Host(uint64_t size, const std::vector<size_t>& on) {
    Buffer b;
    b.size = (size + 4095) & ~4095ull;
    void* p = mmap(nullptr, b.size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE,
                   -1, 0);
    if (p == MAP_FAILED) Die("mmap");
    b.cpu = static_cast<uint8_t*>(p);
    b.va = reinterpret_cast<uint64_t>(p);
    kfd_ioctl_alloc_memory_of_gpu_args a{};
    a.va_addr = b.va;
    a.size = b.size;
    a.gpu_id = gpus_[on[0]];
    a.mmap_offset = b.va;
    a.flags = KFD_IOC_ALLOC_MEM_FLAGS_USERPTR | KFD_IOC_ALLOC_MEM_FLAGS_WRITABLE;
    if (ioctl(kfd_, AMDKFD_IOC_ALLOC_MEMORY_OF_GPU, &a) != 0) Die("ALLOC userptr");
    b.handle = a.handle;
    Map(b.handle, on);
    return b;
  }
  Buffer Device(size_t owner, uint64_t size, const std::vector<size_t>& on, uint32_t domain) {
    Buffer b;
    b.size = size;
    b.va = next_va_;
    next_va_ += (size + 2 * kMiB - 1) & ~(2 * kMiB - 1);
    kfd_ioctl_alloc_memory_of_gpu_args a{};
    a.va_addr = b.va;
    a.size = size;
    a.gpu_id = gpus_[owner];
    a.flags = domain | KFD_IOC_ALLOC_MEM_FLAGS_WRITABLE | KFD_IOC_ALLOC_MEM_FLAGS_PUBLIC;
    if (ioctl(kfd_, AMDKFD_IOC_ALLOC_MEMORY_OF_GPU, &a) != 0) Die("ALLOC");
    b.handle = a.handle;
    void* p = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, render_[owner],
                   static_cast<off_t>(a.mmap_offset));
    if (p == MAP_FAILED) Die("mmap BO");
    b.cpu = static_cast<uint8_t*>(p);
    Map(b.handle, on);
    return b;
  }

  Queue MakeQueue(size_t gpu, uint32_t type, uint64_t ring_bytes) {
    Queue q;
    q.type = type;
    q.ring_bytes = ring_bytes;
    q.ring = Host(ring_bytes, {gpu});
    q.control = Host(4096, {gpu});
    const bool aql = type == KFD_IOC_QUEUE_TYPE_COMPUTE_AQL;
    q.wptr = reinterpret_cast<uint64_t*>(q.control.cpu + (aql ? 0x38 : 8));
    q.rptr = reinterpret_cast<uint64_t*>(q.control.cpu + (aql ? 0x80 : 16));
    if (aql) {
      for (uint64_t off = 0; off < ring_bytes; off += 64) {
        *reinterpret_cast<uint16_t*>(q.ring.cpu + off) = kAqlInvalid;
      }
    }
    kfd_ioctl_create_queue_args a{};
    a.ring_base_address = q.ring.va;
    a.ring_size = static_cast<uint32_t>(ring_bytes);
    a.gpu_id = gpus_[gpu];
    a.queue_type = type;
    a.queue_percentage = 100;
    a.write_pointer_address = reinterpret_cast<uint64_t>(q.wptr);
    a.read_pointer_address = reinterpret_cast<uint64_t>(q.rptr);
    if (ioctl(kfd_, AMDKFD_IOC_CREATE_QUEUE, &a) != 0) Die("CREATE_QUEUE");
    q.id = a.queue_id;
    if (doorbells_[gpu] == nullptr) {
      void* p = mmap(nullptr, 8192, PROT_READ | PROT_WRITE, MAP_SHARED, kfd_,
                     static_cast<off_t>(a.doorbell_offset & ~8191ull));
      if (p == MAP_FAILED) Die("doorbell mmap");
      doorbells_[gpu] = static_cast<uint8_t*>(p);
    }
    q.doorbell = reinterpret_cast<std::atomic<uint64_t>*>(doorbells_[gpu] + (a.doorbell_offset & 8191));
    return q;
  }
  void DestroyQueue(const Queue& q) {
    kfd_ioctl_destroy_queue_args a{};
    a.queue_id = q.id;
    if (ioctl(kfd_, AMDKFD_IOC_DESTROY_QUEUE, &a) != 0) Die("DESTROY_QUEUE");
  }

  // The event page (first use) and one auto-reset signal event: {event id, mailbox VA}.
  std::pair<uint32_t, uint64_t> SignalEvent() {
    kfd_ioctl_create_event_args a{};
    a.event_type = KFD_IOC_EVENT_SIGNAL;
    a.auto_reset = 1;
    if (event_page_.cpu == nullptr) {
      std::vector<size_t> all;
      for (size_t g = 0; g < gpus_.size(); ++g) all.push_back(g);
      event_page_ = Device(0, 4096 * 8, all, KFD_IOC_ALLOC_MEM_FLAGS_GTT);
      a.event_page_offset = event_page_.handle;
    }
    if (ioctl(kfd_, AMDKFD_IOC_CREATE_EVENT, &a) != 0) Die("CREATE_EVENT");
    return {a.event_id, event_page_.va + 8ull * a.event_slot_index};
  }

 private:
  int kfd_ = -1;
  std::vector<uint32_t> gpus_;
  std::vector<int> render_;
  std::vector<uint8_t*> doorbells_;
  uint64_t next_va_ = kVa;
  Buffer event_page_;
};

Node& TheNode() {
  static Node* node = new Node();  // lives until exit: the KFD process goes with the address space
  return *node;
}

enum class Path { kDoorbell, kIoctl, kIoctlDefer };
const char* PathName(Path p) {
  return p == Path::kDoorbell ? "doorbell" : p == Path::kIoctl ? "ioctl" : "ioctl_defer";
}

struct Packet {
  uint8_t bytes[64] = {};
};
Packet Barrier(uint64_t signal) {
  Packet p;
  const uint16_t header = kAqlBarrierAnd;
  memcpy(p.bytes, &header, 2);
  memcpy(p.bytes + 56, &signal, 8);
  return p;
}

// One AQL packet by `path`.
void SubmitAql(Queue& q, const Packet& p, Path path) {
  if (path != Path::kDoorbell) {
    vkfd_submit_args a{};
    a.packets_ptr = reinterpret_cast<uint64_t>(p.bytes);
    a.queue_id = q.id;
    a.size_bytes = 64;
    a.flags = path == Path::kIoctlDefer ? VKFD_SUBMIT_DEFER : 0;
    while (ioctl(TheNode().kfd(), VKFD_IOC_SUBMIT, &a) != 0) {
      if (errno != ENOSPC) Die("SUBMIT");
    }
    ++q.written;
    return;
  }
  const uint64_t slots = q.ring_bytes / 64;
  const uint64_t index = __atomic_fetch_add(q.wptr, 1, __ATOMIC_ACQ_REL);
  while (index - __atomic_load_n(q.rptr, __ATOMIC_ACQUIRE) >= slots) {
  }
  uint8_t* slot = q.ring.cpu + (index % slots) * 64;
  memcpy(slot + 4, p.bytes + 4, 60);
  uint32_t dword0;
  memcpy(&dword0, p.bytes, 4);
  __atomic_store_n(reinterpret_cast<uint32_t*>(slot), dword0, __ATOMIC_RELEASE);
  q.doorbell->store(index, std::memory_order_release);
  ++q.written;
}

// SDMA dwords by `path` (one submission).
void SubmitSdma(Queue& q, const std::vector<uint32_t>& dw, Path path) {
  const uint64_t bytes = dw.size() * 4;
  if (path != Path::kDoorbell) {
    vkfd_submit_args a{};
    a.packets_ptr = reinterpret_cast<uint64_t>(dw.data());
    a.queue_id = q.id;
    a.size_bytes = static_cast<uint32_t>(bytes);
    a.flags = path == Path::kIoctlDefer ? VKFD_SUBMIT_DEFER : 0;
    while (ioctl(TheNode().kfd(), VKFD_IOC_SUBMIT, &a) != 0) {
      if (errno != ENOSPC) Die("SUBMIT");
    }
    q.written += bytes;
    return;
  }
  while (q.written + bytes + 4 - __atomic_load_n(q.rptr, __ATOMIC_ACQUIRE) > q.ring_bytes) {
  }
  for (size_t i = 0; i < dw.size(); ++i) {
    *reinterpret_cast<uint32_t*>(q.ring.cpu + (q.written + 4 * i) % q.ring_bytes) = dw[i];
  }
  q.written += bytes;
  __atomic_store_n(q.wptr, q.written, __ATOMIC_RELEASE);
  q.doorbell->store(q.written, std::memory_order_release);
}

std::vector<uint32_t> SdmaCopy(uint64_t dst, uint64_t src, uint64_t bytes) {
  return {1u, static_cast<uint32_t>(bytes - 1), 0u, static_cast<uint32_t>(src),
          static_cast<uint32_t>(src >> 32), static_cast<uint32_t>(dst), static_cast<uint32_t>(dst >> 32)};
}
std::vector<uint32_t> SdmaFence(uint64_t addr, uint32_t value) {
  return {5u, static_cast<uint32_t>(addr), static_cast<uint32_t>(addr >> 32), value};
}

void WaitDrained(const Queue& q) {
  while (__atomic_load_n(q.rptr, __ATOMIC_ACQUIRE) != q.written) {
  }
}

int64_t* SignalAt(const Buffer& b, uint64_t offset) {
  return reinterpret_cast<int64_t*>(b.cpu + offset + kSignalValue);
}

// Signals live here (host memory every GPU reaches).
Buffer& Signals() {
  static Buffer b = [] {
    std::vector<size_t> all;
    for (size_t g = 0; g < TheNode().gpu_count(); ++g) all.push_back(g);
    return TheNode().Host(64 * 1024, all);
  }();
  return b;
}

// ---- submission and round trip ------------------------------------------------------------------

void BM_SubmitCost(benchmark::State& state) {
  const Path path = static_cast<Path>(state.range(0));
  Queue q = TheNode().MakeQueue(0, KFD_IOC_QUEUE_TYPE_COMPUTE_AQL, 64 * 1024);
  const Packet p = Barrier(0);
  constexpr int kBatch = 32;
  for (auto _ : state) {
    const int64_t t0 = NowNs();
    for (int i = 0; i < kBatch; ++i) SubmitAql(q, p, path);
    const int64_t t1 = NowNs();
    state.SetIterationTime(double(t1 - t0) * 1e-9);
    WaitDrained(q);
  }
  state.SetItemsProcessed(state.iterations() * kBatch);  // packets/s; time is per 32 packets
  state.SetLabel(PathName(path));
  TheNode().DestroyQueue(q);
}

void BM_BarrierRoundTrip(benchmark::State& state) {
  const Path path = static_cast<Path>(state.range(0));
  const bool event = state.range(1) != 0;
  Queue q = TheNode().MakeQueue(0, KFD_IOC_QUEUE_TYPE_COMPUTE_AQL, 4096);
  const uint64_t offset = 64 * (1 + state.range(0) + 4 * state.range(1));
  const uint64_t signal = Signals().va + offset;
  int64_t* value = SignalAt(Signals(), offset);
  uint32_t event_id = 0;
  if (event) {
    auto [id, mailbox] = TheNode().SignalEvent();
    event_id = id;
    memcpy(Signals().cpu + offset + 0x10, &mailbox, 8);
    memcpy(Signals().cpu + offset + 0x18, &id, 4);
  }
  const Packet p = Barrier(signal);
  for (auto _ : state) {
    __atomic_store_n(value, 1, __ATOMIC_RELEASE);
    SubmitAql(q, p, path);
    if (event) {
      vkfd::testing::OneEventWait w(event_id, 10000, /*wait_for_all=*/true);
      // hsa_signal_wait's way: look at the value, sleep in WAIT_EVENTS only while it is not there.
      while (__atomic_load_n(value, __ATOMIC_ACQUIRE) != 0) {
        if (ioctl(TheNode().kfd(), AMDKFD_IOC_WAIT_EVENTS, &w.args) != 0) Die("WAIT_EVENTS");
      }
    } else {
      while (__atomic_load_n(value, __ATOMIC_ACQUIRE) != 0) {
      }
    }
  }
  state.SetLabel(std::string(PathName(path)) + (event ? "/event" : "/spin"));
  TheNode().DestroyQueue(q);
}

// After the command processor has gone idle (it watches the doorbells then, no polling): the first
// doorbell's trap, the wake-up and the round trip. 120 ms idle before each.
void BM_ColdRoundTrip(benchmark::State& state) {
  Queue q = TheNode().MakeQueue(0, KFD_IOC_QUEUE_TYPE_COMPUTE_AQL, 4096);
  const uint64_t offset = 64 * 50;
  int64_t* value = SignalAt(Signals(), offset);
  const Packet p = Barrier(Signals().va + offset);
  for (auto _ : state) {
    std::this_thread::sleep_for(std::chrono::milliseconds(120));
    __atomic_store_n(value, 1, __ATOMIC_RELEASE);
    const int64_t t0 = NowNs();
    SubmitAql(q, p, Path::kDoorbell);
    while (__atomic_load_n(value, __ATOMIC_ACQUIRE) != 0) {
    }
    state.SetIterationTime(double(NowNs() - t0) * 1e-9);
  }
  state.SetLabel("doorbell/spin after idle");
  TheNode().DestroyQueue(q);
}

// ---- streams ------------------------------------------------------------------------------------

void BM_SdmaStream(benchmark::State& state) {
  const Path path = static_cast<Path>(state.range(0));
  constexpr int kCopies = 256;
  static Buffer src = TheNode().Host(kCopies * 4096, {0});
  static Buffer dst = TheNode().Device(0, 2 * kMiB, {0}, KFD_IOC_ALLOC_MEM_FLAGS_VRAM);
  static Buffer fence = TheNode().Host(4096, {0});
  Queue q = TheNode().MakeQueue(0, KFD_IOC_QUEUE_TYPE_SDMA, 1 * kMiB);
  uint32_t round = 0;
  for (auto _ : state) {
    ++round;
    for (int i = 0; i < kCopies; ++i) {
      SubmitSdma(q, SdmaCopy(dst.va + 4096ull * (i % 512), src.va + 4096ull * i, 4096), path);
    }
    SubmitSdma(q, SdmaFence(fence.va, round), path);
    while (__atomic_load_n(reinterpret_cast<uint32_t*>(fence.cpu), __ATOMIC_ACQUIRE) != round) {
    }
  }
  state.SetItemsProcessed(state.iterations() * kCopies);
  state.SetLabel(PathName(path));
  TheNode().DestroyQueue(q);
}

struct Blit {
  Buffer code, kernargs;
  uint64_t copy_buffer = 0, copy_aligned = 0;
};
Blit& Blits() {
  static Blit b = [] {
    Blit blit;
    const vkfd::testing::CodeObject co =
        vkfd::testing::BuildCodeObject({"__amd_rocclr_copyBuffer", "__amd_rocclr_copyBufferAligned"});
    std::vector<size_t> all;
    for (size_t g = 0; g < TheNode().gpu_count(); ++g) all.push_back(g);
    blit.code = TheNode().Device(0, 2 * kMiB, all, KFD_IOC_ALLOC_MEM_FLAGS_VRAM);
    memcpy(blit.code.cpu, co.image.data(), co.image.size());
    blit.copy_buffer = blit.code.va + co.descriptor_offsets[0];
    blit.copy_aligned = blit.code.va + co.descriptor_offsets[1];
    blit.kernargs = TheNode().Host(512 * 1024, all);
    return blit;
  }();
  return b;
}

Packet Dispatch(uint64_t kernel, uint64_t kernarg, uint32_t items, uint64_t signal) {
  Packet p;
  const uint16_t header = kAqlDispatch | kAcqRelSystem;
  const uint16_t setup = 1, wg = 256, one = 1;
  memcpy(p.bytes, &header, 2);
  memcpy(p.bytes + 2, &setup, 2);
  memcpy(p.bytes + 4, &wg, 2);
  memcpy(p.bytes + 6, &one, 2);
  memcpy(p.bytes + 8, &one, 2);
  const uint32_t grid[3] = {items, 1, 1};
  memcpy(p.bytes + 12, grid, 12);
  memcpy(p.bytes + 32, &kernel, 8);
  memcpy(p.bytes + 40, &kernarg, 8);
  memcpy(p.bytes + 56, &signal, 8);
  return p;
}

void BM_BlitStream(benchmark::State& state) {
  const Path path = static_cast<Path>(state.range(0));
  constexpr int kDispatches = 256;
  static Buffer src = TheNode().Host(kDispatches * 4096, {0});
  static Buffer dst = TheNode().Device(0, 2 * kMiB, {0}, KFD_IOC_ALLOC_MEM_FLAGS_VRAM);
  Blit& blit = Blits();
  // Kernel arguments of copyBuffer, byte-wise: src, dst, srcOrigin, dstOrigin, size, remain = 8.
  for (int i = 0; i < kDispatches; ++i) {
    const uint64_t args[7] = {src.va, dst.va, 4096ull * i, 4096ull * (i % 512), 4096, 8, 0};
    memcpy(blit.kernargs.cpu + 256 * i, args, sizeof(args));
  }
  Queue q = TheNode().MakeQueue(0, KFD_IOC_QUEUE_TYPE_COMPUTE_AQL, 64 * 1024);
  int64_t* value = SignalAt(Signals(), 64 * 40);
  for (auto _ : state) {
    __atomic_store_n(value, 1, __ATOMIC_RELEASE);
    for (int i = 0; i < kDispatches; ++i) {
      const uint64_t signal = i + 1 == kDispatches ? Signals().va + 64 * 40 : 0;
      SubmitAql(q, Dispatch(blit.copy_buffer, blit.kernargs.va + 256 * i, 4096, signal), path);
    }
    while (__atomic_load_n(value, __ATOMIC_ACQUIRE) != 0) {
    }
  }
  state.SetItemsProcessed(state.iterations() * kDispatches);
  state.SetLabel(PathName(path));
  TheNode().DestroyQueue(q);
}

// ---- bandwidth ----------------------------------------------------------------------------------

enum Engine { kSdmaEngine = 0, kKernelEngine = 1, kMemcpy = 2 };

void BM_Copy64MiB(benchmark::State& state) {
  const int engine = static_cast<int>(state.range(0));
  const bool from_host = state.range(1) != 0;
  constexpr uint64_t kBytes = 64 * kMiB;
  static Buffer vram_src = TheNode().Device(0, kBytes, {0}, KFD_IOC_ALLOC_MEM_FLAGS_VRAM);
  static Buffer vram_dst = TheNode().Device(0, kBytes, {0}, KFD_IOC_ALLOC_MEM_FLAGS_VRAM);
  static Buffer host_src = TheNode().Host(kBytes, {0});
  const Buffer& src = from_host ? host_src : vram_src;
  // Every page touched once before timing: first-touch faults of the memfds are not copy bandwidth.
  memset(src.cpu, 0x5a, kBytes);
  memset(vram_dst.cpu, 0, kBytes);
  static Queue sdma = TheNode().MakeQueue(0, KFD_IOC_QUEUE_TYPE_SDMA, 64 * 1024);
  static Queue aql = TheNode().MakeQueue(0, KFD_IOC_QUEUE_TYPE_COMPUTE_AQL, 4096);
  int64_t* value = SignalAt(Signals(), 64 * 41);
  for (auto _ : state) {
    if (engine == kMemcpy) {
      memcpy(vram_dst.cpu, src.cpu, kBytes);
      benchmark::ClobberMemory();
    } else if (engine == kSdmaEngine) {
      std::vector<uint32_t> packets;
      for (uint64_t off = 0; off < kBytes; off += 4 * kMiB) {
        auto c = SdmaCopy(vram_dst.va + off, src.va + off, 4 * kMiB);
        packets.insert(packets.end(), c.begin(), c.end());
      }
      SubmitSdma(sdma, packets, Path::kDoorbell);
      WaitDrained(sdma);
    } else {
      const uint64_t args[7] = {src.va, vram_dst.va, 0, 0, kBytes / 16, 16, 0};
      memcpy(Blits().kernargs.cpu + 256 * 300, args, sizeof(args));
      __atomic_store_n(value, 1, __ATOMIC_RELEASE);
      SubmitAql(aql, Dispatch(Blits().copy_aligned, Blits().kernargs.va + 256 * 300,
                              static_cast<uint32_t>(kBytes / 16), Signals().va + 64 * 41),
                Path::kDoorbell);
      while (__atomic_load_n(value, __ATOMIC_ACQUIRE) != 0) {
      }
    }
  }
  if (vram_dst.cpu[kBytes - 1] != 0x5a) state.SkipWithError("the copy did not arrive");
  state.SetBytesProcessed(state.iterations() * kBytes);
  static const char* kEngines[] = {"sdma", "kernel", "memcpy"};
  state.SetLabel(std::string(kEngines[engine]) + (from_host ? "/host->vram" : "/vram->vram"));
}

// ---- idle ---------------------------------------------------------------------------------------

double CpuSeconds() {
  rusage r{};
  getrusage(RUSAGE_SELF, &r);
  return double(r.ru_utime.tv_sec + r.ru_stime.tv_sec) + 1e-6 * double(r.ru_utime.tv_usec + r.ru_stime.tv_usec);
}

void BM_IdleQueues(benchmark::State& state) {
  const size_t gpus = std::min<size_t>(4, TheNode().gpu_count());
  std::vector<Queue> queues;
  for (size_t g = 0; g < gpus; ++g) {
    for (int i = 0; i < 4; ++i) {
      queues.push_back(TheNode().MakeQueue(g, i == 3 ? KFD_IOC_QUEUE_TYPE_SDMA
                                                    : KFD_IOC_QUEUE_TYPE_COMPUTE_AQL, 4096));
    }
  }
  // Each has run a packet once (as the runtime's would), then nothing.
  for (Queue& q : queues) {
    if (q.type == KFD_IOC_QUEUE_TYPE_SDMA) {
      SubmitSdma(q, {0u}, Path::kDoorbell);
    } else {
      SubmitAql(q, Barrier(0), Path::kDoorbell);
    }
    WaitDrained(q);
  }
  const double seconds = double(state.range(0));
  double percent = 0;
  for (auto _ : state) {
    const double cpu0 = CpuSeconds();
    const int64_t t0 = NowNs();
    std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
    const double wall = double(NowNs() - t0) * 1e-9;
    percent = 100.0 * (CpuSeconds() - cpu0) / wall;
    state.SetIterationTime(wall);
  }
  state.counters["cpu_percent_of_one_core"] = percent;
  state.counters["queues"] = double(queues.size());
  for (const Queue& q : queues) TheNode().DestroyQueue(q);
}

void BM_HostIoctl(benchmark::State& state) {
  const int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
  int dummy = 0;
  for (auto _ : state) benchmark::DoNotOptimize(ioctl(fd, _IOR('K', 0x01, int), &dummy));
  close(fd);
}

const std::vector<int64_t> kPaths = {int64_t(Path::kDoorbell), int64_t(Path::kIoctl),
                                     int64_t(Path::kIoctlDefer)};

BENCHMARK(BM_HostIoctl);
BENCHMARK(BM_SubmitCost)->ArgsProduct({kPaths})->UseManualTime();
BENCHMARK(BM_BarrierRoundTrip)->ArgsProduct({kPaths, {0, 1}});
BENCHMARK(BM_ColdRoundTrip)->Iterations(20)->UseManualTime()->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_SdmaStream)->ArgsProduct({kPaths})->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_BlitStream)->ArgsProduct({kPaths})->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_Copy64MiB)->ArgsProduct({{kSdmaEngine, kKernelEngine, kMemcpy}, {0, 1}})
    ->Unit(benchmark::kMillisecond);
BENCHMARK(BM_IdleQueues)->Arg(10)->Iterations(1)->Repetitions(1)->UseManualTime()
    ->Unit(benchmark::kSecond);

}  // namespace

BENCHMARK_MAIN();

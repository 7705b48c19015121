// The 2018 designs for mapping one BO on several GPUs, measured side by side through the interposer
// (docs/api-designs-measured.md):
//
//   Batched      one synchronous KFD MAP_MEMORY_TO_GPU over N GPUs per BO (what upstream chose)
//   PerGpu       N single-GPU MAPs per BO ("per-device, per-mapping ioctls are fine")
//   Async        VKFD_IOC_MAP_ASYNC for every BO of the batch, then one FENCE_WAIT on all fences
//   Atomic       VKFD_IOC_MAP_ATOMIC COMMIT per BO (all or nothing)
//
// Each iteration maps a batch of kBatch VRAM BOs of one size on the first N GPUs; only the mapping
// is timed (manual time), the unmap that restores the state is not. Figures are per BO mapped. Beside
// them, in the same run, the host's own cost of entering the kernel (an ioctl(2) that /dev/null fails
// with ENOTTY) and the interposer's cost of a KFD ioctl that does nothing (GET_VERSION): the
// syscall-and-dispatch overhead the 2018 review asked to measure.
//
// Runs under `vkfd run` on a node of at least 8 GPUs; `vkfd bench` does that twice (timing model off
// and on) and prints the table:
//
//   build/bin/vkfd run --topology mi210x8 -- build/libexec/vkfd/map_designs_bench
#include <benchmark/benchmark.h>
#include <fcntl.h>
#include <linux/kfd_ioctl.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "vkfd/vkfd_ioctl.h"

namespace {

constexpr int kBatch = 16;                      // BOs mapped per iteration
constexpr uint64_t kVaBase = 0x7e0000000000ull;  // BO i at kVaBase + i * kVaStride
constexpr uint64_t kVaStride = 512ull << 20;
constexpr uint32_t kVramFlags = KFD_IOC_ALLOC_MEM_FLAGS_VRAM | KFD_IOC_ALLOC_MEM_FLAGS_WRITABLE |
                                KFD_IOC_ALLOC_MEM_FLAGS_EXECUTABLE |
                                KFD_IOC_ALLOC_MEM_FLAGS_NO_SUBSTITUTE;

enum Design { kBatched, kPerGpu, kAsync, kAtomic };

int64_t NowNs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return int64_t{ts.tv_sec} * 1000000000 + ts.tv_nsec;
}

// /dev/kfd with every GPU of the topology acquired, opened once for the whole program: a KFD process
// lives as long as the address space, so the VMs are acquired once.
struct Kfd {
  int fd = -1;
  std::vector<uint32_t> ids;
  std::string error;

  static Kfd& Get() {
    static Kfd* kfd = new Kfd();
    return *kfd;
  }

 private:
  Kfd() {
    fd = open("/dev/kfd", O_RDWR | O_CLOEXEC);
    if (fd < 0) {
      error = "/dev/kfd does not open: run under `vkfd run` (or `vkfd bench`)";
      return;
    }
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
      const std::string node = "/dev/dri/renderD" + std::to_string(minor);
      const int render = open(node.c_str(), O_RDWR | O_CLOEXEC);
      kfd_ioctl_acquire_vm_args a{};
      a.drm_fd = static_cast<uint32_t>(render);
      a.gpu_id = id;
      if (render < 0 || ioctl(fd, AMDKFD_IOC_ACQUIRE_VM, &a) != 0) {
        error = "ACQUIRE_VM failed: " + std::string(strerror(errno));
        return;
      }
      ids.push_back(id);
    }
  }
};

bool Ioctl(unsigned long cmd, void* args) {
  while (ioctl(Kfd::Get().fd, cmd, args) != 0) {
    if (errno != EINTR && errno != EAGAIN) return false;  // kmtIoctl's retry
  }
  return true;
}

// KFD's synchronous MAP or UNMAP (the two share one struct layout) of `handle` on `ids`.
bool MapOrUnmap(unsigned long cmd, uint64_t handle, const uint32_t* ids, uint32_t n) {
  kfd_ioctl_map_memory_to_gpu_args m{};
  m.handle = handle;
  m.device_ids_array_ptr = reinterpret_cast<uint64_t>(ids);
  m.n_devices = n;
  return Ioctl(cmd, &m);
}
bool MapBatched(uint64_t handle, const uint32_t* ids, uint32_t n) {
  return MapOrUnmap(AMDKFD_IOC_MAP_MEMORY_TO_GPU, handle, ids, n);
}
bool Unmap(uint64_t handle, const uint32_t* ids, uint32_t n) {
  return MapOrUnmap(AMDKFD_IOC_UNMAP_MEMORY_FROM_GPU, handle, ids, n);
}

// Maps the batch with one design; false on any failure.
bool MapBatch(Design design, const std::vector<uint64_t>& handles, const uint32_t* ids,
              uint32_t n) {
  switch (design) {
    case kBatched:
      for (uint64_t h : handles) {
        if (!MapBatched(h, ids, n)) return false;
      }
      return true;
    case kPerGpu:
      for (uint64_t h : handles) {
        for (uint32_t g = 0; g < n; ++g) {
          if (!MapBatched(h, ids + g, 1)) return false;
        }
      }
      return true;
    case kAsync: {
      int fences[kBatch];
      int count = 0;
      bool ok = true;
      for (uint64_t h : handles) {
        vkfd_map_async_args a{};
        a.handle = h;
        a.device_ids_array_ptr = reinterpret_cast<uint64_t>(ids);
        a.n_devices = n;
        if (!Ioctl(VKFD_IOC_MAP_ASYNC, &a)) {
          ok = false;
          break;
        }
        fences[count++] = a.fence_fd;
      }
      if (ok && count > 0) {
        vkfd_fence_wait_args w{};
        w.fds_ptr = reinterpret_cast<uint64_t>(fences);
        w.count = static_cast<uint32_t>(count);
        w.flags = VKFD_WAIT_ALL;
        w.deadline_ns = VKFD_DEADLINE_NONE;
        ok = Ioctl(VKFD_IOC_FENCE_WAIT, &w) && w.error == 0;
      }
      for (int i = 0; i < count; ++i) close(fences[i]);
      return ok;
    }
    case kAtomic:
      for (uint64_t h : handles) {
        vkfd_map_atomic_args a{};
        a.handle = h;
        a.device_ids_array_ptr = reinterpret_cast<uint64_t>(ids);
        a.n_devices = n;
        a.flags = VKFD_MAP_ATOMIC_COMMIT;
        if (!Ioctl(VKFD_IOC_MAP_ATOMIC, &a)) return false;
      }
      return true;
  }
  return false;
}

// Arguments: design, GPUs, BO size.
void BM_Map(benchmark::State& state) {
  Kfd& kfd = Kfd::Get();
  if (!kfd.error.empty()) {
    state.SkipWithError(kfd.error.c_str());
    return;
  }
  const auto design = static_cast<Design>(state.range(0));
  const auto n = static_cast<uint32_t>(state.range(1));
  const auto size = static_cast<uint64_t>(state.range(2));
  if (kfd.ids.size() < n) {
    state.SkipWithError("the node has fewer GPUs than asked for");
    return;
  }
  std::vector<uint64_t> handles;
  for (int i = 0; i < kBatch; ++i) {
    kfd_ioctl_alloc_memory_of_gpu_args a{};
    a.va_addr = kVaBase + uint64_t(i) * kVaStride;
    a.size = size;
    a.gpu_id = kfd.ids[0];
    a.flags = kVramFlags;
    if (!Ioctl(AMDKFD_IOC_ALLOC_MEMORY_OF_GPU, &a)) {
      state.SkipWithError("ALLOC failed");
      return;
    }
    handles.push_back(a.handle);
  }
  for (auto _ : state) {
    const int64_t start = NowNs();
    const bool mapped = MapBatch(design, handles, kfd.ids.data(), n);
    const int64_t end = NowNs();
    if (!mapped) {
      state.SkipWithError(("map failed: " + std::string(strerror(errno))).c_str());
      break;
    }
    state.SetIterationTime(double(end - start) * 1e-9);
    for (uint64_t h : handles) {
      if (!Unmap(h, kfd.ids.data(), n)) {
        state.SkipWithError("unmap failed");
        break;
      }
    }
  }
  for (uint64_t h : handles) {
    kfd_ioctl_free_memory_of_gpu_args f{h};
    Ioctl(AMDKFD_IOC_FREE_MEMORY_OF_GPU, &f);
  }
  // Per iteration: kBatch BOs; ioctls per BO (the async design adds one wait per batch).
  state.counters["bos"] = kBatch;
  state.counters["ioctls_per_bo"] =
      design == kPerGpu ? double(n) : design == kAsync ? 1.0 + 1.0 / kBatch : 1.0;
}

void Args(benchmark::internal::Benchmark* b) {
  const char* quick = getenv("VKFD_BENCH_QUICK");
  const bool q = quick != nullptr && *quick == '1';
  for (int design : {kBatched, kPerGpu, kAsync, kAtomic}) {
    for (int gpus : q ? std::vector<int>{1, 4} : std::vector<int>{1, 2, 4, 8}) {
      for (int64_t size : q ? std::vector<int64_t>{4 << 10, 2 << 20}
                            : std::vector<int64_t>{4 << 10, 2 << 20, 256 << 20}) {
        b->Args({design, gpus, size});
      }
    }
  }
  b->ArgNames({"design", "gpus", "size"});
  b->UseManualTime();
}
BENCHMARK(BM_Map)->Apply(Args);

// The cost of entering the host kernel: an ioctl that /dev/null fails with ENOTTY.
void BM_HostSyscall(benchmark::State& state) {
  const int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
  kfd_ioctl_get_version_args args{};
  for (auto _ : state) benchmark::DoNotOptimize(ioctl(fd, AMDKFD_IOC_GET_VERSION, &args));
  close(fd);
}
BENCHMARK(BM_HostSyscall);

// The host's cost of waking a thread that sleeps in read() on an eventfd — what every wait for a
// fence pays here when the waiter has gone to sleep (on the 2-vCPU VMs of this project tens of
// microseconds, as long as the latencies being modelled; on bare metal a few). Manual time: from the
// write to the sleeper's return.
void BM_HostThreadWakeup(benchmark::State& state) {
  const int go = eventfd(0, EFD_CLOEXEC);
  const int back = eventfd(0, EFD_CLOEXEC);
  std::atomic<int64_t> woke_at{0};
  std::atomic<bool> stop{false};
  std::thread sleeper([&] {
    uint64_t v;
    while (read(go, &v, sizeof(v)) == sizeof(v) && !stop.load()) {
      woke_at.store(NowNs());
      v = 1;
      if (write(back, &v, sizeof(v)) != sizeof(v)) break;
    }
  });
  for (auto _ : state) {
    // Let the sleeper fall asleep, as a waiter would before its fence signals.
    timespec pause{0, 200000};
    nanosleep(&pause, nullptr);
    uint64_t v = 1;
    const int64_t start = NowNs();
    if (write(go, &v, sizeof(v)) != sizeof(v) || read(back, &v, sizeof(v)) != sizeof(v)) {
      state.SkipWithError("eventfd");
      break;
    }
    state.SetIterationTime(double(woke_at.load() - start) * 1e-9);
  }
  stop.store(true);
  uint64_t v = 1;
  [[maybe_unused]] ssize_t n = write(go, &v, sizeof(v));
  sleeper.join();
  close(go);
  close(back);
}
BENCHMARK(BM_HostThreadWakeup)->UseManualTime();

// The interposer's cost of a KFD ioctl that does nothing: decode, copy in and out, dispatch.
void BM_KfdNullIoctl(benchmark::State& state) {
  Kfd& kfd = Kfd::Get();
  if (!kfd.error.empty()) {
    state.SkipWithError(kfd.error.c_str());
    return;
  }
  kfd_ioctl_get_version_args args{};
  for (auto _ : state) benchmark::DoNotOptimize(ioctl(kfd.fd, AMDKFD_IOC_GET_VERSION, &args));
}
BENCHMARK(BM_KfdNullIoctl);

}  // namespace

BENCHMARK_MAIN();

// Cost of the KFD memory ioctls on the emulated node, through the uapi entry point, beside the host's
// own mmap(MAP_FIXED)+munmap of a memfd range of the same size measured in the same run.
//
//   build/bench/memory_bench --benchmark_repetitions=5 --benchmark_report_aggregates_only=true
//
// docs/benchmarks.md records figures and how they were taken.
#include <benchmark/benchmark.h>
#include <fcntl.h>
#include <linux/kfd_ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include <sys/resource.h>

#include "base/trace.h"
#include "uapi/kfd_device.h"

namespace {

constexpr uint64_t kMiB = 1ull << 20;
constexpr uint64_t kGiB = 1ull << 30;
constexpr uint64_t kVa = 0x7e0000000000ull;

// An emulated node with every GPU acquired, driven through raw ioctls.
class Node {
 public:
  explicit Node(const char* topology) {
    auto topo = vkfd::hw::LoadTopology(topology);
    if (!topo.ok()) abort();
    auto device = vkfd::uapi::KfdDevice::Create(std::move(*topo));
    if (!device.ok()) abort();
    device_ = std::move(device).value();
    kfd_ = device_->OpenKfd(O_RDWR | O_CLOEXEC);
    for (const auto& g : device_->driver().topology().gpus) {
      ids_.push_back(g.gpu_id);
      const int fd = device_->OpenRender(static_cast<int>(g.drm_render_minor), O_RDWR | O_CLOEXEC);
      render_.push_back(fd);
      kfd_ioctl_acquire_vm_args a{};
      a.drm_fd = static_cast<uint32_t>(fd);
      a.gpu_id = g.gpu_id;
      Check(device_->Ioctl(kfd_, AMDKFD_IOC_ACQUIRE_VM, &a));
    }
  }
  ~Node() {
    for (int fd : render_) {
      device_->ForgetFd(fd);
      close(fd);
    }
    device_->ForgetFd(kfd_);
    close(kfd_);
  }
  static void Check(int r) {
    if (r != 0) {
      perror("vkfd ioctl");
      abort();
    }
  }
  uint64_t Alloc(size_t gpu, uint64_t va, uint64_t size, uint32_t flags, uint64_t* offset = nullptr) {
    kfd_ioctl_alloc_memory_of_gpu_args a{};
    a.va_addr = va;
    a.size = size;
    a.gpu_id = ids_[gpu];
    a.flags = flags;
    Check(device_->Ioctl(kfd_, AMDKFD_IOC_ALLOC_MEMORY_OF_GPU, &a));
    if (offset) *offset = a.mmap_offset;
    return a.handle;
  }
  void MapOrUnmap(unsigned long cmd, uint64_t handle, size_t n_gpus) {
    kfd_ioctl_map_memory_to_gpu_args m{};
    m.handle = handle;
    m.device_ids_array_ptr = reinterpret_cast<uint64_t>(ids_.data());
    m.n_devices = static_cast<uint32_t>(n_gpus);
    Check(device_->Ioctl(kfd_, cmd, &m));
  }
  void Free(uint64_t handle) {
    kfd_ioctl_free_memory_of_gpu_args f{handle};
    Check(device_->Ioctl(kfd_, AMDKFD_IOC_FREE_MEMORY_OF_GPU, &f));
  }
  int render_fd(size_t gpu) const { return render_[gpu]; }
  vkfd::uapi::KfdDevice& device() { return *device_; }

 private:
  std::unique_ptr<vkfd::uapi::KfdDevice> device_;
  int kfd_ = -1;
  std::vector<uint32_t> ids_;
  std::vector<int> render_;
};

constexpr uint32_t kVramFlags = KFD_IOC_ALLOC_MEM_FLAGS_VRAM | KFD_IOC_ALLOC_MEM_FLAGS_WRITABLE |
                                KFD_IOC_ALLOC_MEM_FLAGS_EXECUTABLE |
                                KFD_IOC_ALLOC_MEM_FLAGS_NO_SUBSTITUTE;
constexpr uint32_t kGttFlags = KFD_IOC_ALLOC_MEM_FLAGS_GTT | KFD_IOC_ALLOC_MEM_FLAGS_WRITABLE;

// ALLOC + MAP(n GPUs) + UNMAP + FREE of one VRAM BO. Args: size, GPUs.
void BM_AllocMapUnmapFree(benchmark::State& state) {
  static Node node("mi210x8");
  const uint64_t size = static_cast<uint64_t>(state.range(0));
  const size_t gpus = static_cast<size_t>(state.range(1));
  for (auto _ : state) {
    const uint64_t h = node.Alloc(0, kVa, size, kVramFlags);
    node.MapOrUnmap(AMDKFD_IOC_MAP_MEMORY_TO_GPU, h, gpus);
    node.MapOrUnmap(AMDKFD_IOC_UNMAP_MEMORY_FROM_GPU, h, gpus);
    node.Free(h);
  }
  state.SetLabel(std::to_string(gpus) + " GPU");
}
BENCHMARK(BM_AllocMapUnmapFree)
    ->ArgNames({"size", "gpus"})
    ->ArgsProduct({{4096, 2 * kMiB, 1 * kGiB}, {1, 4, 8}})
    ->Unit(benchmark::kMicrosecond);

// CPU time of the whole process (the trace's writer thread included), in microseconds.
double ProcessCpuUs() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return double(u.ru_utime.tv_sec + u.ru_stime.tv_sec) * 1e6 + double(u.ru_utime.tv_usec + u.ru_stime.tv_usec);
}

double ThreadCpuUs() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return double(ts.tv_sec) * 1e6 + double(ts.tv_nsec) / 1e3;
}

double NowUs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return double(ts.tv_sec) * 1e6 + double(ts.tv_nsec) / 1e3;
}

double Median(std::vector<double> v) {  // of a non-empty vector
  std::sort(v.begin(), v.end());
  return v.size() % 2 ? v[v.size() / 2] : (v[v.size() / 2 - 1] + v[v.size() / 2]) / 2;
}

// What the trace (`vkfd run --trace`, base/trace.h) costs the ALLOC + MAP + UNMAP + FREE loop of
// BM_AllocMapUnmapFree (2 MiB VRAM BO), measured in pairs: one benchmark iteration runs a block of
// the loop with the trace off and a block with it on (in alternating order), in one process with one
// tracer writing to a file in /tmp. This VM's speed drifts from second to second and from process
// to process; two adjacent blocks see the same drift, so the ratio of a pair means something where
// two separate benchmarks' times do not. A block lasts ~50 ms and measures the steady state of a
// long traced run: an untimed lead-in of a tenth of a block comes first (the writer is busy with its
// events when timing starts, as it is busy with the timed part's last events after it ends), and
// after an on block the writer is flushed, untimed, so that off blocks start with an idle writer.
// Counters: ratio (median of the pairs' on/off ratios; ratio_p25 and ratio_p75 its quartiles —
// pairs spread widely here, as the VM's speed changes within 100 ms), off_us and on_us (medians per
// loop iteration), thread_cpu_ratio (the same for the benchmark thread's CPU time: what tracing
// costs on the caller's path plus what the writer's work next to it slows it by), writer_cpu_us (the process's extra CPU time per traced iteration, lead-in and
// flush included — the writer thread's, mostly).
void BM_TraceCost(benchmark::State& state) {
  static Node node("mi210x8");
  const size_t gpus = static_cast<size_t>(state.range(0));
  auto loop = [&](int64_t n) {
    for (int64_t i = 0; i < n; ++i) {
      const uint64_t h = node.Alloc(0, kVa, 2 * kMiB, kVramFlags);
      node.MapOrUnmap(AMDKFD_IOC_MAP_MEMORY_TO_GPU, h, gpus);
      node.MapOrUnmap(AMDKFD_IOC_UNMAP_MEMORY_FROM_GPU, h, gpus);
      node.Free(h);
    }
  };
  char path[] = "/tmp/vkfd-bench-trace-XXXXXX";
  const int fd = mkstemp(path);
  if (fd < 0 || write(fd, "[\n", 2) != 2) abort();
  close(fd);
  if (!vkfd::trace::Start(path).ok()) abort();
  vkfd::trace::SetRecording(false);
  // Iterations for ~50 ms, from a short untraced run.
  double t0 = NowUs();
  loop(200);
  const int64_t block = std::max<int64_t>(200, static_cast<int64_t>(200 * 50e3 / (NowUs() - t0)));
  std::vector<double> ratios, thread_ratios, off_us, on_us, writer_cpu;
  bool on_first = false;
  for (auto _ : state) {
    double off = 0, on = 0, cpu_off = 0, cpu_on = 0, thread_off = 0, thread_on = 0;
    for (int half = 0; half < 2; ++half) {
      const bool traced = (half == 0) == on_first;
      vkfd::trace::SetRecording(traced);
      const double cpu0 = ProcessCpuUs();
      loop(block / 10);
      t0 = NowUs();
      const double thread0 = ThreadCpuUs();
      loop(block);
      const double took = (NowUs() - t0) / double(block);
      (traced ? thread_on : thread_off) = ThreadCpuUs() - thread0;
      vkfd::trace::SetRecording(false);
      if (traced) vkfd::trace::Flush();
      const double cpu = (ProcessCpuUs() - cpu0) / double(block + block / 10);
      (traced ? on : off) = took;
      (traced ? cpu_on : cpu_off) = cpu;
    }
    on_first = !on_first;
    ratios.push_back(on / off);
    thread_ratios.push_back(thread_on / thread_off);
    off_us.push_back(off);
    on_us.push_back(on);
    writer_cpu.push_back(cpu_on - cpu_off);
  }
  vkfd::trace::Stop();
  unlink(path);
  state.counters["ratio"] = Median(ratios);
  state.counters["thread_cpu_ratio"] = Median(thread_ratios);
  std::sort(ratios.begin(), ratios.end());
  state.counters["ratio_p25"] = ratios[ratios.size() / 4];
  state.counters["ratio_p75"] = ratios[ratios.size() * 3 / 4];
  state.counters["off_us"] = Median(off_us);
  state.counters["on_us"] = Median(on_us);
  state.counters["writer_cpu_us"] = Median(writer_cpu);
  state.SetLabel(std::to_string(gpus) + " GPU, " + std::to_string(ratios.size()) + " pairs of " +
                 std::to_string(block) + " iterations");
}
BENCHMARK(BM_TraceCost)->ArgNames({"gpus"})->Arg(1)->Arg(4)->Iterations(60)->Unit(benchmark::kMillisecond);

// The host's own cost for the same amount of address space: map a memfd range into a reserved area
// with MAP_FIXED, then unmap it.
void BM_HostMmapFixedMunmap(benchmark::State& state) {
  const uint64_t size = static_cast<uint64_t>(state.range(0));
  static int memfd = [] {
    int fd = memfd_create("bench-host", MFD_CLOEXEC);
    if (ftruncate(fd, 2 * kGiB) != 0) abort();
    return fd;
  }();
  void* area = mmap(nullptr, size, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  munmap(area, size);
  for (auto _ : state) {
    void* p = mmap(area, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, memfd, 0);
    if (p == MAP_FAILED) abort();
    munmap(p, size);
  }
}
BENCHMARK(BM_HostMmapFixedMunmap)
    ->ArgName("size")
    ->Arg(4096)
    ->Arg(2 * kMiB)
    ->Arg(1 * kGiB)
    ->Unit(benchmark::kMicrosecond);

// One ALLOC+MAP+UNMAP+FREE of a 4 KiB GTT BO while `live` other BOs are allocated and mapped.
void BM_OpWithLiveBos(benchmark::State& state) {
  const int64_t live = state.range(0);
  Node node("mi210x1");
  for (int64_t i = 0; i < live; ++i) {
    const uint64_t h = node.Alloc(0, kVa + uint64_t(i) * 8192, 4096, kGttFlags);
    node.MapOrUnmap(AMDKFD_IOC_MAP_MEMORY_TO_GPU, h, 1);
  }
  const uint64_t va = kVa - 64 * kMiB;
  for (auto _ : state) {
    const uint64_t h = node.Alloc(0, va, 4096, kGttFlags);
    node.MapOrUnmap(AMDKFD_IOC_MAP_MEMORY_TO_GPU, h, 1);
    node.MapOrUnmap(AMDKFD_IOC_UNMAP_MEMORY_FROM_GPU, h, 1);
    node.Free(h);
  }
}
BENCHMARK(BM_OpWithLiveBos)->ArgName("live")->Arg(1000)->Arg(100000)->Unit(benchmark::kMicrosecond);

long ReadStatusKb(const char* key) {
  FILE* f = fopen("/proc/self/status", "r");
  char line[256];
  long value = -1;
  while (f && fgets(line, sizeof(line), f)) {
    if (strncmp(line, key, strlen(key)) == 0) value = atol(line + strlen(key) + 1);
  }
  if (f) fclose(f);
  return value;
}

// An 8 × 64 GiB node holding 1 GiB of live BOs (512 × 2 MiB VRAM, each mapped on all 8 GPUs), all
// written through the client's own mmap of the render node. Reports host memory beyond the data.
void BM_HostMemoryFor1GiBLive(benchmark::State& state) {
  for (auto _ : state) {
    const long anon_before = ReadStatusKb("RssAnon:");
    auto node = std::make_unique<Node>("mi210x8");
    uint64_t touched = 0;
    std::vector<std::pair<void*, uint64_t>> maps;
    for (int i = 0; i < 512; ++i) {
      const size_t gpu = static_cast<size_t>(i % 8);
      uint64_t offset = 0;
      const uint64_t h = node->Alloc(gpu, kVa + uint64_t(i) * 2 * kMiB, 2 * kMiB,
                                     kVramFlags | KFD_IOC_ALLOC_MEM_FLAGS_PUBLIC, &offset);
      node->MapOrUnmap(AMDKFD_IOC_MAP_MEMORY_TO_GPU, h, 8);
      void* p = mmap(nullptr, 2 * kMiB, PROT_READ | PROT_WRITE, MAP_SHARED, node->render_fd(gpu),
                     static_cast<off_t>(offset));
      if (p == MAP_FAILED) abort();
      memset(p, 0x5a, 2 * kMiB);
      touched += 2 * kMiB;
      maps.emplace_back(p, 2 * kMiB);
    }
    // Shared memory actually allocated in the GPUs' memfds (data + page tables) ...
    uint64_t shmem = 0;
    for (size_t g = 0; g < 8; ++g) {
      struct stat st;
      fstat(node->device().driver().node().gpu(g).memory->fd(), &st);
      shmem += uint64_t(st.st_blocks) * 512;
    }
    // ... plus vkfd's own heap growth.
    const long anon_after = ReadStatusKb("RssAnon:");
    const uint64_t anon = anon_after > anon_before ? uint64_t(anon_after - anon_before) * 1024 : 0;
    const double overhead = double(shmem + anon) - double(touched);
    state.counters["touched_MiB"] = double(touched) / double(kMiB);
    state.counters["overhead_MiB"] = overhead / double(kMiB);
    state.counters["shmem_MiB"] = double(shmem) / double(kMiB);
    state.counters["heap_MiB"] = double(anon) / double(kMiB);
    for (auto& [p, len] : maps) munmap(p, len);
    node.reset();
  }
}
BENCHMARK(BM_HostMemoryFor1GiBLive)->Iterations(1)->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();

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
#include <unistd.h>

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

// The same loop with the trace on (`vkfd run --trace`, base/trace.h), writing to a file in /tmp, on a
// node of its own; beside BM_AllocMapUnmapFree in the same run it gives what tracing costs
// (docs/trace.md). The counter cpu_us is the whole process's CPU time per iteration, the trace's
// writer thread included.
void BM_AllocMapUnmapFreeTraced(benchmark::State& state) {
  static Node node("mi210x8");
  const uint64_t size = static_cast<uint64_t>(state.range(0));
  const size_t gpus = static_cast<size_t>(state.range(1));
  const bool traced = state.range(2) != 0;
  char path[] = "/tmp/vkfd-bench-trace-XXXXXX";
  const int fd = mkstemp(path);
  if (fd < 0 || write(fd, "[\n", 2) != 2) abort();
  close(fd);
  if (traced && !vkfd::trace::Start(path).ok()) abort();
  const double cpu0 = ProcessCpuUs();
  for (auto _ : state) {
    const uint64_t h = node.Alloc(0, kVa, size, kVramFlags);
    node.MapOrUnmap(AMDKFD_IOC_MAP_MEMORY_TO_GPU, h, gpus);
    node.MapOrUnmap(AMDKFD_IOC_UNMAP_MEMORY_FROM_GPU, h, gpus);
    node.Free(h);
  }
  if (traced) vkfd::trace::Stop();  // writes what is buffered: counted in cpu_us
  state.counters["cpu_us"] = (ProcessCpuUs() - cpu0) / double(state.iterations());
  unlink(path);
  state.SetLabel(std::to_string(gpus) + " GPU" + (traced ? ", traced" : ", trace off"));
}
BENCHMARK(BM_AllocMapUnmapFreeTraced)
    ->ArgNames({"size", "gpus", "trace"})
    ->ArgsProduct({{2 * kMiB}, {1, 4}, {0, 1}})
    ->Unit(benchmark::kMicrosecond);

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

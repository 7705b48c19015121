// Conformance of the memory rules issue 12 made exact (../shared/reference/kfd-semantics.md §4.1, §4.3,
// §4.6, corrected), through raw ioctls and mmap only: memory limits, USERPTR access, the AQL queue
// MAP failure, MAP/UNMAP's wait under the process mutex, CPU mappings through the render node and
// debugger access to them. Each test names the 6.1.y function whose rule it checks.
#include <errno.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <linux/kfd_ioctl.h>
#include <sys/mman.h>
#include <sys/sysinfo.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <thread>
#include <vector>

#include "uapi/device_test.h"

namespace vkfd::conformance {
namespace {

constexpr uint64_t kPage = 4096;
constexpr uint64_t k2MiB = 2 * kMiB;

uint64_t NowNs() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return uint64_t(ts.tv_sec) * 1000000000ull + uint64_t(ts.tv_nsec);
}

class MemoryRulesTest : public DeviceTest {
 protected:
  kfd_ioctl_alloc_memory_of_gpu_args AllocArgs(size_t gpu, uint64_t va, uint64_t size,
                                               uint32_t flags, uint64_t mmap_offset = 0) {
    kfd_ioctl_alloc_memory_of_gpu_args args{};
    args.va_addr = va;
    args.size = size;
    args.gpu_id = gpus_[gpu];
    args.flags = flags;
    args.mmap_offset = mmap_offset;
    return args;
  }
  // ALLOC: 0 or errno.
  int TryAlloc(kfd_ioctl_alloc_memory_of_gpu_args* args, bool check = true) {
    return Call(check, AMDKFD_IOC_ALLOC_MEMORY_OF_GPU, args) == 0 ? 0 : errno;
  }
  int MapErr(uint64_t handle, std::vector<uint32_t> ids, uint32_t* n_success,
             unsigned long cmd = AMDKFD_IOC_MAP_MEMORY_TO_GPU) {
    kfd_ioctl_map_memory_to_gpu_args args{};
    args.handle = handle;
    args.device_ids_array_ptr = reinterpret_cast<uint64_t>(ids.data());
    args.n_devices = static_cast<uint32_t>(ids.size());
    args.n_success = *n_success;
    const int r = Call(cmd, &args);
    const int err = r == 0 ? 0 : errno;
    *n_success = args.n_success;
    return err;
  }
  int UnmapErr(uint64_t handle, std::vector<uint32_t> ids, uint32_t* n_success) {
    return MapErr(handle, std::move(ids), n_success, AMDKFD_IOC_UNMAP_MEMORY_FROM_GPU);
  }
  // mmap through the backend: the address, or MAP_FAILED with *err set.
  void* MapCpu(int fd, uint64_t offset, size_t length, int* err, int prot = PROT_READ | PROT_WRITE,
               int flags = MAP_SHARED, void* addr = nullptr) {
    errno = 0;
    void* p = backend_->Mmap(addr, length, prot, flags, fd, static_cast<off_t>(offset));
    *err = p == MAP_FAILED ? errno : 0;
    return p;
  }
  // The page-table reserve and a GPU's VRAM limit as 6.1.y computes them from the topology, if the
  // backend knows the sizes (ESTIMATE_PT_SIZE(system + every GPU's VRAM)).
  bool KnownLimit(size_t gpu, uint64_t* limit) {
    const uint64_t system = backend_->SystemMemoryBytes();
    if (system == 0) return false;
    uint64_t total = system;
    for (size_t g = 0; g < gpus_.size(); ++g) {
      if (backend_->VramBytes(g) == 0) return false;
      total += backend_->VramBytes(g);
    }
    const uint64_t reserve = std::max<uint64_t>(total >> 14, 8 * kMiB);
    *limit = backend_->VramBytes(gpu) - reserve;
    return true;
  }
};

// ---- §4.1 memory limits ----------------------------------------------------------------------

// amdgpu_amdkfd_reserve_mem_limit adds the page-aligned size to vram_used and its 2 MiB-aligned size
// to vram_used_aligned; amdgpu_amdkfd_get_available_memory reports VRAM − aligned − pinned − reserve.
TEST_F(MemoryRulesTest, amdgpu_amdkfd_get_available_memory_Counts2MiBStepsAndComesBack) {
  const uint64_t a0 = Available(1);
  EXPECT_EQ(0u, a0 % k2MiB);
  const uint64_t small = Alloc(1, kVa, kPage);
  EXPECT_EQ(a0 - k2MiB, Available(1));
  const uint64_t odd = Alloc(1, kVa + k2MiB, k2MiB + kPage);  // two steps
  EXPECT_EQ(a0 - 3 * k2MiB, Available(1));
  const uint64_t gtt = Alloc(1, kVa + 8 * kMiB, 64 * kMiB, kGtt);  // GTT is not VRAM
  EXPECT_EQ(a0 - 3 * k2MiB, Available(1));
  EXPECT_EQ(a0, Available(0));  // per GPU
  ASSERT_EQ(0, Free(small));
  ASSERT_EQ(0, Free(odd));
  ASSERT_EQ(0, Free(gtt));
  EXPECT_EQ(a0, Available(1));
}

// One page-table reserve for the node, from system memory plus every GPU's VRAM
// (amdgpu_amdkfd_total_mem_size, ESTIMATE_PT_SIZE).
TEST_F(MemoryRulesTest, amdgpu_amdkfd_reserve_mem_limit_ReserveFromSystemPlusAllVram) {
  for (size_t g = 0; g < gpus_.size(); ++g) {
    uint64_t limit = 0;
    if (!KnownLimit(g, &limit)) GTEST_SKIP() << "the backend does not report memory sizes";
    EXPECT_EQ(limit & ~(k2MiB - 1), Available(g)) << "gpu " << g;
  }
}

// The limit counts pages, AVAILABLE 2 MiB steps: after an allocation of everything AVAILABLE
// reports, 4 KiB BOs still fit until the page-granular limit; the aligned counter then passes the
// limit, where 6.1.y's size_t arithmetic wraps around and vkfd reports 0 (docs/semantics.md).
TEST_F(MemoryRulesTest, amdgpu_amdkfd_reserve_mem_limit_ChargesPagesNot2MiBSteps) {
  const size_t gpu = 2;
  const uint64_t a0 = Available(gpu);
  auto big = AllocArgs(gpu, kVa, a0, kVram);
  ASSERT_EQ(0, TryAlloc(&big));
  EXPECT_EQ(0u, Available(gpu));
  std::vector<uint64_t> smalls;
  int err = 0;
  for (int i = 0; i < 600; ++i) {
    auto s = AllocArgs(gpu, kVa + a0 + uint64_t(i) * kPage, kPage, kVram);
    err = TryAlloc(&s, /*check=*/false);
    if (err != 0) break;
    smalls.push_back(s.handle);
  }
  EXPECT_EQ(ENOMEM, err);
  EXPECT_LT(smalls.size(), 512u);  // less than one 2 MiB step was left
  uint64_t limit = 0;
  if (KnownLimit(gpu, &limit)) {
    EXPECT_EQ((limit - a0) / kPage, smalls.size());
  }
  if (!smalls.empty()) {
    // vram_used_aligned > real_vram_size − reserve: 0, not 6.1.y's wrapped value.
    EXPECT_EQ(0u, Available(gpu));
  }
  for (uint64_t h : smalls) ASSERT_EQ(0, Free(h));
  ASSERT_EQ(0, Free(big.handle));
  EXPECT_EQ(a0, Available(gpu));
}

// System memory is the host's unless the topology names it: the CPU node's bank says how much,
// and GTT is limited to 3/8 of it (amdgpu_amdkfd_gpuvm_init_mem_limits).
TEST_F(MemoryRulesTest, amdgpu_amdkfd_gpuvm_init_mem_limits_SystemMemoryIsTheHosts) {
  const uint64_t system = backend_->SystemMemoryBytes();
  if (system == 0) GTEST_SKIP() << "the backend does not report memory sizes";
  struct sysinfo si {};
  ASSERT_EQ(0, sysinfo(&si));
  const uint64_t host = uint64_t{si.totalram} * si.mem_unit;
  EXPECT_LE(system, host);  // the presets name no size: never more than the host has
  auto over = AllocArgs(0, kVa, ((system >> 1) - (system >> 3)) + kPage, kGtt);
  EXPECT_EQ(ENOMEM, TryAlloc(&over));
}

// ---- USERPTR access (amdgpu_ttm_tt_get_user_pages → hmm_range_fault, write access always) --------

TEST_F(MemoryRulesTest, amdgpu_ttm_tt_get_user_pages_ReadOnlyIsEpermProtNoneAndHolesEfault) {
  const size_t len = 8 * kPage;
  auto* base = static_cast<uint8_t*>(
      mmap(nullptr, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
  ASSERT_NE(MAP_FAILED, base);
  // pages: 0-1 RW, 2-3 read-only, 4-5 PROT_NONE, 6 unmapped, 7 RW
  ASSERT_EQ(0, mprotect(base + 2 * kPage, 2 * kPage, PROT_READ));
  ASSERT_EQ(0, mprotect(base + 4 * kPage, 2 * kPage, PROT_NONE));
  ASSERT_EQ(0, munmap(base + 6 * kPage, kPage));
  const auto user = [&](size_t first_page, size_t pages) {
    const uint64_t addr = reinterpret_cast<uint64_t>(base + first_page * kPage);
    auto a = AllocArgs(0, addr, pages * kPage,
                       KFD_IOC_ALLOC_MEM_FLAGS_USERPTR | KFD_IOC_ALLOC_MEM_FLAGS_WRITABLE, addr);
    const int err = TryAlloc(&a);
    if (err == 0) {
      EXPECT_EQ(0, Free(a.handle));
    }
    return err;
  };
  EXPECT_EQ(0, user(0, 2));
  EXPECT_EQ(0, user(7, 1));
  EXPECT_EQ(EPERM, user(2, 2));   // read-only: hmm_vma_fault asks for write
  EXPECT_EQ(EPERM, user(0, 3));   // the first offending piece decides
  EXPECT_EQ(EFAULT, user(4, 1));  // PROT_NONE: hmm_vma_walk_test
  EXPECT_EQ(EPERM, user(3, 2));   // read-only comes before PROT_NONE
  EXPECT_EQ(EFAULT, user(6, 1));  // unmapped: vma_lookup of the start
  EXPECT_EQ(EFAULT, user(5, 3));  // PROT_NONE, then a hole
  // Without WRITABLE KFD still asks for write access.
  const uint64_t ro = reinterpret_cast<uint64_t>(base + 2 * kPage);
  auto a = AllocArgs(0, ro, kPage, KFD_IOC_ALLOC_MEM_FLAGS_USERPTR, ro);
  EXPECT_EQ(EPERM, TryAlloc(&a));
  munmap(base, 6 * kPage);
  munmap(base + 7 * kPage, kPage);
}

// A BO mapped through the render node is VM_IO | VM_PFNMAP: not user pages (hmm_vma_walk_test).
TEST_F(MemoryRulesTest, hmm_vma_walk_test_ADeviceMappingIsNotUserMemory) {
  auto a = AllocArgs(0, kVa, kPage, kVram | KFD_IOC_ALLOC_MEM_FLAGS_PUBLIC);
  ASSERT_EQ(0, TryAlloc(&a));
  int err = 0;
  void* p = MapCpu(render_[0], a.mmap_offset, kPage, &err);
  ASSERT_NE(MAP_FAILED, p) << strerror(err);
  const uint64_t addr = reinterpret_cast<uint64_t>(p);
  auto u = AllocArgs(1, addr, kPage,
                     KFD_IOC_ALLOC_MEM_FLAGS_USERPTR | KFD_IOC_ALLOC_MEM_FLAGS_WRITABLE, addr);
  EXPECT_EQ(EFAULT, TryAlloc(&u));
  EXPECT_EQ(0, backend_->Munmap(p, kPage));
  EXPECT_EQ(0, Free(a.handle));
}

// The pages are got at ALLOC only (init_user_pages): MAP never looks at the range again.
TEST_F(MemoryRulesTest, init_user_pages_MapDoesNotRecheckTheRange) {
  auto* p = static_cast<uint8_t*>(
      mmap(nullptr, kPage, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
  ASSERT_NE(MAP_FAILED, p);
  const uint64_t addr = reinterpret_cast<uint64_t>(p);
  auto a = AllocArgs(0, addr, kPage, KFD_IOC_ALLOC_MEM_FLAGS_USERPTR |
                                         KFD_IOC_ALLOC_MEM_FLAGS_WRITABLE, addr);
  ASSERT_EQ(0, TryAlloc(&a));
  ASSERT_EQ(0, mprotect(p, kPage, PROT_READ));
  uint32_t n = 0;
  EXPECT_EQ(0, MapErr(a.handle, {gpus_[0]}, &n));
  EXPECT_EQ(1u, n);
  n = 0;
  EXPECT_EQ(0, UnmapErr(a.handle, {gpus_[0]}, &n));
  EXPECT_EQ(0, Free(a.handle));
  munmap(p, kPage);
}

// ---- §4.3 AQL_QUEUE_MEM: two attachments, the upper half mapped first ---------------------------

// amdgpu_amdkfd_gpuvm_map_memory_to_gpu walks mem->attachments (kfd_mem_attach list_adds the upper
// half last, so it comes first) and stops at the first failure; FREE refuses while
// mapped_to_gpu_memory > 0; UNMAP (reserve_bo_and_cond_vms, BO_VM_MAPPED) unmaps what is mapped.
TEST_F(MemoryRulesTest, amdgpu_amdkfd_gpuvm_map_memory_to_gpu_AqlUpperHalfStaysMapped) {
  const uint64_t v = kVa + 16 * kMiB;
  const uint64_t blocker = Alloc(0, v, kPage, kGtt);
  uint32_t n = 0;
  ASSERT_EQ(0, MapErr(blocker, {gpus_[0]}, &n));
  // AQL queue memory of 16 KiB: two 8 KiB halves, lower [v - 4K, v + 4K) overlaps the blocker.
  const uint64_t aql = Alloc(0, v - kPage, 4 * kPage, kGtt | KFD_IOC_ALLOC_MEM_FLAGS_AQL_QUEUE_MEM);
  n = 0;
  EXPECT_EQ(EINVAL, MapErr(aql, {gpus_[0]}, &n));
  EXPECT_EQ(0u, n);  // that GPU is not counted
  EXPECT_TRUE(MappedAt(0, v + kPage));        // upper half
  EXPECT_TRUE(MappedAt(0, v + 3 * kPage - 1));
  EXPECT_FALSE(MappedAt(0, v - kPage));       // lower half: not mapped
  EXPECT_EQ(-1, Free(aql));
  EXPECT_EQ(EBUSY, errno);
  // A retry maps nothing twice and fails the same way.
  n = 0;
  EXPECT_EQ(EINVAL, MapErr(aql, {gpus_[0]}, &n));
  // UNMAP of that GPU succeeds and takes the upper half away; a second one has nothing left.
  n = 0;
  EXPECT_EQ(0, UnmapErr(aql, {gpus_[0]}, &n));
  EXPECT_EQ(1u, n);
  EXPECT_FALSE(MappedAt(0, v + kPage));
  n = 0;
  EXPECT_EQ(EINVAL, UnmapErr(aql, {gpus_[0]}, &n));
  // Once the conflict is gone a MAP maps both halves.
  n = 0;
  ASSERT_EQ(0, UnmapErr(blocker, {gpus_[0]}, &n));
  ASSERT_EQ(0, Free(blocker));
  n = 0;
  EXPECT_EQ(0, MapErr(aql, {gpus_[0]}, &n));
  EXPECT_TRUE(MappedAt(0, v - kPage));
  EXPECT_TRUE(MappedAt(0, v + kPage));
  n = 0;
  EXPECT_EQ(0, UnmapErr(aql, {gpus_[0]}, &n));
  EXPECT_EQ(0, Free(aql));
}

// The half-mapped state, then the lower half's conflict resolved while the upper half is mapped:
// the retry maps only the lower half (is_mapped entries are skipped).
TEST_F(MemoryRulesTest, amdgpu_amdkfd_gpuvm_map_memory_to_gpu_AqlRetryMapsTheLowerHalfOnly) {
  const uint64_t v = kVa + 32 * kMiB;
  const uint64_t blocker = Alloc(0, v, kPage, kGtt);
  uint32_t n = 0;
  ASSERT_EQ(0, MapErr(blocker, {gpus_[0]}, &n));
  const uint64_t aql = Alloc(0, v - kPage, 4 * kPage, kGtt | KFD_IOC_ALLOC_MEM_FLAGS_AQL_QUEUE_MEM);
  n = 0;
  ASSERT_EQ(EINVAL, MapErr(aql, {gpus_[0], gpus_[1]}, &n));
  EXPECT_EQ(0u, n);
  EXPECT_FALSE(MappedAt(1, v + kPage));  // the walk stopped at GPU 0
  n = 0;
  ASSERT_EQ(0, UnmapErr(blocker, {gpus_[0]}, &n));
  n = 0;
  EXPECT_EQ(0, MapErr(aql, {gpus_[0], gpus_[1]}, &n));
  EXPECT_EQ(2u, n);
  for (size_t g : {0, 1}) {
    EXPECT_TRUE(MappedAt(g, v - kPage));
    EXPECT_TRUE(MappedAt(g, v + 2 * kPage));
  }
  n = 0;
  EXPECT_EQ(0, UnmapErr(aql, {gpus_[0], gpus_[1]}, &n));
  EXPECT_EQ(0, Free(aql));
  EXPECT_EQ(0, Free(blocker));
}

// ---- §4.3 step 4: the wait holds the process mutex on 6.1.y -------------------------------------

class MemoryLockTest : public MemoryRulesTest {
 protected:
  void SetUp() override {
    MemoryRulesTest::SetUp();
    if (!backend_) return;
    // Every page-table job takes this much engine time: 200 ms in-process, or the 50 ms of the
    // interposer run that provides it (conformance_preload_signals).
    for (uint64_t ns : {200'000'000ull, 50'000'000ull}) {
      if (backend_->SetDmaLatency(ns)) {
        job_ns_ = ns;
        return;
      }
    }
    GTEST_SKIP() << "needs slow page-table jobs";
  }
  void TearDown() override {
    if (backend_ && job_ns_ == 200'000'000ull) backend_->SetDmaLatency(0);
    MemoryRulesTest::TearDown();
  }

  uint64_t job_ns_ = 0;

  // Thread A runs `a` (a MAP or UNMAP whose wait lasts one job, job_ns_); about half a job after A
  // started, this thread runs AVAILABLE_MEMORY, which takes p->mutex (kfd_lock_pdd_by_id). With the
  // wait under the mutex, either B got the mutex before A (and A's whole call, job included, comes
  // after B: A ends ≥ one job after B ended) or B waited for A's wait (B ends ≥ one job after A
  // started). B finishing inside A's wait is what 6.1.0 allowed. Scheduling delays can only make
  // the check pass without telling, never fail it.
  template <typename F>
  void ExpectOtherIoctlWaits(F a) {
    std::atomic<uint64_t> a_start{0}, a_end{0};
    std::thread thread([&] {
      a_start.store(NowNs());
      a();
      a_end.store(NowNs());
    });
    while (a_start.load() == 0) std::this_thread::yield();
    const uint64_t target = a_start.load() + job_ns_ / 2;
    while (NowNs() < target) usleep(1000);
    kfd_ioctl_get_available_memory_args args{};
    args.gpu_id = gpus_[3];
    ASSERT_EQ(0, Raw(kfd_, AMDKFD_IOC_AVAILABLE_MEMORY, &args));
    const uint64_t b_end = NowNs();
    thread.join();
    EXPECT_TRUE(b_end >= a_start.load() + job_ns_ || a_end.load() >= b_end + job_ns_)
        << "AVAILABLE_MEMORY returned " << (b_end - a_start.load()) / 1000
        << " us after MAP/UNMAP started, which returned " << (a_end.load() - a_start.load()) / 1000
        << " us after it started";
  }
};

TEST_F(MemoryLockTest, kfd_ioctl_map_memory_to_gpu_OtherIoctlsWaitForTheWait) {
  const uint64_t h = Alloc(0, kVa, 2 * kMiB, kVram, /*check=*/false);
  ExpectOtherIoctlWaits([&] {
    uint32_t ids[] = {gpus_[0]};
    kfd_ioctl_map_memory_to_gpu_args m{};
    m.handle = h;
    m.device_ids_array_ptr = reinterpret_cast<uint64_t>(ids);
    m.n_devices = 1;
    EXPECT_EQ(0, Raw(kfd_, AMDKFD_IOC_MAP_MEMORY_TO_GPU, &m)) << strerror(errno);
  });
  ExpectOtherIoctlWaits([&] {
    uint32_t ids[] = {gpus_[0]};
    kfd_ioctl_unmap_memory_from_gpu_args m{};
    m.handle = h;
    m.device_ids_array_ptr = reinterpret_cast<uint64_t>(ids);
    m.n_devices = 1;
    EXPECT_EQ(0, Raw(kfd_, AMDKFD_IOC_UNMAP_MEMORY_FROM_GPU, &m)) << strerror(errno);
  });
  EXPECT_EQ(0, Free(h));
}

// ---- §4.6 CPU mappings through the render node (drm_gem_mmap, amdgpu_gem_object_mmap) -----------

// drm_vma_offset_exact_lookup_locked: DRM offsets from 4 GiB; a mapping must start exactly at an
// object and be no longer than it (drm_gem_mmap_obj); only the object's pages are reached.
TEST_F(MemoryRulesTest, drm_gem_mmap_OnlyAtABosExactOffsetAndSize) {
  auto a = AllocArgs(0, kVa, 64 * 1024, kVram | KFD_IOC_ALLOC_MEM_FLAGS_PUBLIC);
  auto b = AllocArgs(0, kVa + 2 * kMiB, 64 * 1024, kVram | KFD_IOC_ALLOC_MEM_FLAGS_PUBLIC);
  ASSERT_EQ(0, TryAlloc(&a));
  ASSERT_EQ(0, TryAlloc(&b));
  EXPECT_GE(a.mmap_offset, 1ull << 32);  // DRM_FILE_PAGE_OFFSET_START
  EXPECT_GE(b.mmap_offset, 1ull << 32);
  EXPECT_EQ(0u, a.mmap_offset % kPage);
  EXPECT_NE(a.mmap_offset, b.mmap_offset);
  int err = 0;
  EXPECT_EQ(MAP_FAILED, MapCpu(render_[0], a.mmap_offset + kPage, kPage, &err));
  EXPECT_EQ(EINVAL, err);  // not the start of the object
  EXPECT_EQ(MAP_FAILED, MapCpu(render_[0], a.mmap_offset, 64 * 1024 + kPage, &err));
  EXPECT_EQ(EINVAL, err);  // longer than the object
  EXPECT_EQ(MAP_FAILED, MapCpu(render_[0], 0, kPage, &err));
  EXPECT_EQ(EINVAL, err);  // no object there
  auto* pa = static_cast<uint8_t*>(MapCpu(render_[0], a.mmap_offset, 64 * 1024, &err));
  ASSERT_NE(MAP_FAILED, pa) << strerror(err);
  auto* pb = static_cast<uint8_t*>(MapCpu(render_[0], b.mmap_offset, 32 * 1024, &err));
  ASSERT_NE(MAP_FAILED, pb) << strerror(err);  // shorter is fine
  memset(pa, 0xa5, 64 * 1024);
  memset(pb, 0x5a, 32 * 1024);
  EXPECT_EQ(0xa5, pa[64 * 1024 - 1]);
  EXPECT_EQ(0x5a, pb[0]);
  EXPECT_EQ(0, backend_->Munmap(pa, 64 * 1024));
  EXPECT_EQ(0, backend_->Munmap(pb, 32 * 1024));
  EXPECT_EQ(0, Free(a.handle));
  EXPECT_EQ(0, Free(b.handle));
}

// drm_vma_node_is_allowed: only the render-node file ACQUIRE_VM bound (the same open file
// description, a dup of it included); amdgpu_gem_object_mmap: never a userptr BO.
TEST_F(MemoryRulesTest, drm_gem_mmap_OnlyTheBosFileAndNeverUserptr) {
  auto a = AllocArgs(0, kVa, kPage, kGtt);
  ASSERT_EQ(0, TryAlloc(&a));
  const int other = backend_->OpenRender(backend_->RenderMinors()[0]);
  ASSERT_GE(other, 0);
  int err = 0;
  EXPECT_EQ(MAP_FAILED, MapCpu(other, a.mmap_offset, kPage, &err));
  EXPECT_EQ(EACCES, err);
  const int dup = backend_->Dup(render_[0]);
  void* p = MapCpu(dup, a.mmap_offset, kPage, &err);
  EXPECT_NE(MAP_FAILED, p) << strerror(err);
  if (p != MAP_FAILED) backend_->Munmap(p, kPage);
  // Another GPU's render node has its own offsets: nothing of GPU 0's object is reachable there.
  EXPECT_EQ(MAP_FAILED, MapCpu(render_[1], a.mmap_offset, kPage, &err));
  EXPECT_TRUE(err == EINVAL || err == EACCES) << strerror(err);
  backend_->Close(dup);
  backend_->Close(other);
  auto* host = static_cast<uint8_t*>(
      mmap(nullptr, kPage, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
  ASSERT_NE(MAP_FAILED, host);
  const uint64_t addr = reinterpret_cast<uint64_t>(host);
  auto u = AllocArgs(0, addr, kPage,
                     KFD_IOC_ALLOC_MEM_FLAGS_USERPTR | KFD_IOC_ALLOC_MEM_FLAGS_WRITABLE, addr);
  ASSERT_EQ(0, TryAlloc(&u));
  EXPECT_GE(u.mmap_offset, 1ull << 32);  // a userptr BO has an offset too
  EXPECT_EQ(MAP_FAILED, MapCpu(render_[0], u.mmap_offset, kPage, &err));
  EXPECT_EQ(EPERM, err);
  EXPECT_EQ(0, Free(u.handle));
  EXPECT_EQ(0, Free(a.handle));
  munmap(host, kPage);
}

// ttm_bo_mmap_obj refuses copy-on-write mappings; amdgpu_gem_object_mmap lets PROT_NONE
// MAP_PRIVATE through (the thunk's mapping for debuggers).
TEST_F(MemoryRulesTest, ttm_bo_mmap_obj_NoCopyOnWriteExceptProtNone) {
  auto a = AllocArgs(0, kVa, kPage, kVram);
  ASSERT_EQ(0, TryAlloc(&a));
  int err = 0;
  EXPECT_EQ(MAP_FAILED, MapCpu(render_[0], a.mmap_offset, kPage, &err, PROT_READ, MAP_PRIVATE));
  EXPECT_EQ(EINVAL, err);
  void* p = MapCpu(render_[0], a.mmap_offset, kPage, &err, PROT_NONE, MAP_PRIVATE);
  ASSERT_NE(MAP_FAILED, p) << strerror(err);
  EXPECT_EQ(0, backend_->Munmap(p, kPage));
  EXPECT_EQ(0, Free(a.handle));
}

// The debugger's PROT_NONE MAP_PRIVATE mapping never becomes writable: amdgpu_gem_object_mmap clears
// VM_MAYWRITE, so mprotect(PROT_WRITE) is EACCES (mprotect_fixup); PROT_READ is allowed.
TEST_F(MemoryRulesTest, amdgpu_gem_object_mmap_DebuggerMappingNeverWritable) {
  auto a = AllocArgs(0, kVa, kPage, kVram);
  ASSERT_EQ(0, TryAlloc(&a));
  int err = 0;
  void* p = MapCpu(render_[0], a.mmap_offset, kPage, &err, PROT_NONE, MAP_PRIVATE);
  ASSERT_NE(MAP_FAILED, p) << strerror(err);
  errno = 0;
  EXPECT_EQ(-1, mprotect(p, kPage, PROT_READ | PROT_WRITE));
  EXPECT_EQ(EACCES, errno);
  EXPECT_EQ(0, mprotect(p, kPage, PROT_READ)) << strerror(errno);
  EXPECT_EQ(0, backend_->Munmap(p, kPage));
  EXPECT_EQ(0, Free(a.handle));
}

// do_mmap checks the open file before the driver sees the mapping: a shared writable mapping needs a
// render node open for writing, any mapping one open for reading (EACCES); a read-only file's shared
// mapping has no VM_MAYWRITE, so mprotect(PROT_WRITE) is EACCES too.
class RenderAccessModeTest : public MemoryRulesTest {
 protected:
  void SetUp() override { OpenBackend(); }
  // A render node of GPU 0 opened with `access`, its VM acquired, and a GTT BO allocated: the
  // object's offset.
  uint64_t BoThrough(int access) {
    const int fd = backend_->OpenRender(backend_->RenderMinors()[0], access);
    EXPECT_GE(fd, 0) << strerror(errno);
    render_.push_back(fd);
    kfd_ioctl_acquire_vm_args acquire{};
    acquire.drm_fd = static_cast<uint32_t>(fd);
    acquire.gpu_id = gpus_[0];
    EXPECT_EQ(0, Raw(kfd_, AMDKFD_IOC_ACQUIRE_VM, &acquire)) << strerror(errno);
    auto a = AllocArgs(0, kVa, kPage, kGtt);
    EXPECT_EQ(0, TryAlloc(&a));
    handle_ = a.handle;
    return a.mmap_offset;
  }
  void TearDown() override {
    if (handle_ != 0) {
      EXPECT_EQ(0, Free(handle_));
    }
    MemoryRulesTest::TearDown();
  }
  uint64_t handle_ = 0;
};

TEST_F(RenderAccessModeTest, do_mmap_ReadOnlyRenderNodeMapsReadOnly) {
  const uint64_t offset = BoThrough(O_RDONLY);
  int err = 0;
  EXPECT_EQ(MAP_FAILED, MapCpu(render_[0], offset, kPage, &err, PROT_READ | PROT_WRITE));
  EXPECT_EQ(EACCES, err);
  auto* p = static_cast<volatile uint8_t*>(MapCpu(render_[0], offset, kPage, &err, PROT_READ));
  ASSERT_NE(MAP_FAILED, static_cast<void*>(const_cast<uint8_t*>(p))) << strerror(err);
  EXPECT_EQ(0, p[0]);  // readable
  errno = 0;
  EXPECT_EQ(-1, mprotect(const_cast<uint8_t*>(p), kPage, PROT_READ | PROT_WRITE));
  EXPECT_EQ(EACCES, errno);
  EXPECT_EQ(0, backend_->Munmap(const_cast<uint8_t*>(p), kPage));
}

TEST_F(RenderAccessModeTest, do_mmap_WriteOnlyRenderNodeMapsNothing) {
  const uint64_t offset = BoThrough(O_WRONLY);
  int err = 0;
  EXPECT_EQ(MAP_FAILED, MapCpu(render_[0], offset, kPage, &err, PROT_READ));
  EXPECT_EQ(EACCES, err);
  EXPECT_EQ(MAP_FAILED, MapCpu(render_[0], offset, kPage, &err, PROT_WRITE));
  EXPECT_EQ(EACCES, err);
}

// The VMA holds a reference (drm_gem_mmap_obj's get, drm_gem_vm_close's put): after FREE the
// memory, its contents and its charge stay until the last munmap (amdgpu_amdkfd_release_notify),
// and FREE revoked the file's access (drm_vma_node_revoke).
TEST_F(MemoryRulesTest, drm_gem_vm_close_MemoryLivesUntilTheLastMunmap) {
  const uint64_t a0 = Available(0);
  auto a = AllocArgs(0, kVa, 4 * k2MiB, kVram | KFD_IOC_ALLOC_MEM_FLAGS_PUBLIC);
  ASSERT_EQ(0, TryAlloc(&a));
  int err = 0;
  auto* p = static_cast<uint8_t*>(MapCpu(render_[0], a.mmap_offset, 4 * k2MiB, &err));
  ASSERT_NE(MAP_FAILED, p) << strerror(err);
  memset(p, 0x77, 4 * k2MiB);
  ASSERT_EQ(0, Free(a.handle));
  EXPECT_EQ(a0 - 4 * k2MiB, Available(0));  // still charged
  EXPECT_EQ(0x77, p[4 * k2MiB - 1]);        // still the BO's memory
  EXPECT_EQ(MAP_FAILED, MapCpu(render_[0], a.mmap_offset, kPage, &err));
  EXPECT_EQ(EACCES, err);  // revoked
  // A new BO gets other memory and another offset: nothing of it shows through the old mapping.
  auto b = AllocArgs(0, kVa + 16 * kMiB, 4 * k2MiB, kVram | KFD_IOC_ALLOC_MEM_FLAGS_PUBLIC);
  ASSERT_EQ(0, TryAlloc(&b));
  EXPECT_NE(a.mmap_offset, b.mmap_offset);
  auto* q = static_cast<uint8_t*>(MapCpu(render_[0], b.mmap_offset, 4 * k2MiB, &err));
  ASSERT_NE(MAP_FAILED, q) << strerror(err);
  memset(q, 0x11, 4 * k2MiB);
  EXPECT_EQ(0x77, p[0]);
  EXPECT_EQ(0, backend_->Munmap(q, 4 * k2MiB));
  ASSERT_EQ(0, Free(b.handle));
  // A partial munmap keeps the rest (and the reference); a moved piece keeps it too.
  EXPECT_EQ(0, backend_->Munmap(p, k2MiB));
  EXPECT_EQ(a0 - 4 * k2MiB, Available(0));
  void* dest = backend_->Mmap(nullptr, k2MiB, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  ASSERT_NE(MAP_FAILED, dest);
  void* moved = backend_->Mremap(p + 3 * k2MiB, k2MiB, k2MiB, MREMAP_MAYMOVE | MREMAP_FIXED, dest);
  ASSERT_EQ(dest, moved) << strerror(errno);
  EXPECT_EQ(0x77, static_cast<uint8_t*>(moved)[0]);
  EXPECT_EQ(0, backend_->Munmap(p + k2MiB, 2 * k2MiB));
  EXPECT_EQ(a0 - 4 * k2MiB, Available(0));  // the moved piece still holds it
  EXPECT_EQ(0, backend_->Munmap(moved, k2MiB));
  EXPECT_EQ(a0, Available(0));  // the last munmap released it
}

// ttm_bo_mmap_obj's VM_DONTEXPAND: a mapping cannot grow (vma_to_resize: EFAULT), nor be
// duplicated with MREMAP_DONTUNMAP (EINVAL); a MAP_FIXED mapping over it releases it.
TEST_F(MemoryRulesTest, ttm_bo_mmap_obj_MappingsNeverGrowAndMapFixedReleases) {
  const uint64_t a0 = Available(0);
  auto a = AllocArgs(0, kVa, 2 * kPage, kVram | KFD_IOC_ALLOC_MEM_FLAGS_PUBLIC);
  ASSERT_EQ(0, TryAlloc(&a));
  int err = 0;
  auto* p = static_cast<uint8_t*>(MapCpu(render_[0], a.mmap_offset, kPage, &err));
  ASSERT_NE(MAP_FAILED, p) << strerror(err);
  errno = 0;
  EXPECT_EQ(MAP_FAILED, backend_->Mremap(p, kPage, 2 * kPage, MREMAP_MAYMOVE, nullptr));
  EXPECT_EQ(EFAULT, errno);
  errno = 0;
  EXPECT_EQ(MAP_FAILED, backend_->Mremap(p, kPage, kPage, MREMAP_MAYMOVE | MREMAP_DONTUNMAP, nullptr));
  EXPECT_EQ(EINVAL, errno);
  ASSERT_EQ(0, Free(a.handle));
  EXPECT_EQ(a0 - k2MiB, Available(0));
  void* anon = backend_->Mmap(p, kPage, PROT_READ | PROT_WRITE,
                              MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
  ASSERT_EQ(static_cast<void*>(p), anon);
  EXPECT_EQ(0, p[0]);  // anonymous memory now, not the BO
  EXPECT_EQ(a0, Available(0));
  EXPECT_EQ(0, backend_->Munmap(anon, kPage));
}

// Debugger access to host-invisible VRAM: the thunk maps it PROT_NONE MAP_PRIVATE; amdgpu's
// vm_ops->access (amdgpu_ttm_access_memory) serves ptrace and /proc/<pid>/mem there. vkfd: reads
// reach the VRAM; writes fail loudly (EIO) — never a silent write into a private copy.
TEST_F(MemoryRulesTest, amdgpu_ttm_access_memory_DebuggerReadsVramWritesNeverVanish) {
  auto a = AllocArgs(0, kVa, kPage, kVram | KFD_IOC_ALLOC_MEM_FLAGS_PUBLIC);
  ASSERT_EQ(0, TryAlloc(&a));
  int err = 0;
  auto* rw = static_cast<uint8_t*>(MapCpu(render_[0], a.mmap_offset, kPage, &err));
  ASSERT_NE(MAP_FAILED, rw) << strerror(err);
  auto* hidden = static_cast<uint8_t*>(
      MapCpu(render_[0], a.mmap_offset, kPage, &err, PROT_NONE, MAP_PRIVATE));
  ASSERT_NE(MAP_FAILED, hidden) << strerror(err);
  memcpy(rw, "vram", 4);
  const int mem = open("/proc/self/mem", O_RDWR | O_CLOEXEC);
  ASSERT_GE(mem, 0);
  char seen[4] = {};
  ASSERT_EQ(4, pread(mem, seen, 4, static_cast<off_t>(reinterpret_cast<uintptr_t>(hidden))));
  EXPECT_EQ(0, memcmp(seen, "vram", 4));
  errno = 0;
  const ssize_t wrote = pwrite(mem, "poke", 4, static_cast<off_t>(reinterpret_cast<uintptr_t>(hidden)));
  if (wrote == 4) {
    EXPECT_EQ(0, memcmp(rw, "poke", 4)) << "the write must reach the BO's memory";
  } else {
    EXPECT_EQ(-1, wrote);
    EXPECT_EQ(EIO, errno);
    EXPECT_EQ(0, memcmp(rw, "vram", 4));
  }
  close(mem);
  EXPECT_EQ(0, backend_->Munmap(hidden, kPage));
  EXPECT_EQ(0, backend_->Munmap(rw, kPage));
  EXPECT_EQ(0, Free(a.handle));
}

}  // namespace
}  // namespace vkfd::conformance

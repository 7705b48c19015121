// Conformance of the memory ioctls with the reference kernel (../shared/reference/kfd-semantics.md §4),
// through raw ioctls only. Invariant 1 (page tables == BOs marked mapped) is checked after every ioctl.
#include <errno.h>
#include <gtest/gtest.h>
#include <linux/kfd_ioctl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cinttypes>
#include <cstring>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "testing/thread_signal_timer.h"
#include "uapi/device_test.h"

namespace vkfd::conformance {
namespace {

class ConformanceTest : public DeviceTest {
 protected:
  int Map(uint64_t handle, std::vector<uint32_t> ids, uint32_t* n_success,
          unsigned long cmd = AMDKFD_IOC_MAP_MEMORY_TO_GPU) {
    kfd_ioctl_map_memory_to_gpu_args args{};
    args.handle = handle;
    args.device_ids_array_ptr = reinterpret_cast<uint64_t>(ids.data());
    args.n_devices = static_cast<uint32_t>(ids.size());
    args.n_success = *n_success;
    int r = Call(cmd, &args);
    const int saved = errno;
    *n_success = args.n_success;
    errno = saved;
    return r;
  }
  int Unmap(uint64_t handle, std::vector<uint32_t> ids, uint32_t* n_success) {
    return Map(handle, std::move(ids), n_success, AMDKFD_IOC_UNMAP_MEMORY_FROM_GPU);
  }
};

TEST_F(ConformanceTest, GetVersionIs1_11) {
  kfd_ioctl_get_version_args v{};
  ASSERT_EQ(0, Call(AMDKFD_IOC_GET_VERSION, &v));
  EXPECT_EQ(1u, v.major_version);
  EXPECT_EQ(11u, v.minor_version);
}

TEST_F(ConformanceTest, UnknownCommandNumbers) {
  char buf[64] = {};
  // kfd_ioctl (6.1.y): every number outside the table is -ENOTTY (6.1.0 said -ENOTTY).
  EXPECT_EQ(-1, Call(_IOWR('K', 0x50, char[16]), buf));
  EXPECT_EQ(ENOTTY, errno);
  EXPECT_EQ(-1, Call(_IOWR('K', 0x00, char[16]), buf));
  EXPECT_EQ(ENOTTY, errno);
  // ROCm 5.2's out-of-tree DBG_TRAP: "not supported".
  EXPECT_EQ(-1, Call(_IOWR('K', 0x82, char[16]), buf));
  EXPECT_EQ(ENOTTY, errno);
}

TEST_F(ConformanceTest, TypeAndDirectionBitsAreIgnoredSizeBitsAreNot) {
  // kfd_ioctl uses only the number and the user's size; direction comes from the kernel's table.
  kfd_ioctl_get_version_args v{};
  ASSERT_EQ(0, Call(_IOC(_IOC_NONE, 'Z', 0x01, sizeof(v)), &v));
  EXPECT_EQ(1u, v.major_version);
  // A 4-byte user struct gets only major_version back; the rest of the buffer is untouched.
  uint32_t small[2] = {0xdeadbeef, 0xdeadbeef};
  ASSERT_EQ(0, Call(_IOR('K', 0x01, uint32_t), small));
  EXPECT_EQ(1u, small[0]);
  EXPECT_EQ(0xdeadbeefu, small[1]);
}

TEST_F(ConformanceTest, BadArgumentPointerIsEfault) {
  EXPECT_EQ(-1, Call(AMDKFD_IOC_GET_VERSION, nullptr));
  EXPECT_EQ(EFAULT, errno);
  EXPECT_EQ(-1, Call(AMDKFD_IOC_MAP_MEMORY_TO_GPU, reinterpret_cast<void*>(16)));
  EXPECT_EQ(EFAULT, errno);
}

TEST_F(ConformanceTest, MapResumesAtNSuccessAfterABogusDevice) {
  const uint64_t h = Alloc(0, kVa, 2 * kMiB);
  std::vector<uint32_t> ids = AllIds();
  ids[2] = 0xdead;  // index 2 is bogus
  uint32_t n = 0;
  EXPECT_EQ(-1, Map(h, ids, &n));
  EXPECT_EQ(EINVAL, errno);
  EXPECT_EQ(2u, n);
  EXPECT_TRUE(MappedAt(0, kVa));
  EXPECT_TRUE(MappedAt(1, kVa));
  EXPECT_FALSE(MappedAt(2, kVa));
  EXPECT_FALSE(MappedAt(3, kVa));
  // Retry from n_success with the list fixed.
  ids[2] = gpus_[2];
  EXPECT_EQ(0, Map(h, ids, &n));
  EXPECT_EQ(4u, n);
  for (size_t g = 0; g < 4; ++g) EXPECT_TRUE(MappedAt(g, kVa)) << g;
}

TEST_F(ConformanceTest, RepeatedMapIsANoOp) {
  const uint64_t h = Alloc(0, kVa, 4 * kMiB);
  uint32_t n = 0;
  ASSERT_EQ(0, Map(h, AllIds(), &n));
  const std::string before = backend_->DumpVm(gpus_[1]);
  n = 0;
  EXPECT_EQ(0, Map(h, AllIds(), &n));
  EXPECT_EQ(4u, n);
  EXPECT_EQ(before, backend_->DumpVm(gpus_[1]));
  // A duplicated id in one list is also fine for MAP.
  n = 0;
  EXPECT_EQ(0, Map(h, {gpus_[0], gpus_[0]}, &n));
  EXPECT_EQ(2u, n);
}

TEST_F(ConformanceTest, UnmapIsNotIdempotent) {
  const uint64_t h = Alloc(0, kVa, 2 * kMiB);
  uint32_t n = 0;
  ASSERT_EQ(0, Map(h, {gpus_[0], gpus_[1]}, &n));
  n = 0;
  EXPECT_EQ(-1, Unmap(h, {gpus_[0], gpus_[2], gpus_[1]}, &n));
  EXPECT_EQ(EINVAL, errno);
  EXPECT_EQ(1u, n);  // GPU 0 done, GPU 2 was never mapped
  EXPECT_FALSE(MappedAt(0, kVa));
  EXPECT_TRUE(MappedAt(1, kVa));
  // A restart must begin at n_success: from 0 it fails on the GPU already unmapped.
  n = 0;
  EXPECT_EQ(-1, Unmap(h, {gpus_[0], gpus_[1]}, &n));
  EXPECT_EQ(EINVAL, errno);
  EXPECT_EQ(0u, n);
  n = 1;
  EXPECT_EQ(0, Unmap(h, {gpus_[0], gpus_[1]}, &n));
  EXPECT_EQ(2u, n);
  EXPECT_FALSE(MappedAt(1, kVa));
}

TEST_F(ConformanceTest, FreeWhileMappedIsBusyAndKeepsTheHandle) {
  const uint64_t h = Alloc(1, kVa, 2 * kMiB);
  uint32_t n = 0;
  ASSERT_EQ(0, Map(h, {gpus_[1]}, &n));
  EXPECT_EQ(-1, Free(h));
  EXPECT_EQ(EBUSY, errno);
  n = 0;
  ASSERT_EQ(0, Unmap(h, {gpus_[1]}, &n));
  EXPECT_EQ(0, Free(h));
  EXPECT_EQ(-1, Free(h));
  EXPECT_EQ(EINVAL, errno);
}

TEST_F(ConformanceTest, OverlapIsPerVm) {
  const uint64_t a = Alloc(0, kVa, 4 * kMiB);
  const uint64_t b = Alloc(0, kVa + 2 * kMiB, 4 * kMiB);  // overlaps a's second half
  uint32_t n = 0;
  ASSERT_EQ(0, Map(a, {gpus_[0]}, &n));
  n = 0;
  EXPECT_EQ(-1, Map(b, {gpus_[0]}, &n));
  EXPECT_EQ(EINVAL, errno);
  EXPECT_EQ(0u, n);
  // GPU 1's VM has nothing there: it accepts b.
  n = 0;
  EXPECT_EQ(0, Map(b, {gpus_[1]}, &n));
  EXPECT_TRUE(MappedAt(1, kVa + 5 * kMiB));
  EXPECT_FALSE(MappedAt(0, kVa + 5 * kMiB));
}

TEST_F(ConformanceTest, MisalignedVaFailsAtMapNotAlloc) {
  const uint64_t h = Alloc(0, kVa + 0x800, 2 * kMiB);
  uint32_t n = 0;
  EXPECT_EQ(-1, Map(h, {gpus_[0]}, &n));
  EXPECT_EQ(EINVAL, errno);
  EXPECT_EQ(0u, n);
  // VA zero and beyond the 48-bit space, likewise.
  const uint64_t z = Alloc(0, 0, 2 * kMiB);
  EXPECT_EQ(-1, Map(z, {gpus_[0]}, &n));
  EXPECT_EQ(EINVAL, errno);
  const uint64_t high = Alloc(0, (1ull << 48) - kMiB, 2 * kMiB);
  EXPECT_EQ(-1, Map(high, {gpus_[0]}, &n));
  EXPECT_EQ(EINVAL, errno);
}

TEST_F(ConformanceTest, MapUnknownHandleIsEnomem) {
  uint32_t n = 0;
  EXPECT_EQ(-1, Map((uint64_t{gpus_[0]} << 32) | 77, {gpus_[0]}, &n));
  EXPECT_EQ(ENOMEM, errno);
  EXPECT_EQ(-1, Map((uint64_t{0xbeef} << 32) | 1, {gpus_[0]}, &n));
  EXPECT_EQ(EINVAL, errno);  // the handle's GPU is unknown
  n = 0;
  EXPECT_EQ(-1, Unmap((uint64_t{gpus_[0]} << 32) | 77, {gpus_[0]}, &n));
  EXPECT_EQ(ENOMEM, errno);
}

TEST_F(ConformanceTest, ArgumentChecksBeforeAnyWork) {
  const uint64_t h = Alloc(0, kVa, 2 * kMiB);
  uint32_t n = 0;
  EXPECT_EQ(-1, Map(h, {}, &n));
  EXPECT_EQ(EINVAL, errno);
  n = 3;
  EXPECT_EQ(-1, Map(h, {gpus_[0], gpus_[1]}, &n));
  EXPECT_EQ(EINVAL, errno);
  EXPECT_EQ(3u, n);  // copied back unchanged
  kfd_ioctl_map_memory_to_gpu_args args{};
  args.handle = h;
  args.device_ids_array_ptr = 8;  // bad pointer
  args.n_devices = 2;
  EXPECT_EQ(-1, Call(AMDKFD_IOC_MAP_MEMORY_TO_GPU, &args));
  EXPECT_EQ(EFAULT, errno);
  EXPECT_FALSE(MappedAt(0, kVa));
  args.n_devices = 0x7fffffff;  // the kernel cannot even allocate the list
  EXPECT_EQ(-1, Call(AMDKFD_IOC_MAP_MEMORY_TO_GPU, &args));
  EXPECT_EQ(ENOMEM, errno);
}

TEST_F(ConformanceTest, VramExhaustionAndAvailableMemory) {
  const uint64_t baseline = Available(2);
  EXPECT_GT(baseline, 60 * kGiB);
  EXPECT_EQ(0u, baseline % (2 * kMiB));
  // Exactly what is reported fits; one 2 MiB step more does not (the limit itself counts pages:
  // what is left below one step, memory_rules_test.cc checks).
  kfd_ioctl_alloc_memory_of_gpu_args args{};
  args.va_addr = kVa;
  args.size = baseline + 2 * kMiB;
  args.gpu_id = gpus_[2];
  args.flags = kVram;
  EXPECT_EQ(-1, Call(AMDKFD_IOC_ALLOC_MEMORY_OF_GPU, &args));
  EXPECT_EQ(ENOMEM, errno);
  const uint64_t big = Alloc(2, kVa, baseline);
  EXPECT_EQ(0u, Available(2));
  args.size = 2 * kMiB;
  EXPECT_EQ(-1, Call(AMDKFD_IOC_ALLOC_MEMORY_OF_GPU, &args));
  EXPECT_EQ(ENOMEM, errno);
  // AVAILABLE_MEMORY counts small allocations in 2 MiB steps.
  ASSERT_EQ(0, Free(big));
  EXPECT_EQ(baseline, Available(2));
  const uint64_t small = Alloc(2, kVa, 4096);
  EXPECT_EQ(baseline - 2 * kMiB, Available(2));
  ASSERT_EQ(0, Free(small));
  EXPECT_EQ(baseline, Available(2));
  // GTT does not count against VRAM.
  const uint64_t gtt = Alloc(2, kVa, 64 * kMiB, kGtt);
  EXPECT_EQ(baseline, Available(2));
  ASSERT_EQ(0, Free(gtt));
  kfd_ioctl_get_available_memory_args bad{};
  bad.gpu_id = 0x4242;
  EXPECT_EQ(-1, Call(AMDKFD_IOC_AVAILABLE_MEMORY, &bad));
  EXPECT_EQ(EINVAL, errno);
}

TEST_F(ConformanceTest, AllocArgumentErrors) {
  kfd_ioctl_alloc_memory_of_gpu_args a{};
  a.va_addr = kVa;
  a.gpu_id = gpus_[0];
  a.flags = kVram;
  a.size = 0;
  EXPECT_EQ(-1, Call(AMDKFD_IOC_ALLOC_MEMORY_OF_GPU, &a));
  EXPECT_EQ(EINVAL, errno);
  a.size = 4096;
  a.gpu_id = 0x4242;
  EXPECT_EQ(-1, Call(AMDKFD_IOC_ALLOC_MEMORY_OF_GPU, &a));
  EXPECT_EQ(EINVAL, errno);
  a.gpu_id = gpus_[0];
  a.flags = KFD_IOC_ALLOC_MEM_FLAGS_WRITABLE;  // no placement
  EXPECT_EQ(-1, Call(AMDKFD_IOC_ALLOC_MEMORY_OF_GPU, &a));
  EXPECT_EQ(EINVAL, errno);
  a.flags = KFD_IOC_ALLOC_MEM_FLAGS_USERPTR;  // no CPU address
  a.mmap_offset = 0;
  EXPECT_EQ(-1, Call(AMDKFD_IOC_ALLOC_MEMORY_OF_GPU, &a));
  EXPECT_EQ(EINVAL, errno);
  a.flags = KFD_IOC_ALLOC_MEM_FLAGS_USERPTR;
  a.mmap_offset = 0x10000;  // not mapped in this process
  EXPECT_EQ(-1, Call(AMDKFD_IOC_ALLOC_MEMORY_OF_GPU, &a));
  EXPECT_EQ(EFAULT, errno);
  a.flags = KFD_IOC_ALLOC_MEM_FLAGS_DOORBELL;
  a.size = 4096;  // must be the process doorbell slice
  EXPECT_EQ(-1, Call(AMDKFD_IOC_ALLOC_MEMORY_OF_GPU, &a));
  EXPECT_EQ(EINVAL, errno);
  a.flags = KFD_IOC_ALLOC_MEM_FLAGS_MMIO_REMAP;
  a.size = 8192;  // must be one page
  EXPECT_EQ(-1, Call(AMDKFD_IOC_ALLOC_MEMORY_OF_GPU, &a));
  EXPECT_EQ(EINVAL, errno);
  a.size = 4096;
  EXPECT_EQ(0, Call(AMDKFD_IOC_ALLOC_MEMORY_OF_GPU, &a));
  EXPECT_EQ(uint64_t{gpus_[0]} << 46, a.mmap_offset);  // KFD_MMAP_TYPE_MMIO | gpu_id
}

TEST_F(ConformanceTest, HandlesAreGpuIdAndLowestFreeIdr) {
  const uint64_t h0 = Alloc(3, kVa, 4096);
  const uint64_t h1 = Alloc(3, kVa + kMiB, 4096);
  EXPECT_EQ(uint64_t{gpus_[3]} << 32, h0);
  EXPECT_EQ((uint64_t{gpus_[3]} << 32) + 1, h1);
  ASSERT_EQ(0, Free(h0));
  EXPECT_EQ(h0, Alloc(3, kVa, 4096));
}

TEST_F(ConformanceTest, UserptrGttAndAqlMappings) {
  const size_t len = 3 * 4096;
  void* host = mmap(nullptr, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  ASSERT_NE(MAP_FAILED, host);
  kfd_ioctl_alloc_memory_of_gpu_args a{};
  a.va_addr = reinterpret_cast<uint64_t>(host);
  a.size = len;
  a.gpu_id = gpus_[0];
  a.flags = KFD_IOC_ALLOC_MEM_FLAGS_USERPTR | KFD_IOC_ALLOC_MEM_FLAGS_WRITABLE;
  a.mmap_offset = reinterpret_cast<uint64_t>(host);
  ASSERT_EQ(0, Call(AMDKFD_IOC_ALLOC_MEMORY_OF_GPU, &a));
  uint32_t n = 0;
  ASSERT_EQ(0, Map(a.handle, AllIds(), &n));
  for (size_t g = 0; g < gpus_.size(); ++g) {
    auto ranges = ParseDump(backend_->DumpVm(gpus_[g]));
    bool found = false;
    for (auto& r : ranges) {
      if (r.start == a.va_addr) {
        EXPECT_EQ(a.va_addr + len, r.end);
        EXPECT_EQ("RW-S", r.flags);
        found = true;
      }
    }
    EXPECT_TRUE(found) << g;
  }
  // AQL queue memory: mapped twice back to back over the whole requested span.
  const uint64_t aql = Alloc(1, kVa, 2 * 4096,
                             kGtt | KFD_IOC_ALLOC_MEM_FLAGS_AQL_QUEUE_MEM |
                                 KFD_IOC_ALLOC_MEM_FLAGS_EXECUTABLE);
  n = 0;
  ASSERT_EQ(0, Map(aql, {gpus_[1]}, &n));
  EXPECT_TRUE(MappedAt(1, kVa));
  EXPECT_TRUE(MappedAt(1, kVa + 4096));
  EXPECT_FALSE(MappedAt(1, kVa + 8192));
  n = 0;
  ASSERT_EQ(0, Unmap(a.handle, AllIds(), &n));
  ASSERT_EQ(0, Free(a.handle));
  munmap(host, len);
}

TEST_F(ConformanceTest, FlagsInTheInspectionView) {
  Alloc(0, kVa, 2 * kMiB, KFD_IOC_ALLOC_MEM_FLAGS_VRAM);  // read-only, not executable
  const uint64_t h = Alloc(0, kVa, 2 * kMiB, KFD_IOC_ALLOC_MEM_FLAGS_VRAM);
  (void)h;
  const uint64_t rw = Alloc(0, kVa + 4 * kMiB, 8192, kVram);
  uint32_t n = 0;
  ASSERT_EQ(0, Map(rw, {gpus_[0], gpus_[1]}, &n));
  bool local = false, peer = false;
  for (auto& r : ParseDump(backend_->DumpVm(gpus_[0]))) {
    if (r.start == kVa + 4 * kMiB) local = r.end == kVa + 4 * kMiB + 8192 && r.flags == "RWX-";
  }
  for (auto& r : ParseDump(backend_->DumpVm(gpus_[1]))) {
    if (r.start == kVa + 4 * kMiB) peer = r.flags == "RWXS";  // peer VRAM over PCIe: system bit
  }
  EXPECT_TRUE(local) << backend_->DumpVm(gpus_[0]);
  EXPECT_TRUE(peer) << backend_->DumpVm(gpus_[1]);
}

TEST_F(ConformanceTest, AcquireVmRules) {
  kfd_ioctl_acquire_vm_args a{};
  a.drm_fd = static_cast<uint32_t>(render_[0]);
  a.gpu_id = gpus_[0];
  EXPECT_EQ(0, Call(AMDKFD_IOC_ACQUIRE_VM, &a));  // same file again
  const int other = backend_->OpenRender(backend_->RenderMinors()[0]);
  a.drm_fd = static_cast<uint32_t>(other);
  EXPECT_EQ(-1, Call(AMDKFD_IOC_ACQUIRE_VM, &a));
  EXPECT_EQ(EBUSY, errno);
  a.drm_fd = 987654;
  EXPECT_EQ(-1, Call(AMDKFD_IOC_ACQUIRE_VM, &a));
  EXPECT_EQ(EINVAL, errno);
  a.drm_fd = static_cast<uint32_t>(render_[0]);
  a.gpu_id = 0x4242;
  EXPECT_EQ(-1, Call(AMDKFD_IOC_ACQUIRE_VM, &a));
  EXPECT_EQ(EINVAL, errno);
  backend_->Close(other);
}

TEST_F(ConformanceTest, AperturesAndPolicies) {
  kfd_ioctl_get_process_apertures_new_args ap{};
  ASSERT_EQ(0, Call(AMDKFD_IOC_GET_PROCESS_APERTURES_NEW, &ap));
  EXPECT_EQ(gpus_.size(), ap.num_of_nodes);
  std::vector<kfd_process_device_apertures> out(8);
  ap.kfd_process_device_apertures_ptr = reinterpret_cast<uint64_t>(out.data());
  ap.num_of_nodes = 2;
  ASSERT_EQ(0, Call(AMDKFD_IOC_GET_PROCESS_APERTURES_NEW, &ap));
  EXPECT_EQ(2u, ap.num_of_nodes);
  EXPECT_EQ(gpus_[1], out[1].gpu_id);
  EXPECT_EQ(1ull << 48, out[0].lds_base);
  EXPECT_EQ(2ull << 48, out[0].scratch_base);
  EXPECT_EQ(0x7fffffffffffull, out[0].gpuvm_limit);
  EXPECT_EQ(0u, out[2].gpu_id);  // not written
  ap.kfd_process_device_apertures_ptr = 8;
  EXPECT_EQ(-1, Call(AMDKFD_IOC_GET_PROCESS_APERTURES_NEW, &ap));
  EXPECT_EQ(EFAULT, errno);

  kfd_ioctl_set_memory_policy_args pol{};
  pol.gpu_id = gpus_[0];
  pol.default_policy = KFD_IOC_CACHE_POLICY_COHERENT;
  pol.alternate_policy = KFD_IOC_CACHE_POLICY_NONCOHERENT;
  EXPECT_EQ(0, Call(AMDKFD_IOC_SET_MEMORY_POLICY, &pol));
  // GFX9 has no APE1: 6.1 accepts any alternate aperture there (the alignment checks are CIK/VI's).
  pol.alternate_aperture_base = 0x1234;
  pol.alternate_aperture_size = 0x10;
  EXPECT_EQ(0, Call(AMDKFD_IOC_SET_MEMORY_POLICY, &pol));
  pol.default_policy = 7;
  EXPECT_EQ(-1, Call(AMDKFD_IOC_SET_MEMORY_POLICY, &pol));
  EXPECT_EQ(EINVAL, errno);

}

// A 6.1.y kernel built without CONFIG_HSA_AMD_SVM (kfd_chardev.c's stubs): the node does not
// advertise HSA_CAP_SVMAPI_SUPPORTED, SET_XNACK_MODE and SVM answer EPERM, after
// kfd_ioctl_svm_validate has checked that the user's size holds nattr attributes.
TEST_F(ConformanceTest, WithoutSvmXnackAndSvmAreEpermAndValidateComesFirst) {
  kfd_ioctl_set_xnack_mode_args x{};
  x.xnack_enabled = -1;
  EXPECT_EQ(-1, Call(AMDKFD_IOC_SET_XNACK_MODE, &x));
  EXPECT_EQ(EPERM, errno);
  x.xnack_enabled = 1;
  EXPECT_EQ(-1, Call(AMDKFD_IOC_SET_XNACK_MODE, &x));
  EXPECT_EQ(EPERM, errno);

  // The header and two attributes, as libhsakmt lays them out.
  constexpr size_t kBytes = sizeof(kfd_ioctl_svm_args) + 2 * sizeof(kfd_ioctl_svm_attribute);
  alignas(kfd_ioctl_svm_args) unsigned char buffer[kBytes] = {};
  auto* svm = reinterpret_cast<kfd_ioctl_svm_args*>(buffer);
  svm->start_addr = 0x7f0000000000;
  svm->size = 0x1000;
  svm->op = KFD_IOCTL_SVM_OP_GET_ATTR;
  svm->nattr = 2;
  // The command's size holds the header only: two attributes do not fit.
  EXPECT_EQ(-1, Call(AMDKFD_IOC_SVM, svm));
  EXPECT_EQ(EINVAL, errno);
  // With the size of header and attributes, as libhsakmt builds the command, the stub answers.
  const unsigned long sized = _IOC(_IOC_READ | _IOC_WRITE, 'K', _IOC_NR(AMDKFD_IOC_SVM), kBytes);
  EXPECT_EQ(-1, Call(sized, svm));
  EXPECT_EQ(EPERM, errno);
  svm->nattr = 0;
  EXPECT_EQ(-1, Call(AMDKFD_IOC_SVM, svm));
  EXPECT_EQ(EPERM, errno);
}

TEST_F(ConformanceTest, AForkedChildGetsEbadf) {
  pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    kfd_ioctl_get_version_args v{};
    const int r = backend_->Ioctl(kfd_, AMDKFD_IOC_GET_VERSION, &v);
    _exit(r == -1 && errno == EBADF ? 0 : 1);
  }
  int status = 0;
  ASSERT_EQ(child, waitpid(child, &status, 0));
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

// Without ACQUIRE_VM nothing can be allocated or mapped on a GPU.
class NoVmTest : public ConformanceTest {
 protected:
  std::string Topology() const override { return "mi210x2"; }
  void SetUp() override { OpenBackend(); }
};

TEST_F(NoVmTest, BindingFailsWithEnodevOrEsrch) {
  kfd_ioctl_alloc_memory_of_gpu_args a{};
  a.va_addr = kVa;
  a.size = 4096;
  a.gpu_id = gpus_[0];
  a.flags = kVram;
  EXPECT_EQ(-1, Call(AMDKFD_IOC_ALLOC_MEMORY_OF_GPU, &a));
  EXPECT_EQ(ENODEV, errno);
  kfd_ioctl_set_memory_policy_args pol{};
  pol.gpu_id = gpus_[0];
  EXPECT_EQ(-1, Call(AMDKFD_IOC_SET_MEMORY_POLICY, &pol));
  EXPECT_EQ(ESRCH, errno);
  // AVAILABLE_MEMORY needs no VM.
  kfd_ioctl_get_available_memory_args av{};
  av.gpu_id = gpus_[1];
  EXPECT_EQ(0, Call(AMDKFD_IOC_AVAILABLE_MEMORY, &av));
}

class SmallBarTest : public ConformanceTest {
 protected:
  std::string Topology() const override { return "small-bar"; }
};

TEST_F(SmallBarTest, PeerVramWithoutPeerAccessIsEinval) {
  ASSERT_FALSE(backend_->PeerAccessible(1, 0));
  const uint64_t h = Alloc(0, kVa, 2 * kMiB);
  uint32_t n = 0;
  EXPECT_EQ(-1, Map(h, {gpus_[0], gpus_[1]}, &n));
  EXPECT_EQ(EINVAL, errno);
  EXPECT_EQ(1u, n);
  EXPECT_TRUE(MappedAt(0, kVa));
  EXPECT_FALSE(MappedAt(1, kVa));
  // GTT is system memory: every GPU may map it.
  const uint64_t g = Alloc(0, kVa + 64 * kMiB, 2 * kMiB, kGtt);
  n = 0;
  EXPECT_EQ(0, Map(g, {gpus_[0], gpus_[1]}, &n));
  // PUBLIC VRAM cannot be allocated on a small BAR.
  kfd_ioctl_alloc_memory_of_gpu_args a{};
  a.va_addr = kVa + 128 * kMiB;
  a.size = 4096;
  a.gpu_id = gpus_[1];
  a.flags = kVram | KFD_IOC_ALLOC_MEM_FLAGS_PUBLIC;
  EXPECT_EQ(-1, Call(AMDKFD_IOC_ALLOC_MEMORY_OF_GPU, &a));
  EXPECT_EQ(EINVAL, errno);
}

class HiveTest : public ConformanceTest {
 protected:
  std::string Topology() const override { return "mi250x8"; }
};

TEST_F(HiveTest, PeerVramInAHiveIsReachedWithoutTheSystemBit) {
  const uint64_t h = Alloc(3, kVa, 2 * kMiB);
  uint32_t n = 0;
  ASSERT_EQ(0, Map(h, AllIds(), &n));
  EXPECT_EQ(8u, n);
  for (size_t g = 0; g < 8; ++g) {
    auto ranges = ParseDump(backend_->DumpVm(gpus_[g]));
    bool found = false;
    for (auto& r : ranges) {
      if (r.start == kVa) found = r.flags == "RWX-";
    }
    EXPECT_TRUE(found) << g << ": " << backend_->DumpVm(gpus_[g]);
  }
}

// ---------------------------------------------------------------------------------------------------
// Real signals during the page-table wait.

using testing::ThreadSignalTimer;

class SignalTest : public ConformanceTest {
 protected:
  void InstallHandler(bool restart) { timer_ = std::make_unique<ThreadSignalTimer>(SIGRTMIN, restart); }
  void Arm(long first_ns, long interval_ns) { timer_->Arm(first_ns, interval_ns); }
  int signals() const { return timer_->count(); }
  void TearDown() override {
    if (!backend_) return;
    timer_.reset();
    backend_->SetDmaLatency(0);
    ConformanceTest::TearDown();
  }
  std::unique_ptr<ThreadSignalTimer> timer_;
};

TEST_F(SignalTest, WithoutSaRestartTheWaitReturnsEintrAndTheRetryOnlyWaits) {
  if (!backend_->SetDmaLatency(50'000'000)) GTEST_SKIP() << "backend has no timing model";
  InstallHandler(/*restart=*/false);
  const uint64_t h = Alloc(0, kVa, 2 * kMiB);
  kfd_ioctl_map_memory_to_gpu_args args{};
  std::vector<uint32_t> ids = AllIds();
  args.handle = h;
  args.device_ids_array_ptr = reinterpret_cast<uint64_t>(ids.data());
  args.n_devices = static_cast<uint32_t>(ids.size());
  // 10 ms into a wait of >= 50 ms per GPU, and every 10 ms after, so that one lands in the wait even
  // when the thread is slow to get there.
  Arm(10'000'000, 10'000'000);
  const int r = backend_->Ioctl(kfd_, AMDKFD_IOC_MAP_MEMORY_TO_GPU, &args);
  const int err = errno;
  Arm(0, 0);
  EXPECT_EQ(-1, r);
  EXPECT_EQ(EINTR, err);
  EXPECT_GE(signals(), 1);
  EXPECT_EQ(ids.size(), args.n_success);  // everything was dispatched
  // The retry with the same struct maps nothing again and completes.
  int retries = 0;
  while (backend_->Ioctl(kfd_, AMDKFD_IOC_MAP_MEMORY_TO_GPU, &args) != 0) {
    ASSERT_EQ(EINTR, errno);
    ASSERT_LT(++retries, 100);
  }
  EXPECT_EQ(ids.size(), args.n_success);
  EXPECT_EQ("", backend_->CheckInvariant());
  for (size_t g = 0; g < ids.size(); ++g) EXPECT_TRUE(MappedAt(g, kVa));
}

TEST_F(SignalTest, WithSaRestartTheCallerNeverSeesTheSignal) {
  if (!backend_->SetDmaLatency(50'000'000)) GTEST_SKIP() << "backend has no timing model";
  InstallHandler(/*restart=*/true);
  const uint64_t h = Alloc(0, kVa, 2 * kMiB);
  std::vector<uint32_t> ids = AllIds();
  kfd_ioctl_map_memory_to_gpu_args args{};
  args.handle = h;
  args.device_ids_array_ptr = reinterpret_cast<uint64_t>(ids.data());
  args.n_devices = static_cast<uint32_t>(ids.size());
  Arm(2'000'000, 2'000'000);  // every 2 ms
  EXPECT_EQ(0, backend_->Ioctl(kfd_, AMDKFD_IOC_MAP_MEMORY_TO_GPU, &args)) << strerror(errno);
  Arm(0, 0);
  // Signals did land during the wait. How many is the host's business: a loaded machine or
  // ThreadSanitizer's deferred delivery coalesces the periodic signal, so one is all that can be
  // asserted (the wait lasts 50 ms, the first expiry comes after 2 ms).
  EXPECT_GT(signals(), 0);
  EXPECT_EQ(ids.size(), args.n_success);
  args.n_success = 0;
  Arm(2'000'000, 2'000'000);
  EXPECT_EQ(0, backend_->Ioctl(kfd_, AMDKFD_IOC_UNMAP_MEMORY_FROM_GPU, &args)) << strerror(errno);
  Arm(0, 0);
  EXPECT_EQ("", backend_->CheckInvariant());
}

}  // namespace
}  // namespace vkfd::conformance

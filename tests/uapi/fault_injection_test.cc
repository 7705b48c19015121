// Every named fault point, armed through the spec language, fires at least once during a run of the
// memory ioctls, and each produces the error the reference driver would report there, with the
// n_success prefix and the page tables (invariant 1) intact.
#include <errno.h>
#include <gtest/gtest.h>
#include <linux/kfd_ioctl.h>
#include <signal.h>

#include <memory>
#include <set>
#include <vector>

#include "kfd/fault_points.h"
#include "uapi/fault_spec.h"
#include "uapi/backend.h"

namespace vkfd::conformance {
namespace {

constexpr uint32_t kVram = KFD_IOC_ALLOC_MEM_FLAGS_VRAM | KFD_IOC_ALLOC_MEM_FLAGS_WRITABLE;
constexpr uint64_t kVa = 0x7f0000000000ull;

class FaultInjectionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    backend_.reset(CreateBackend("mi210x4"));
    kfd_ = backend_->OpenKfd();
    ids_ = backend_->GpuIds();
    auto minors = backend_->RenderMinors();
    for (size_t i = 0; i < ids_.size(); ++i) {
      kfd_ioctl_acquire_vm_args a{};
      a.drm_fd = static_cast<uint32_t>(backend_->OpenRender(minors[i]));
      a.gpu_id = ids_[i];
      ASSERT_EQ(0, backend_->Ioctl(kfd_, AMDKFD_IOC_ACQUIRE_VM, &a));
    }
  }
  void TearDown() override { FaultInjector::Global().Reset(); }
  void Arm(const char* spec) {
    auto armed = uapi::ArmFaultInjection(spec, 7);
    ASSERT_TRUE(armed.ok()) << armed.error();
  }
  int Alloc(uint64_t va, uint64_t* handle, size_t gpu = 0) {
    kfd_ioctl_alloc_memory_of_gpu_args a{};
    a.va_addr = va;
    a.size = 2 << 20;
    a.gpu_id = ids_[gpu];
    a.flags = kVram;
    const int r = backend_->Ioctl(kfd_, AMDKFD_IOC_ALLOC_MEMORY_OF_GPU, &a);
    *handle = a.handle;
    return r;
  }
  int MapCmd(unsigned long cmd, uint64_t handle, uint32_t* n) {
    kfd_ioctl_map_memory_to_gpu_args m{};
    m.handle = handle;
    m.device_ids_array_ptr = reinterpret_cast<uint64_t>(ids_.data());
    m.n_devices = static_cast<uint32_t>(ids_.size());
    m.n_success = *n;
    const int r = backend_->Ioctl(kfd_, cmd, &m);
    const int e = errno;
    *n = m.n_success;
    errno = e;
    return r;
  }
  std::unique_ptr<Backend> backend_;
  int kfd_ = -1;
  std::vector<uint32_t> ids_;
};

TEST_F(FaultInjectionTest, EveryPointFiresAndReportsTheDriversError) {
  uint64_t h = 0;
  uint32_t n = 0;

  Arm("alloc.reserve[nth=1]:ENOMEM");
  EXPECT_EQ(-1, Alloc(kVa, &h));
  EXPECT_EQ(ENOMEM, errno);
  Arm("alloc.backing[nth=1]:ENOMEM");
  EXPECT_EQ(-1, Alloc(kVa, &h));
  EXPECT_EQ(ENOMEM, errno);
  FaultInjector::Global().Reset();
  ASSERT_EQ(0, Alloc(kVa, &h));

  // Page tables fail on GPU 2: the prefix 0-1 stays mapped, the retry from n_success completes.
  Arm("map.page_tables[gpu=2,nth=1]:ENOMEM");
  EXPECT_EQ(-1, MapCmd(AMDKFD_IOC_MAP_MEMORY_TO_GPU, h, &n));
  EXPECT_EQ(ENOMEM, errno);
  EXPECT_EQ(2u, n);
  EXPECT_EQ("", backend_->CheckInvariant());
  EXPECT_EQ(0, MapCmd(AMDKFD_IOC_MAP_MEMORY_TO_GPU, h, &n));
  EXPECT_EQ(4u, n);
  n = 0;
  ASSERT_EQ(0, MapCmd(AMDKFD_IOC_UNMAP_MEMORY_FROM_GPU, h, &n));

  // A peer refusing access on GPU 3. The kernel decides when it first attaches a BO to a VM
  // (kfd_mem_attach), so a BO never mapped there: `h` was, and stays attached after its UNMAP.
  uint64_t fresh = 0;
  ASSERT_EQ(0, Alloc(kVa + (32 << 20), &fresh));
  Arm("map.peer_access[gpu=3]:EINVAL");
  n = 0;
  EXPECT_EQ(-1, MapCmd(AMDKFD_IOC_MAP_MEMORY_TO_GPU, fresh, &n));
  EXPECT_EQ(EINVAL, errno);
  EXPECT_EQ(3u, n);
  EXPECT_EQ("", backend_->CheckInvariant());
  FaultInjector::Global().Reset();
  ASSERT_EQ(0, MapCmd(AMDKFD_IOC_MAP_MEMORY_TO_GPU, fresh, &n));
  n = 0;
  ASSERT_EQ(0, MapCmd(AMDKFD_IOC_UNMAP_MEMORY_FROM_GPU, fresh, &n));
  // Mapped again after UNMAP: still attached, no second decision, so the rule never fires.
  Arm("map.peer_access[gpu=3]:EINVAL");
  n = 0;
  EXPECT_EQ(0, MapCmd(AMDKFD_IOC_MAP_MEMORY_TO_GPU, fresh, &n));
  EXPECT_EQ(4u, n);
  EXPECT_EQ(0u, FaultInjector::Global().reached(FaultPointId(kfd::FaultPoint::kMapPeerAccess)));
  FaultInjector::Global().Reset();
  n = 0;
  ASSERT_EQ(0, MapCmd(AMDKFD_IOC_UNMAP_MEMORY_FROM_GPU, fresh, &n));
  kfd_ioctl_free_memory_of_gpu_args free_fresh{fresh};
  ASSERT_EQ(0, backend_->Ioctl(kfd_, AMDKFD_IOC_FREE_MEMORY_OF_GPU, &free_fresh));

  Arm("dma.submit[gpu=1,nth=1]:ENOMEM");
  n = 0;
  EXPECT_EQ(-1, MapCmd(AMDKFD_IOC_MAP_MEMORY_TO_GPU, h, &n));
  EXPECT_EQ(ENOMEM, errno);
  EXPECT_EQ(1u, n);
  EXPECT_EQ("", backend_->CheckInvariant());
  EXPECT_EQ(0, MapCmd(AMDKFD_IOC_MAP_MEMORY_TO_GPU, h, &n));

  // The wait is interrupted: EINTR with everything dispatched; the retry only waits.
  n = 0;
  ASSERT_EQ(0, MapCmd(AMDKFD_IOC_UNMAP_MEMORY_FROM_GPU, h, &n));
  Arm("map.wait[nth=1]:EINTR");
  n = 0;
  EXPECT_EQ(-1, MapCmd(AMDKFD_IOC_MAP_MEMORY_TO_GPU, h, &n));
  EXPECT_EQ(EINTR, errno);
  EXPECT_EQ(4u, n);
  EXPECT_EQ(0, MapCmd(AMDKFD_IOC_MAP_MEMORY_TO_GPU, h, &n));

  // dma.job: the job's fence carries an error; synchronous MAP ignores it, as 6.1's sync wait does.
  Arm("dma.job[nth=1]:EIO");
  uint64_t h2 = 0;
  ASSERT_EQ(0, Alloc(kVa + (64 << 20), &h2, 1));
  n = 0;
  EXPECT_EQ(0, MapCmd(AMDKFD_IOC_MAP_MEMORY_TO_GPU, h2, &n));

  Arm("unmap.gpu[gpu=2,nth=1]:ENOMEM");
  n = 0;
  EXPECT_EQ(-1, MapCmd(AMDKFD_IOC_UNMAP_MEMORY_FROM_GPU, h, &n));
  EXPECT_EQ(ENOMEM, errno);
  EXPECT_EQ(2u, n);
  EXPECT_EQ("", backend_->CheckInvariant());
  EXPECT_EQ(0, MapCmd(AMDKFD_IOC_UNMAP_MEMORY_FROM_GPU, h, &n));

  n = 0;
  ASSERT_EQ(0, MapCmd(AMDKFD_IOC_MAP_MEMORY_TO_GPU, h, &n));
  Arm("unmap.wait[nth=1]:EINTR");
  n = 0;
  EXPECT_EQ(-1, MapCmd(AMDKFD_IOC_UNMAP_MEMORY_FROM_GPU, h, &n));
  EXPECT_EQ(EINTR, errno);
  EXPECT_EQ(4u, n);
  EXPECT_EQ(0, MapCmd(AMDKFD_IOC_UNMAP_MEMORY_FROM_GPU, h, &n));  // restart at n_success: a no-op

  Arm("free[nth=1]:EINTR");
  kfd_ioctl_free_memory_of_gpu_args f{h};
  EXPECT_EQ(-1, backend_->Ioctl(kfd_, AMDKFD_IOC_FREE_MEMORY_OF_GPU, &f));
  EXPECT_EQ(EINTR, errno);
  FaultInjector::Global().Reset();
  EXPECT_EQ(0, backend_->Ioctl(kfd_, AMDKFD_IOC_FREE_MEMORY_OF_GPU, &f));
  EXPECT_EQ("", backend_->CheckInvariant());
}

TEST_F(FaultInjectionTest, EveryNamedPointIsReached) {
  // One spec arming every point with a harmless delay: the log then proves each was reached and fired.
  std::string spec;
  for (const std::string& name : uapi::FaultPointNames()) spec += name + "[times=1]:delay=1us;";
  Arm(spec.c_str());
  uint64_t h = 0;
  ASSERT_EQ(0, Alloc(kVa, &h));
  uint32_t n = 0;
  ASSERT_EQ(0, MapCmd(AMDKFD_IOC_MAP_MEMORY_TO_GPU, h, &n));
  n = 0;
  ASSERT_EQ(0, MapCmd(AMDKFD_IOC_UNMAP_MEMORY_FROM_GPU, h, &n));
  kfd_ioctl_free_memory_of_gpu_args f{h};
  ASSERT_EQ(0, backend_->Ioctl(kfd_, AMDKFD_IOC_FREE_MEMORY_OF_GPU, &f));
  std::set<std::string> fired;
  for (const FaultRecord& r : FaultInjector::Global().log()) fired.insert(kfd::FaultPointName(kfd::FaultPoint(r.point)));
  for (const std::string& name : uapi::FaultPointNames()) {
    EXPECT_TRUE(fired.count(name)) << name << " never fired";
  }
  printf("fault points fired: %zu of %zu\n", fired.size(), uapi::FaultPointNames().size());
}

}  // namespace
}  // namespace vkfd::conformance

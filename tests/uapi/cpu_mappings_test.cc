// The interposer's bookkeeping of CPU mappings (uapi/cpu_mappings.h), in-process: one reference per
// piece of a render-node mapping (drm_gem_vm_open/close), and doorbell mappings of /dev/kfd forgotten
// by hw::DoorbellWatch when munmap, mremap or a MAP_FIXED mmap takes them away.
#include <errno.h>
#include <gtest/gtest.h>
#include <linux/kfd_ioctl.h>
#include <sys/mman.h>

#include <memory>
#include <vector>

#include "hw/queue/doorbell_watch.h"
#include "uapi/backend.h"
#include "uapi/cpu_mappings.h"

namespace vkfd::conformance {
namespace {

constexpr uint64_t kPage = 4096;
constexpr uint64_t kSlice = 8192;  // the process's doorbells on one GPU

class CpuMappingsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    backend_.reset(CreateBackend("mi210x2"));
    kfd_ = backend_->OpenKfd();
    ids_ = backend_->GpuIds();
    for (int minor : backend_->RenderMinors()) render_.push_back(backend_->OpenRender(minor));
    for (size_t i = 0; i < ids_.size(); ++i) {
      kfd_ioctl_acquire_vm_args a{};
      a.drm_fd = static_cast<uint32_t>(render_[i]);
      a.gpu_id = ids_[i];
      ASSERT_EQ(0, backend_->Ioctl(kfd_, AMDKFD_IOC_ACQUIRE_VM, &a));
    }
  }
  uint64_t Available() {
    kfd_ioctl_get_available_memory_args a{};
    a.gpu_id = ids_[0];
    EXPECT_EQ(0, backend_->Ioctl(kfd_, AMDKFD_IOC_AVAILABLE_MEMORY, &a));
    return a.available;
  }
  void* Doorbells() {
    const uint64_t offset = (3ull << 62) | (uint64_t{ids_[0]} << 46);
    return backend_->Mmap(nullptr, kSlice, PROT_READ | PROT_WRITE, MAP_SHARED, kfd_,
                          static_cast<off_t>(offset));
  }

  std::unique_ptr<Backend> backend_;
  int kfd_ = -1;
  std::vector<uint32_t> ids_;
  std::vector<int> render_;
};

// drm_gem_vm_open for each piece a partial munmap leaves, drm_gem_vm_close for each piece that goes.
TEST_F(CpuMappingsTest, drm_gem_vm_open_OneReferencePerPiece) {
  const size_t before = uapi::RenderMappingCount();
  const uint64_t a0 = Available();
  kfd_ioctl_alloc_memory_of_gpu_args a{};
  a.va_addr = 0x7f0000000000ull;
  a.size = 4 * kPage;
  a.gpu_id = ids_[0];
  a.flags = KFD_IOC_ALLOC_MEM_FLAGS_VRAM | KFD_IOC_ALLOC_MEM_FLAGS_WRITABLE;
  ASSERT_EQ(0, backend_->Ioctl(kfd_, AMDKFD_IOC_ALLOC_MEMORY_OF_GPU, &a));
  auto* p = static_cast<uint8_t*>(backend_->Mmap(nullptr, 4 * kPage, PROT_READ | PROT_WRITE,
                                                 MAP_SHARED, render_[0],
                                                 static_cast<off_t>(a.mmap_offset)));
  ASSERT_NE(MAP_FAILED, p) << strerror(errno);
  EXPECT_EQ(before + 1, uapi::RenderMappingCount());
  ASSERT_EQ(0, backend_->Munmap(p + kPage, kPage));  // split in two
  EXPECT_EQ(before + 2, uapi::RenderMappingCount());
  kfd_ioctl_free_memory_of_gpu_args f{a.handle};
  ASSERT_EQ(0, backend_->Ioctl(kfd_, AMDKFD_IOC_FREE_MEMORY_OF_GPU, &f));
  EXPECT_LT(Available(), a0);
  ASSERT_EQ(0, backend_->Munmap(p, kPage));
  EXPECT_LT(Available(), a0);  // the other piece still holds the object
  ASSERT_EQ(0, backend_->Munmap(p + 2 * kPage, 2 * kPage));
  EXPECT_EQ(before, uapi::RenderMappingCount());
  EXPECT_EQ(a0, Available());
}

TEST_F(CpuMappingsTest, DoorbellWatchForgetsWhatMunmapMremapAndMapFixedTakeAway) {
  hw::DoorbellWatch& watch = hw::DoorbellWatch::Global();
  const size_t before = watch.RegisteredCount();
  void* d = Doorbells();
  ASSERT_NE(MAP_FAILED, d) << strerror(errno);
  EXPECT_EQ(before + 1, watch.RegisteredCount());
  ASSERT_EQ(0, backend_->Munmap(d, kSlice));
  EXPECT_EQ(before, watch.RegisteredCount());

  d = Doorbells();
  ASSERT_NE(MAP_FAILED, d);
  EXPECT_EQ(before + 1, watch.RegisteredCount());
  void* moved = backend_->Mremap(d, kSlice, kSlice, MREMAP_MAYMOVE, nullptr);
  ASSERT_NE(MAP_FAILED, moved) << strerror(errno);
  EXPECT_EQ(before, watch.RegisteredCount());
  static_cast<volatile uint64_t*>(moved)[0] = 1;  // writable where it went
  ASSERT_EQ(0, backend_->Munmap(moved, kSlice));

  d = Doorbells();
  ASSERT_NE(MAP_FAILED, d);
  EXPECT_EQ(before + 1, watch.RegisteredCount());
  void* anon = backend_->Mmap(d, kSlice, PROT_READ | PROT_WRITE,
                              MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
  ASSERT_EQ(d, anon);
  EXPECT_EQ(before, watch.RegisteredCount());
  ASSERT_EQ(0, backend_->Munmap(anon, kSlice));
}

}  // namespace
}  // namespace vkfd::conformance

// DeviceTest: the fixture of the conformance programs (conformance_test.cc, ext_test.cc) — a KFD
// process on the backend's device (in-process, or /dev/kfd through the interposer), with every GPU's
// VM acquired through raw ioctls, and the helpers they share: ioctls followed by a check of invariant 1
// (page tables == BOs marked mapped), allocation, and reading the inspection view.
#pragma once

#include <errno.h>
#include <gtest/gtest.h>
#include <linux/kfd_ioctl.h>

#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "uapi/backend.h"

namespace vkfd::conformance {

inline constexpr uint32_t kVram = KFD_IOC_ALLOC_MEM_FLAGS_VRAM | KFD_IOC_ALLOC_MEM_FLAGS_WRITABLE |
                                  KFD_IOC_ALLOC_MEM_FLAGS_EXECUTABLE |
                                  KFD_IOC_ALLOC_MEM_FLAGS_NO_SUBSTITUTE;
inline constexpr uint32_t kGtt = KFD_IOC_ALLOC_MEM_FLAGS_GTT | KFD_IOC_ALLOC_MEM_FLAGS_WRITABLE;
inline constexpr uint64_t kMiB = 1ull << 20;
inline constexpr uint64_t kGiB = 1ull << 30;
inline constexpr uint64_t kVa = 0x7f0000000000ull;

// One line of the inspection view: "0x<start>-0x<end> RWXS".
struct Range {
  uint64_t start, end;
  std::string flags;
};

inline std::vector<Range> ParseDump(const std::string& text) {
  std::vector<Range> ranges;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    Range r;
    char flags[8] = {};
    if (sscanf(line.c_str(), "0x%" SCNx64 "-0x%" SCNx64 " %7s", &r.start, &r.end, flags) == 3) {
      r.flags = flags;
      ranges.push_back(r);
    }
  }
  return ranges;
}

// Checks of the page tables through the inspection view. A driver without it (a real /dev/kfd) gets
// only what its ioctls return checked.
#define EXPECT_MAPPED(gpu, va) \
  switch (0)                   \
  case 0:                      \
  default:                     \
    if (!HasVmView()) {        \
    } else                     \
      EXPECT_TRUE(MappedAt(gpu, va))
#define EXPECT_UNMAPPED(gpu, va) \
  switch (0)                     \
  case 0:                        \
  default:                       \
    if (!HasVmView()) {          \
    } else                       \
      EXPECT_FALSE(MappedAt(gpu, va))
// A test that is about the page tables themselves: skipped on a driver without the view.
#define VKFD_NEEDS_VM_VIEW()                                                              \
  if (!HasVmView()) GTEST_SKIP() << "needs vkfd's page-table view (/sys/kernel/debug/vkfd); " \
                                    "a real driver has none"
// A check that could disturb a real machine (exhausts VRAM, runs packets on a GPU): skipped by
// `vkfd conformance` unless it is given --destructive (tests/uapi/conformance_main.cc).
#define VKFD_DESTRUCTIVE(why) \
  if (!DestructiveAllowed()) GTEST_SKIP() << "destructive (" why "): run with --destructive"

inline bool DestructiveAllowed() { return getenv("VKFD_CONFORMANCE_SAFE") == nullptr; }

class DeviceTest : public ::testing::Test {
 protected:
  virtual std::string Topology() const { return "mi210x4"; }
  // Why every test of the fixture is destructive (VKFD_DESTRUCTIVE), or null.
  virtual const char* Destructive() const { return nullptr; }
  bool HasVmView() const { return backend_ && backend_->HasVmView(); }

  void SetUp() override {
    if (!OpenBackend()) return;
    AcquireAll();
  }
  void TearDown() override {
    if (!backend_) return;
    for (int fd : render_) backend_->Close(fd);
    if (kfd_ > 0) backend_->Close(kfd_);
  }

  // The two halves of SetUp, for fixtures that do more in between. OpenBackend: the backend (or a
  // skip, when it runs another topology), /dev/kfd and the GPU list; false if the test cannot go on.
  bool OpenBackend() {
    if (const char* why = Destructive(); why != nullptr && !DestructiveAllowed()) {
      [why] { GTEST_SKIP() << "destructive (" << why << "): run with --destructive"; }();
      return false;
    }
    std::string why_not;
    backend_.reset(CreateBackend(Topology(), &why_not));
    if (!backend_) {
      [&] {
        GTEST_SKIP() << (why_not.empty() ? "needs topology " + Topology() : why_not);
      }();
      return false;
    }
    kfd_ = backend_->OpenKfd();
    EXPECT_GT(kfd_, 0);
    gpus_ = backend_->GpuIds();
    return kfd_ > 0;
  }
  // Opens every render node and acquires every GPU's VM.
  void AcquireAll() {
    for (int minor : backend_->RenderMinors()) {
      const int fd = backend_->OpenRender(minor);
      ASSERT_GE(fd, 0);
      render_.push_back(fd);
    }
    for (size_t i = 0; i < gpus_.size(); ++i) {
      kfd_ioctl_acquire_vm_args acquire{};
      acquire.drm_fd = static_cast<uint32_t>(render_[i]);
      acquire.gpu_id = gpus_[i];
      ASSERT_EQ(0, Raw(kfd_, AMDKFD_IOC_ACQUIRE_VM, &acquire)) << strerror(errno);
    }
  }

  // An ioctl without checks; errno as the call left it.
  int Raw(int fd, unsigned long cmd, void* arg) {
    errno = 0;
    return backend_->Ioctl(fd, cmd, arg);
  }
  // An ioctl on /dev/kfd, then invariant 1 (which waits for outstanding updates first). errno is
  // preserved for the caller.
  int Call(unsigned long cmd, void* arg) {
    const int r = Raw(kfd_, cmd, arg);
    const int saved = errno;
    EXPECT_EQ("", backend_->CheckInvariant()) << "after ioctl nr 0x" << std::hex << _IOC_NR(cmd);
    errno = saved;
    return r;
  }
  int Call(bool check, unsigned long cmd, void* arg) {
    return check ? Call(cmd, arg) : Raw(kfd_, cmd, arg);
  }

  uint64_t Alloc(size_t gpu, uint64_t va, uint64_t size, uint32_t flags = kVram, bool check = true) {
    kfd_ioctl_alloc_memory_of_gpu_args args{};
    args.va_addr = va;
    args.size = size;
    args.gpu_id = gpus_[gpu];
    args.flags = flags;
    EXPECT_EQ(0, Call(check, AMDKFD_IOC_ALLOC_MEMORY_OF_GPU, &args)) << strerror(errno);
    return args.handle;
  }
  int Free(uint64_t handle) {
    kfd_ioctl_free_memory_of_gpu_args args{handle};
    return Call(AMDKFD_IOC_FREE_MEMORY_OF_GPU, &args);
  }
  uint64_t Available(size_t gpu) {
    kfd_ioctl_get_available_memory_args args{};
    args.gpu_id = gpus_[gpu];
    EXPECT_EQ(0, Call(AMDKFD_IOC_AVAILABLE_MEMORY, &args));
    return args.available;
  }
  // Is `va` inside a mapped range of GPU `gpu` per the page-table walk?
  bool MappedAt(size_t gpu, uint64_t va) {
    for (const Range& r : ParseDump(backend_->DumpVm(gpus_[gpu]))) {
      if (va >= r.start && va < r.end) return true;
    }
    return false;
  }
  std::vector<uint32_t> AllIds() const { return gpus_; }

  std::unique_ptr<Backend> backend_;
  int kfd_ = -1;
  std::vector<uint32_t> gpus_;
  std::vector<int> render_;
};

}  // namespace vkfd::conformance

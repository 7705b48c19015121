// mmap of /dev/kfd as 6.1.y's kfd_mmap decides it, each test named after the kernel function whose
// rule it checks: kfd_mmio_mmap (one page, no BO needed), kfd_reserved_mem_mmap (KFD_CWSR_TBA_TMA_SIZE,
// zeroed pages), kfd_event_mmap (no page before a signal event, at most 32 KiB), and the VM flags every
// kfd mapping gets (VM_DONTCOPY, VM_DONTDUMP). Doorbells: queue_ioctl_test.cc (kfd_doorbell_mmap).
#include <errno.h>
#include <gtest/gtest.h>
#include <linux/kfd_ioctl.h>
#include <sys/mman.h>

#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <string>

#include "uapi/device_test.h"

namespace vkfd::conformance {
namespace {

constexpr uint64_t kTypeMmio = 0ull << 62, kTypeReserved = 1ull << 62, kTypeEvents = 2ull << 62,
                   kTypeDoorbell = 3ull << 62;

class KfdMmapTest : public DeviceTest {
 protected:
  void* Map(uint64_t offset, size_t length) {
    errno = 0;
    return backend_->Mmap(nullptr, length, PROT_READ | PROT_WRITE, MAP_SHARED, kfd_,
                          static_cast<off_t>(offset));
  }
  uint64_t Gpu(size_t i) const { return uint64_t{gpus_[i]} << 46; }
  // The VmFlags line of /proc/self/smaps for the mapping starting at `addr`.
  static std::string VmFlags(void* addr) {
    FILE* f = fopen("/proc/self/smaps", "r");
    if (f == nullptr) return {};
    char line[512];
    bool in = false;
    std::string flags;
    while (fgets(line, sizeof(line), f) != nullptr) {
      uint64_t start = 0, end = 0;
      if (sscanf(line, "%" SCNx64 "-%" SCNx64 " ", &start, &end) == 2 && strchr(line, ':') &&
          line[strspn(line, "0123456789abcdef")] == '-') {
        in = start == reinterpret_cast<uint64_t>(addr);
      } else if (in && strncmp(line, "VmFlags:", 8) == 0) {
        flags = line + 8;
        break;
      }
    }
    fclose(f);
    return flags;
  }
  static bool HasFlag(const std::string& flags, const char* flag) {
    return (" " + flags + " ").find(std::string(" ") + flag + " ") != std::string::npos ||
           (" " + flags).find(std::string(" ") + flag + "\n") != std::string::npos;
  }
};

TEST_F(KfdMmapTest, kfd_mmio_mmap_OnePageAndNoBoNeeded) {
  void* page = Map(kTypeMmio | Gpu(0), 4096);
  ASSERT_NE(MAP_FAILED, page) << strerror(errno);
  backend_->Munmap(page, 4096);
  EXPECT_EQ(MAP_FAILED, Map(kTypeMmio | Gpu(0), 8192));
  EXPECT_EQ(EINVAL, errno);
  // gpu_id 0 (offset 0) and an unknown gpu: kfd_mmap's -ENODEV before the size.
  EXPECT_EQ(MAP_FAILED, Map(kTypeMmio, 4096));
  EXPECT_EQ(ENODEV, errno);
  EXPECT_EQ(MAP_FAILED, Map(kTypeMmio | (0x4242ull << 46), 8192));
  EXPECT_EQ(ENODEV, errno);
}

// do_mmap checks the open file before kfd_mmap runs: through /dev/kfd opened read-only a shared
// writable mapping is EACCES, a read-only one reaches the driver.
TEST_F(KfdMmapTest, do_mmap_ReadOnlyKfdFileMapsReadOnly) {
  const int read_only = backend_->OpenKfd(O_RDONLY);
  ASSERT_GT(read_only, 0) << strerror(errno);
  const off_t offset = static_cast<off_t>(kTypeMmio | Gpu(0));
  errno = 0;
  EXPECT_EQ(MAP_FAILED, backend_->Mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, read_only,
                                       offset));
  EXPECT_EQ(EACCES, errno);
  void* page = backend_->Mmap(nullptr, 4096, PROT_READ, MAP_SHARED, read_only, offset);
  EXPECT_NE(MAP_FAILED, page) << strerror(errno);
  if (page != MAP_FAILED) backend_->Munmap(page, 4096);
  backend_->Close(read_only);
}

TEST_F(KfdMmapTest, kfd_reserved_mem_mmap_TwoZeroedPages) {
  void* pages = Map(kTypeReserved | Gpu(1), 8192);
  ASSERT_NE(MAP_FAILED, pages) << strerror(errno);
  EXPECT_EQ(0u, static_cast<volatile uint64_t*>(pages)[0]);
  EXPECT_EQ(0u, static_cast<volatile uint64_t*>(pages)[1023]);
  static_cast<volatile uint64_t*>(pages)[5] = 7;  // writable
  backend_->Munmap(pages, 8192);
  EXPECT_EQ(MAP_FAILED, Map(kTypeReserved | Gpu(1), 4096));
  EXPECT_EQ(EINVAL, errno);
  EXPECT_EQ(MAP_FAILED, Map(kTypeReserved | (0x4242ull << 46), 8192));
  EXPECT_EQ(ENODEV, errno);
}

TEST_F(KfdMmapTest, kfd_event_mmap_NoPageBeforeTheFirstSignalEvent) {
  EXPECT_EQ(MAP_FAILED, Map(kTypeEvents, 32768));
  EXPECT_EQ(EINVAL, errno);
  // The first signal event without a BO makes the kernel's page; then it maps, up to 32 KiB.
  kfd_ioctl_create_event_args ev{};
  ev.event_type = KFD_IOC_EVENT_SIGNAL;
  ASSERT_EQ(0, Call(AMDKFD_IOC_CREATE_EVENT, &ev)) << strerror(errno);
  EXPECT_EQ(kTypeEvents, ev.event_page_offset);
  EXPECT_EQ(MAP_FAILED, Map(kTypeEvents, 65536));
  EXPECT_EQ(EINVAL, errno);
  void* page = Map(ev.event_page_offset, 32768);
  ASSERT_NE(MAP_FAILED, page) << strerror(errno);
  EXPECT_EQ(~0ull, static_cast<volatile uint64_t*>(page)[ev.event_slot_index]);  // UNSIGNALED
  backend_->Munmap(page, 32768);
}

TEST_F(KfdMmapTest, kfd_mmap_EveryKfdMappingIsDontcopyAndDontdump) {
  kfd_ioctl_create_event_args ev{};
  ev.event_type = KFD_IOC_EVENT_SIGNAL;
  ASSERT_EQ(0, Call(AMDKFD_IOC_CREATE_EVENT, &ev)) << strerror(errno);
  const struct {
    uint64_t offset;
    size_t length;
  } maps[] = {{kTypeDoorbell | Gpu(0), 8192},
              {kTypeMmio | Gpu(0), 4096},
              {kTypeReserved | Gpu(0), 8192},
              {kTypeEvents, 32768}};
  for (const auto& m : maps) {
    void* p = Map(m.offset, m.length);
    ASSERT_NE(MAP_FAILED, p) << std::hex << m.offset << ": " << strerror(errno);
    const std::string flags = VmFlags(p);
    EXPECT_TRUE(HasFlag(flags, "dc")) << std::hex << m.offset << ":" << flags;  // VM_DONTCOPY
    EXPECT_TRUE(HasFlag(flags, "dd")) << std::hex << m.offset << ":" << flags;  // VM_DONTDUMP
    backend_->Munmap(p, m.length);
  }
}

}  // namespace
}  // namespace vkfd::conformance

// Driver-level tests of kfd::Process: accounting and host memory back at baseline after process exit
// (invariant 3), and n_success prefix semantics without the ioctl layer.
#include "kfd/process.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include "kfd/driver.h"

namespace vkfd::kfd {
namespace {

constexpr uint64_t kMiB = 1ull << 20;

std::unique_ptr<Driver> MakeDriver(const char* preset) {
  auto topo = hw::LoadTopology(preset);
  EXPECT_TRUE(topo.ok()) << topo.error();
  auto driver = Driver::Create(std::move(*topo));
  EXPECT_TRUE(driver.ok());
  return std::move(driver.value());
}

uint64_t MemfdBytes(Driver& d, size_t gpu) {
  struct stat st;
  fstat(d.node().gpu(gpu).memory->fd(), &st);
  return uint64_t(st.st_blocks) * 512;
}

TEST(ProcessTest, TeardownReturnsEverythingToBaseline) {
  auto driver = MakeDriver("mi210x2");
  const uint64_t avail0 = driver->limits().AvailableVram(0);
  auto process = driver->OpenProcess(4242);
  std::vector<uint32_t> ids = {driver->gpu_id(0), driver->gpu_id(1)};
  for (size_t g = 0; g < 2; ++g) {
    ASSERT_TRUE(process->AcquireVm(ids[g], DrmFileRef{100 + g, static_cast<int>(g)}).ok());
  }
  for (int i = 0; i < 50; ++i) {
    AllocRequest req;
    req.gpu_id = ids[i % 2];
    req.va = 0x7f0000000000ull + uint64_t(i) * 4 * kMiB;
    req.size = (i % 3 == 0) ? 2 * kMiB : 12288;
    req.kind.vram = i % 2 == 0;
    req.kind.gtt = i % 2 == 1;
    req.attrs.writable = true;
    auto bo = process->AllocMemory(req);
    ASSERT_TRUE(bo.ok());
    uint32_t n = 0;
    ASSERT_TRUE(process->MapMemory(bo->handle, ids, &n).ok());
    EXPECT_EQ(2u, n);
  }
  EXPECT_EQ("", process->DebugCheckPageTables());
  EXPECT_LT(driver->limits().AvailableVram(0), avail0);
  EXPECT_GT(driver->node().gpu(0).page_tables->pages_in_use(), 0u);
  driver->TeardownProcess(4242);
  EXPECT_EQ(avail0, driver->limits().AvailableVram(0));
  EXPECT_EQ(0u, driver->limits().system_used());
  for (size_t g = 0; g < 2; ++g) {
    EXPECT_EQ(0u, driver->node().gpu(g).page_tables->pages_in_use()) << g;
    EXPECT_EQ(0u, driver->node().gpu(g).memory->vram_used()) << g;
    EXPECT_EQ(0u, driver->node().gpu(g).memory->gtt_used()) << g;
    EXPECT_EQ(0u, MemfdBytes(*driver, g)) << g;  // every page punched out again
  }
  EXPECT_EQ(nullptr, driver->FindProcess(4242));
  // A process of the same pid starts from scratch.
  auto again = driver->OpenProcess(4242);
  EXPECT_EQ(0u, again->DebugBoCount());
}

TEST(ProcessTest, MapStopsAtTheFirstFailureAndResumes) {
  auto driver = MakeDriver("mi210x4");
  auto process = driver->OpenProcess(7);
  std::vector<uint32_t> ids;
  for (size_t g = 0; g < 4; ++g) {
    ids.push_back(driver->gpu_id(g));
    if (g != 3) {
      ASSERT_TRUE(process->AcquireVm(ids[g], DrmFileRef{g + 1, int(g)}).ok());
    }
  }
  AllocRequest req;
  req.gpu_id = ids[0];
  req.va = 0x10000000;
  req.size = 4096;
  req.kind.vram = true;
  auto bo = process->AllocMemory(req);
  ASSERT_TRUE(bo.ok());
  uint32_t n = 0;
  EXPECT_EQ(Code::kNoDevice, process->MapMemory(bo->handle, ids, &n).code());  // GPU 3 has no VM
  EXPECT_EQ(3u, n);
  ASSERT_TRUE(process->AcquireVm(ids[3], DrmFileRef{9, 3}).ok());
  EXPECT_TRUE(process->MapMemory(bo->handle, ids, &n).ok());
  EXPECT_EQ(4u, n);
  auto gpus = process->DebugMappedGpus(bo->handle);
  ASSERT_TRUE(gpus);
  EXPECT_EQ(4u, gpus->size());
  EXPECT_EQ(Code::kBusy, process->FreeMemory(bo->handle).code());
  EXPECT_EQ("", process->DebugCheckPageTables());
}

}  // namespace
}  // namespace vkfd::kfd

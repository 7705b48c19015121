// The planner and the walker against hand-computed GFX9 entries: 4 KiB PTEs with fragments, 2 MiB
// PDE-as-PTE pages, and mixes of both.
#include "hw/page_table.h"

#include <gtest/gtest.h>

#include <vector>

#include "hw/node.h"
#include "hw/page_walker.h"
#include "hw/pte.h"

namespace vkfd::hw {
namespace {

constexpr uint64_t kMiB = 1ull << 20;
constexpr uint64_t kFlags = kPteReadable | kPteWriteable | PteMtype(Mtype::kRw);

class PageTableTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto topo = UniformMi210(1);
    ASSERT_TRUE(topo.ok()) << topo.error();
    auto node = Node::Create(std::move(*topo));
    ASSERT_TRUE(node.ok());
    node_ = std::move(node.value());
    auto table = PageTable::Create(node_->gpu(0).page_tables.get());
    ASSERT_TRUE(table.ok());
    table_ = std::move(table.value());
  }
  void Apply(PteJob job) {
    job.pool = node_->gpu(0).page_tables.get();
    job.Execute();
  }
  void MapNow(uint64_t va, uint64_t size, uint64_t pa, uint64_t flags = kFlags) {
    PteJob job;
    ASSERT_TRUE(table_->PlanMap(va, size, pa, flags, &job).ok());
    Apply(std::move(job));
  }
  Result<Translation> Walk(uint64_t va) {
    return PageWalker(*node_, 0).Translate(table_->root_phys(), va);
  }
  // The leaf entry the walker finds, or 0 on a fault.
  uint64_t Leaf(uint64_t va) {
    auto t = Walk(va);
    return t.ok() ? t->entry : 0;
  }

  std::unique_ptr<Node> node_;
  std::unique_ptr<PageTable> table_;
};

TEST_F(PageTableTest, SingleFourKPage) {
  MapNow(0x7000, 0x1000, 0x123000);
  EXPECT_EQ(0x123000 | kFlags | kPteValid, Leaf(0x7000));
  auto t = Walk(0x7abc);
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(0x123abcu, t->phys);
  EXPECT_EQ(4096u, t->page_size);
  EXPECT_EQ(node_->gpu(0).memory->HostPtr(0x123abc), t->host);
  EXPECT_EQ(Code::kFault, Walk(0x8000).code());
  EXPECT_EQ(Code::kFault, Walk(0x6fff).code());
  // Root, PDB1, PDB0 and one PTB.
  EXPECT_EQ(4u, table_->table_pages());
}

TEST_F(PageTableTest, DirectoryEntriesPointAtTablesInVram) {
  MapNow(0x7000, 0x1000, 0x123000);
  const uint64_t* root =
      reinterpret_cast<const uint64_t*>(node_->Resolve(0, table_->root_phys(), false));
  ASSERT_NE(nullptr, root);
  const uint64_t pde = root[0];
  EXPECT_TRUE(pde & kPteValid);
  EXPECT_FALSE(pde & kPdeIsPte);
  EXPECT_FALSE(pde & kPteSystem);
  EXPECT_NE(nullptr, node_->Resolve(0, PteAddress(pde), false));
  for (uint64_t i = 1; i < kEntriesPerTable; ++i) EXPECT_EQ(0u, root[i]) << i;
}

TEST_F(PageTableTest, FragmentsFollowAlignedContiguousRuns) {
  // 16 pages at VA page 0x10 backed from physical page 0x30: both 16-page aligned -> fragment 4.
  MapNow(0x10000, 0x10000, 0x30000);
  for (uint64_t i = 0; i < 16; ++i) {
    EXPECT_EQ((0x30000 + i * 0x1000) | kFlags | kPteValid | (4ull << kPteFragmentShift),
              Leaf(0x10000 + i * 0x1000))
        << i;
  }
  // 3 pages starting at an odd page: fragments 0, then 1 for the aligned pair.
  MapNow(0x41000, 0x3000, 0x81000);
  EXPECT_EQ(0x81000 | kFlags | kPteValid, Leaf(0x41000));
  EXPECT_EQ(0x82000 | kFlags | kPteValid | (1ull << kPteFragmentShift), Leaf(0x42000));
  EXPECT_EQ(0x83000 | kFlags | kPteValid | (1ull << kPteFragmentShift), Leaf(0x43000));
  // Physical misalignment limits the fragment even when the VA is aligned.
  MapNow(0x100000, 0x8000, 0x201000);
  EXPECT_EQ(0x201000 | kFlags | kPteValid, Leaf(0x100000));
}

TEST_F(PageTableTest, TwoMiBPagesWhereAlignmentAllows) {
  MapNow(0x40000000, 4 * kMiB, 0x600000);
  const uint64_t want = 0x600000 | kFlags | kPteValid | kPdeIsPte | (9ull << kPteFragmentShift);
  EXPECT_EQ(want, Leaf(0x40000000));
  EXPECT_EQ(want + 2 * kMiB, Leaf(0x40200000));
  auto t = Walk(0x40212345);
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(2 * kMiB, t->page_size);
  EXPECT_EQ(0x812345u, t->phys);
  // Root, PDB1, PDB0: no PTB needed.
  EXPECT_EQ(3u, table_->table_pages());
}

TEST_F(PageTableTest, MixOfFourKAndTwoMiB) {
  // [0x1ff000, 0x401000): one 4 KiB page, one 2 MiB page, one 4 KiB page.
  MapNow(0x1ff000, 0x202000, 0x5ff000);
  EXPECT_EQ(0x5ff000 | kFlags | kPteValid, Leaf(0x1ff000));
  EXPECT_EQ(0x600000 | kFlags | kPteValid | kPdeIsPte | (9ull << kPteFragmentShift),
            Leaf(0x200000));
  EXPECT_EQ(0x800000 | kFlags | kPteValid, Leaf(0x400000));
  EXPECT_EQ(Code::kFault, Walk(0x401000).code());
  auto runs = PageWalker(*node_, 0).Dump(table_->root_phys());
  ASSERT_EQ(1u, runs.size());
  EXPECT_EQ(0x1ff000u, runs[0].start);
  EXPECT_EQ(0x401000u, runs[0].end);
  EXPECT_EQ("0x1ff000-0x401000 RW--\n", PageWalker(*node_, 0).DumpText(table_->root_phys()));
}

TEST_F(PageTableTest, PhysicallyMisalignedBlocksUseFourKPages) {
  MapNow(0x200000, 2 * kMiB, 0x201000);
  auto t = Walk(0x200000);
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(4096u, t->page_size);
  EXPECT_EQ(0x201000u | kFlags | kPteValid, t->entry);
}

TEST_F(PageTableTest, UnmapClearsAndReleasesTables) {
  const uint64_t base_pages = node_->gpu(0).page_tables->pages_in_use();
  MapNow(0x1ff000, 0x202000, 0x5ff000);
  MapNow(0x7f0000000000, 0x3000, 0x9000, kFlags | kPteExecutable | kPteSystem);
  EXPECT_EQ("0x1ff000-0x401000 RW--\n0x7f0000000000-0x7f0000003000 RWXS\n",
            PageWalker(*node_, 0).DumpText(table_->root_phys()));
  PteJob job;
  table_->PlanUnmap(0x1ff000, 0x202000, &job);
  Apply(std::move(job));
  EXPECT_EQ(Code::kFault, Walk(0x200000).code());
  EXPECT_EQ("0x7f0000000000-0x7f0000003000 RWXS\n",
            PageWalker(*node_, 0).DumpText(table_->root_phys()));
  PteJob job2;
  table_->PlanUnmap(0x7f0000000000, 0x3000, &job2);
  Apply(std::move(job2));
  EXPECT_EQ("", PageWalker(*node_, 0).DumpText(table_->root_phys()));
  EXPECT_EQ(1u, table_->table_pages());
  EXPECT_EQ(base_pages, node_->gpu(0).page_tables->pages_in_use());
}

TEST_F(PageTableTest, PlansComposeBeforeTheirJobsRun) {
  // Map, unmap and map again in one block before any job executes: memory converges in order.
  PteJob a, b, c;
  ASSERT_TRUE(table_->PlanMap(0x3000, 0x1000, 0x10000, kFlags, &a).ok());
  table_->PlanUnmap(0x3000, 0x1000, &b);
  ASSERT_TRUE(table_->PlanMap(0x200000, 2 * kMiB, 0x400000, kFlags, &c).ok());
  Apply(std::move(a));
  Apply(std::move(b));
  Apply(std::move(c));
  EXPECT_EQ(Code::kFault, Walk(0x3000).code());
  EXPECT_TRUE(Walk(0x200000).ok());
}

TEST(PageTableMemoryTest, OutOfTableMemoryFailsWithoutATrace) {
  auto memory = GpuMemory::Create("pt-test", 4 * kMiB, 0);
  ASSERT_TRUE(memory.ok());
  PageTablePool pool(memory.value().get(), 0);
  // Leave room for exactly one 2 MiB chunk of tables.
  auto hog = memory.value()->AllocVram(2 * kMiB, 2 * kMiB);
  ASSERT_TRUE(hog.ok());
  auto table = PageTable::Create(&pool);
  ASSERT_TRUE(table.ok());
  // Each 1 GiB-strided page needs its own PDB0 and PTB: two pages; 511 pages remain after the root.
  int mapped = 0;
  for (;; ++mapped) {
    const uint64_t before = table.value()->table_pages();
    PteJob job;
    job.pool = &pool;
    Status s = table.value()->PlanMap(uint64_t(mapped) << 30, 4096, 0x1000, kFlags, &job);
    if (!s.ok()) {
      EXPECT_EQ(Code::kNoMemory, s.code());
      EXPECT_EQ(before, table.value()->table_pages());
      EXPECT_TRUE(job.writes.empty());
      break;
    }
    job.Execute();
    ASSERT_LT(mapped, 1000);
  }
  EXPECT_GT(mapped, 200);
  EXPECT_EQ(512u, pool.pages_in_use());
}

TEST(PageTableTrialTest, TryAllocateTablesGivesEverythingBackAndSeesExhaustion) {
  auto memory = GpuMemory::Create("pt-trial", 4 * kMiB, 0);
  ASSERT_TRUE(memory.ok());
  PageTablePool pool(memory.value().get(), 0);
  auto hog = memory.value()->AllocVram(2 * kMiB, 2 * kMiB);  // one 2 MiB chunk left for tables
  ASSERT_TRUE(hog.ok());
  auto created = PageTable::Create(&pool);
  ASSERT_TRUE(created.ok());
  PageTable& table = *created.value();
  // Two ranges (an AQL-style double mapping and a far one): fits, and nothing stays allocated.
  const PlannedRange some[] = {{0x7000, 0x2000, 0x1000}, {0x9000, 0x2000, 0x1000}, {1ull << 40, 4096, 0}};
  EXPECT_TRUE(table.TryAllocateTables(some).ok());
  EXPECT_EQ(1u, pool.pages_in_use());
  EXPECT_EQ(1u, table.table_pages());
  // Mapping them for real afterwards works as if the trial had never happened.
  PteJob job;
  job.pool = &pool;
  ASSERT_TRUE(table.PlanMap(0x7000, 0x2000, 0x1000, kFlags, &job).ok());
  job.Execute();
  const uint64_t in_use = pool.pages_in_use();
  // 300 ranges 1 GiB apart need ~600 tables; 511 - 3 are left: the trial fails and gives back the
  // tables it took before failing.
  std::vector<PlannedRange> many;
  for (uint64_t i = 1; i <= 300; ++i) many.push_back(PlannedRange{i << 30, 4096, 0x1000});
  EXPECT_EQ(Code::kNoMemory, table.TryAllocateTables(many).code());
  EXPECT_EQ(in_use, pool.pages_in_use());
  // Ranges that fit still pass, and PlanMap agrees with the trial on both.
  many.resize(100);
  EXPECT_TRUE(table.TryAllocateTables(many).ok());
  EXPECT_EQ(in_use, pool.pages_in_use());
  for (const PlannedRange& r : many) {
    PteJob map;
    map.pool = &pool;
    ASSERT_TRUE(table.PlanMap(r.va, r.size, r.pa, kFlags, &map).ok());
    map.Execute();
  }
  EXPECT_EQ(in_use + 200, pool.pages_in_use());
}

}  // namespace
}  // namespace vkfd::hw

#include "kfd/memory_limits.h"

#include <gtest/gtest.h>

namespace vkfd::kfd {
namespace {

constexpr uint64_t kMiB = 1ull << 20;
constexpr uint64_t kGiB = 1ull << 30;

// amdgpu_amdkfd_reserve_mem_limit / amdgpu_amdkfd_get_available_memory on 6.1.y.
TEST(MemoryLimitsTest, OneReserveFromSystemPlusAllVram) {
  // ESTIMATE_PT_SIZE(system + every GPU's VRAM): 64 + 64 + 1 GiB = 129 GiB >> 14 = 8.0625 MiB.
  MemoryLimits limits(64 * kGiB, {64 * kGiB, 1 * kGiB});
  const uint64_t reserve = (129 * kGiB) >> 14;
  EXPECT_EQ(reserve, limits.PageTableReserve());
  EXPECT_EQ(64 * kGiB - reserve, limits.VramLimit(0));
  EXPECT_EQ(1 * kGiB - reserve, limits.VramLimit(1));  // the same reserve on the small GPU
  // Small nodes: at least AMDGPU_VM_RESERVED_VRAM.
  EXPECT_EQ(8 * kMiB, MemoryLimits(16 * kGiB, {16 * kGiB}).PageTableReserve());
}

TEST(MemoryLimitsTest, VramIsChargedInPagesAvailableIn2MiBSteps) {
  MemoryLimits limits(64 * kGiB, {64 * kGiB});
  const uint64_t limit = limits.VramLimit(0);  // 64 GiB - 8 MiB (128 GiB >> 14 = 8 MiB)
  ASSERT_EQ(64 * kGiB - 8 * kMiB, limit);
  EXPECT_EQ(limit, limits.AvailableVram(0));
  ASSERT_TRUE(limits.Reserve(MemoryLimits::ChargeFor(0, Domain::kVram, 4096)).ok());
  EXPECT_EQ(4096u, limits.vram_used(0));
  EXPECT_EQ(2 * kMiB, limits.vram_used_aligned(0));
  EXPECT_EQ(limit - 2 * kMiB, limits.AvailableVram(0));
  // The limit counts pages: everything but that one page still fits, although AVAILABLE says less.
  EXPECT_EQ(Code::kNoMemory,
            limits.Reserve(MemoryLimits::ChargeFor(0, Domain::kVram, limit)).code());
  ASSERT_TRUE(limits.Reserve(MemoryLimits::ChargeFor(0, Domain::kVram, limit - 4096)).ok());
  EXPECT_EQ(limit, limits.vram_used(0));
  // The aligned counter is past the limit now: 6.1.y's size_t wraps; vkfd reports 0.
  EXPECT_GT(limits.vram_used_aligned(0), limit);
  EXPECT_EQ(0u, limits.AvailableVram(0));
  limits.Unreserve(MemoryLimits::ChargeFor(0, Domain::kVram, limit - 4096));
  limits.Unreserve(MemoryLimits::ChargeFor(0, Domain::kVram, 4096));
  EXPECT_EQ(0u, limits.vram_used_aligned(0));
  EXPECT_EQ(limit, limits.AvailableVram(0));
}

TEST(MemoryLimitsTest, PinnedVramLowersOnlyAvailable) {
  MemoryLimits limits(64 * kGiB, {64 * kGiB});
  const uint64_t limit = limits.VramLimit(0);
  limits.PinVram(0, 3 * kMiB);
  EXPECT_EQ((limit - 3 * kMiB) & ~(2 * kMiB - 1), limits.AvailableVram(0));
  EXPECT_TRUE(limits.Reserve(MemoryLimits::ChargeFor(0, Domain::kVram, limit)).ok());
  limits.UnpinVram(0, 3 * kMiB);
}

TEST(MemoryLimitsTest, SystemAndTtmLimits) {
  MemoryLimits limits(16 * kGiB, {1 * kGiB});
  // TTM: 3/8 of system memory for GTT.
  EXPECT_EQ(Code::kNoMemory,
            limits.Reserve(MemoryLimits::ChargeFor(0, Domain::kGtt, 6 * kGiB + 4096)).code());
  ASSERT_TRUE(limits.Reserve(MemoryLimits::ChargeFor(0, Domain::kGtt, 6 * kGiB)).ok());
  // System: 15/16, shared by GTT and userptr.
  EXPECT_EQ(Code::kNoMemory,
            limits.Reserve(MemoryLimits::ChargeFor(0, Domain::kUserptr, 9 * kGiB + 4096)).code());
  ASSERT_TRUE(limits.Reserve(MemoryLimits::ChargeFor(0, Domain::kUserptr, 9 * kGiB)).ok());
  limits.Unreserve(MemoryLimits::ChargeFor(0, Domain::kGtt, 6 * kGiB));
  limits.Unreserve(MemoryLimits::ChargeFor(0, Domain::kUserptr, 9 * kGiB));
  EXPECT_EQ(0u, limits.system_used());
  // Doorbell and MMIO BOs are not charged.
  EXPECT_TRUE(limits.Reserve(MemoryLimits::ChargeFor(0, Domain::kDoorbell, 8192)).ok());
  EXPECT_EQ(0u, limits.system_used());
}

}  // namespace
}  // namespace vkfd::kfd

#include "kfd/memory_limits.h"

#include <gtest/gtest.h>

namespace vkfd::kfd {
namespace {

constexpr uint64_t kMiB = 1ull << 20;
constexpr uint64_t kGiB = 1ull << 30;

TEST(MemoryLimitsTest, VramLimitIsVramMinusPageTableReserveIn2MiBSteps) {
  MemoryLimits limits(64 * kGiB, {64 * kGiB, 1 * kGiB});
  EXPECT_EQ(8 * kMiB, limits.PageTableReserve(0));  // 64 GiB / 16384 = 4 MiB < 8 MiB
  EXPECT_EQ(64 * kGiB - 8 * kMiB, limits.AvailableVram(0));
  ASSERT_TRUE(limits.Reserve(MemoryLimits::ChargeFor(0, Domain::kVram, 4096)).ok());
  EXPECT_EQ(64 * kGiB - 10 * kMiB, limits.AvailableVram(0));
  EXPECT_EQ(Code::kNoMemory,
            limits.Reserve(MemoryLimits::ChargeFor(0, Domain::kVram, 64 * kGiB - 9 * kMiB)).code());
  ASSERT_TRUE(limits.Reserve(MemoryLimits::ChargeFor(0, Domain::kVram, 64 * kGiB - 10 * kMiB)).ok());
  EXPECT_EQ(0u, limits.AvailableVram(0));
  EXPECT_EQ(1 * kGiB - 8 * kMiB, limits.AvailableVram(1));
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

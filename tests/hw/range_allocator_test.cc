#include "hw/range_allocator.h"

#include <gtest/gtest.h>

namespace vkfd::hw {
namespace {

TEST(RangeAllocatorTest, AlignsFitsAndCoalesces) {
  RangeAllocator a(0, 1 << 20);
  auto x = a.Allocate(4096, 4096);
  ASSERT_TRUE(x);
  EXPECT_EQ(0u, *x);
  auto y = a.Allocate(0x10000, 0x10000);
  ASSERT_TRUE(y);
  EXPECT_EQ(0u, *y % 0x10000);
  EXPECT_EQ(4096u + 0x10000u, a.used());
  EXPECT_FALSE(a.Allocate(1 << 20, 4096));
  a.Free(*x, 4096);
  a.Free(*y, 0x10000);
  EXPECT_EQ(0u, a.used());
  // Everything coalesced back: the whole space fits again.
  auto all = a.Allocate(1 << 20, 4096);
  ASSERT_TRUE(all);
  EXPECT_EQ(0u, *all);
  EXPECT_FALSE(a.Allocate(4096, 4096));
}

TEST(RangeAllocatorTest, BestFitPrefersTheSmallestHole) {
  RangeAllocator a(0x1000, 0x100000);
  auto p1 = a.Allocate(0x1000, 0x1000);
  auto p2 = a.Allocate(0x3000, 0x1000);
  auto p3 = a.Allocate(0x1000, 0x1000);
  auto p4 = a.Allocate(0x1000, 0x1000);
  ASSERT_TRUE(p1 && p2 && p3 && p4);
  a.Free(*p2, 0x3000);  // a 12 KiB hole
  a.Free(*p4, 0x1000);  // merges with the tail
  auto q = a.Allocate(0x2000, 0x1000);
  ASSERT_TRUE(q);
  EXPECT_EQ(*p2, *q);
  EXPECT_FALSE(a.Allocate(0, 0x1000));
  EXPECT_FALSE(a.Allocate(0x1000, 3));
}

}  // namespace
}  // namespace vkfd::hw

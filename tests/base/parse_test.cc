// Numbers, sizes and durations as people write them (base/parse.h).
#include "base/parse.h"

#include <gtest/gtest.h>

#include <cstdint>

namespace vkfd {
namespace {

constexpr uint64_t kMiB = 1ull << 20;
constexpr uint64_t kGiB = 1ull << 30;

TEST(ParseU64Test, DecimalDigitsOnly) {
  EXPECT_EQ(ParseU64("0"), 0u);
  EXPECT_EQ(ParseU64("42"), 42u);
  EXPECT_EQ(ParseU64("007"), 7u);
  EXPECT_EQ(ParseU64("18446744073709551615"), UINT64_MAX);
}

TEST(ParseU64Test, RejectsSignsBlanksUnitsAndOverflow) {
  for (const char* text : {"", " ", "+1", "-1", " 1", "1 ", "1\t", "1K", "4096B", "0x10", "1e3",
                           "1.0", "18446744073709551616", "99999999999999999999"}) {
    EXPECT_FALSE(ParseU64(text).has_value()) << "'" << text << "'";
  }
}

TEST(ParseSizeTest, ParsesBinaryUnits) {
  EXPECT_EQ(ParseSize("64GiB"), 64 * kGiB);
  EXPECT_EQ(ParseSize("256MiB"), 256 * kMiB);
  EXPECT_EQ(ParseSize("256 MiB"), 256 * kMiB);
  EXPECT_EQ(ParseSize("16KiB"), 16u * 1024);
  EXPECT_EQ(ParseSize("2TiB"), 2048 * kGiB);
  EXPECT_EQ(ParseSize("2G"), 2 * kGiB);
  EXPECT_EQ(ParseSize("3M"), 3 * kMiB);
  EXPECT_EQ(ParseSize("1K"), 1024u);
  EXPECT_EQ(ParseSize("1T"), 1024 * kGiB);
  EXPECT_EQ(ParseSize("4096"), 4096u);
  EXPECT_EQ(ParseSize("4096B"), 4096u);
  EXPECT_EQ(ParseSize("0"), 0u);
  EXPECT_EQ(ParseSize("18446744073709551615"), UINT64_MAX);
  EXPECT_EQ(ParseSize("16777215TiB"), 16777215ull << 40);
}

TEST(ParseSizeTest, RejectsGarbageNegativesAndOverflow) {
  for (const char* text : {"", " ", "GiB", "-1", "-1GiB", "+1GiB", "1.5GiB", "64GB", "64gib",
                           "64 GiB x", "0x10", "1e3", "18446744073709551616", "16777216TiB",
                           "99999999999999999999GiB", "17179869184GiB"}) {
    EXPECT_FALSE(ParseSize(text).has_value()) << "'" << text << "'";
  }
}

TEST(ParseDurationTest, ParsesUnits) {
  EXPECT_EQ(ParseDurationNs("50ns"), 50u);
  EXPECT_EQ(ParseDurationNs("200us"), 200'000u);
  EXPECT_EQ(ParseDurationNs("1ms"), 1'000'000u);
  EXPECT_EQ(ParseDurationNs("2s"), 2'000'000'000u);
  EXPECT_EQ(ParseDurationNs("0"), 0u);
  EXPECT_EQ(ParseDurationNs("0us"), 0u);
  EXPECT_EQ(ParseDurationNs("18446744073s"), 18'446'744'073'000'000'000u);
}

TEST(ParseDurationTest, RejectsGarbageAndOverflow) {
  for (const char* text : {"", "us", "100", "1h", "1 min", "-1us", "1.5ms", "5sec", "18446744074s",
                           "18446744073709551616ns"}) {
    EXPECT_FALSE(ParseDurationNs(text).has_value()) << "'" << text << "'";
  }
}

TEST(TrimBlanksTest, SpacesAndTabsAtBothEnds) {
  EXPECT_EQ(TrimBlanks(" \t64 GiB\t "), "64 GiB");
  EXPECT_EQ(TrimBlanks("x"), "x");
  EXPECT_EQ(TrimBlanks(" \t "), "");
  EXPECT_EQ(TrimBlanks(""), "");
  EXPECT_EQ(TrimBlanks("\n1\n"), "\n1\n");  // only spaces and tabs are blanks
}

}  // namespace
}  // namespace vkfd

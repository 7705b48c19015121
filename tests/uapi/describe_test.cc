// Describe() formats the describers' conversions itself: its text must be snprintf's, byte for byte
// (the ioctl log and the trace both show it, and tools_trace compares the two).
#include "uapi/describe.h"

#include <gtest/gtest.h>

#include <cinttypes>
#include <climits>
#include <cstdint>
#include <string>

namespace vkfd::uapi {
namespace {

// The format stays a literal in both calls: the compiler checks the arguments against it.
#define EXPECT_SAME(fmt, ...)                         \
  do {                                                \
    std::string described;                            \
    Describe(&described, fmt, __VA_ARGS__);           \
    char printed[256];                                \
    snprintf(printed, sizeof(printed), fmt, __VA_ARGS__); \
    EXPECT_EQ(described, printed) << fmt;             \
  } while (0)

TEST(Describe, MatchesSnprintfForEveryConversionTheDescribersUse) {
  for (unsigned v : {0u, 1u, 9u, 10u, 0xabcu, 0x7fffffffu, UINT_MAX}) {
    EXPECT_SAME("u=%u x=0x%x X=%X", v, v, v);
    EXPECT_SAME("b=%02x c=%#08x d=%#x", v & 0xff, v, v);
    EXPECT_SAME("w=%8u l=%-6u|", v, v);
  }
  for (int v : {0, -1, 1, -42, INT_MIN, INT_MAX}) {
    EXPECT_SAME("d=%d i=%i z=%05d left=%-5d|", v, v, v, v);
  }
  for (uint64_t v : {uint64_t{0}, uint64_t{1}, uint64_t{0x7f0000000000}, UINT64_MAX}) {
    EXPECT_SAME("a=0x%llx b=%llu c=%" PRIx64 " d=%" PRIu64 " e=%zu", static_cast<unsigned long long>(v),
                static_cast<unsigned long long>(v), v, v, static_cast<size_t>(v));
    EXPECT_SAME("s=%lld t=%" PRId64, static_cast<long long>(v), static_cast<int64_t>(v));
  }
  EXPECT_SAME("name=%s other=%s c=%c pct=100%%", "abc", "", 'q');
  EXPECT_SAME("h=%hu hh=%hhu", static_cast<unsigned short>(65535), static_cast<unsigned char>(200));
}

TEST(Describe, SeparatesCallsWithOneSpaceAndFallsBackForOtherFormats) {
  std::string out;
  Describe(&out, "a=%u", 1u);
  Describe(&out, "b=%.3f", 1.5);  // not a describer's conversion: vsnprintf's text
  EXPECT_EQ(out, "a=1 b=1.500");
}

TEST(Describe, AppendsAtMost255CharactersPerCall) {
  const std::string long_text(400, 'x');
  std::string out = "p";
  Describe(&out, "%s", long_text.c_str());
  EXPECT_EQ(out, "p " + std::string(255, 'x'));
}

}  // namespace
}  // namespace vkfd::uapi

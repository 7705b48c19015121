// TraceText (base/trace_text.h): the JSON pieces the trace writer appends.
#include "base/trace_text.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <string>

namespace vkfd::trace {
namespace {

std::string Text(const TraceText& t) { return std::string(t.data(), t.size()); }

TEST(TraceTextTest, NumbersAsJsonWritesThem) {
  TraceText t;
  t.Unsigned(0);
  t.Append(' ');
  t.Unsigned(std::numeric_limits<uint64_t>::max());
  t.Append(' ');
  t.Signed(std::numeric_limits<int64_t>::min());
  t.Append(' ');
  t.Signed(-4);
  t.Append(' ');
  t.Hex(0);
  t.Append(' ');
  t.Hex(0x7e0000000000);
  EXPECT_EQ("0 18446744073709551615 -9223372036854775808 -4 0 7e0000000000", Text(t));
}

TEST(TraceTextTest, MicrosecondsKeepEveryNanosecond) {
  TraceText t;
  t.Micros(372722694650);
  t.Append(' ');
  t.Micros(7);
  t.Append(' ');
  t.Micros(-1500);
  EXPECT_EQ("372722694.650 0.007 -1.500", Text(t));
}

TEST(TraceTextTest, StringsAreEscapedForJson) {
  TraceText t;
  t.Quoted(std::string("a \"b\" \\ c\n\x01", 11));
  EXPECT_EQ("\"a \\\"b\\\" \\\\ c\\u000a\\u0001\"", Text(t));
}

// Appends far past the first allocation keep everything, in order.
TEST(TraceTextTest, GrowsWithoutLosingText) {
  TraceText t;
  std::string expected;
  for (int i = 0; i < 100000; ++i) {
    t.Unsigned(static_cast<uint64_t>(i));
    t.Append(',');
    expected += std::to_string(i) + ",";
  }
  t.Quoted(std::string(300000, '"'));
  expected += "\"" + std::string(300000 * 2, ' ') + "\"";
  for (size_t i = expected.size() - 600001; i < expected.size() - 1; i += 2) {
    expected[i] = '\\';
    expected[i + 1] = '"';
  }
  EXPECT_EQ(expected, Text(t));
  t.Clear();
  EXPECT_EQ(0u, t.size());
}

}  // namespace
}  // namespace vkfd::trace

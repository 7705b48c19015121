#include "base/status.h"

#include <gtest/gtest.h>

namespace vkfd {
namespace {

Result<int> Half(int x) {
  if (x % 2 != 0) return Code::kInvalidArgs;
  return x / 2;
}

TEST(StatusTest, OkAndError) {
  Status ok = Status::Ok();
  EXPECT_TRUE(ok.ok());
  Status err(Code::kBusy);
  EXPECT_FALSE(err.ok());
  EXPECT_EQ(err.code(), Code::kBusy);
  EXPECT_STREQ(CodeName(Code::kBusy), "BUSY");
}

TEST(StatusTest, ResultCarriesValueOrCode) {
  auto r = Half(4);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, 2);
  auto e = Half(3);
  ASSERT_FALSE(e.ok());
  EXPECT_EQ(e.code(), Code::kInvalidArgs);
}

Status Chain(bool fail) {
  VKFD_RETURN_IF_ERROR(fail ? Status(Code::kNoMemory) : Status::Ok());
  return Status(Code::kBusy);
}

TEST(StatusTest, ReturnIfError) {
  EXPECT_EQ(Chain(true).code(), Code::kNoMemory);
  EXPECT_EQ(Chain(false).code(), Code::kBusy);
}

#ifndef NDEBUG
TEST(StatusDeathTest, DroppedStatusAborts) {
  EXPECT_DEATH({ Status s(Code::kBusy); (void)&s; }, "");
}
#endif

}  // namespace
}  // namespace vkfd

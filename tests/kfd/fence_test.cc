#include "kfd/fence.h"

#include <gtest/gtest.h>

#include <thread>

namespace vkfd::kfd {
namespace {

TEST(FenceTest, SignalsExactlyOnceAndRunsCallbacksOnce) {
  Fence fence;
  int calls = 0;
  ASSERT_TRUE(fence.AddCallback([&] { ++calls; }).has_value());
  auto removed = fence.AddCallback([&] { calls += 100; });
  ASSERT_TRUE(removed.has_value());
  EXPECT_TRUE(fence.RemoveCallback(*removed));
  EXPECT_FALSE(fence.signaled());
  EXPECT_EQ(0, fence.timestamp_ns());
  EXPECT_TRUE(fence.Signal(Code::kIo));
  EXPECT_FALSE(fence.Signal(Code::kOk));
  EXPECT_EQ(1, calls);
  EXPECT_EQ(Code::kIo, fence.error());
  EXPECT_GT(fence.timestamp_ns(), 0);
  EXPECT_FALSE(fence.AddCallback([&] { ++calls; }).has_value());
  EXPECT_TRUE(fence.Wait().ok());
}

TEST(FenceTest, WaitIsWokenByAnotherThread) {
  auto fence = std::make_shared<Fence>();
  std::thread t([fence] {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
    fence->Signal();
  });
  EXPECT_TRUE(fence->Wait().ok());
  EXPECT_TRUE(fence->signaled());
  t.join();
}

TEST(FenceTest, DeadlineWaitTimesOutAndNeverOutlivesTheDeadline) {
  Fence fence;
  const int64_t deadline = MonotonicNowNs() + 5'000'000;
  EXPECT_EQ(Code::kTimedOut, fence.WaitUntil(deadline).code());
  EXPECT_GE(MonotonicNowNs(), deadline);
  // A deadline in the past returns at once.
  EXPECT_EQ(Code::kTimedOut, fence.WaitUntil(0).code());
  fence.Signal();
  EXPECT_TRUE(fence.WaitUntil(0).ok());
}

TEST(FenceTest, StaleWakeupsDoNotEndALaterWait) {
  // Signal a fence whose waiter went away, then wait on another: the leftover eventfd count must
  // not make the second wait return early.
  auto first = std::make_shared<Fence>();
  auto second = std::make_shared<Fence>();
  std::thread t([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    second->Signal();
  });
  first->Signal();
  EXPECT_TRUE(second->Wait().ok());
  EXPECT_TRUE(second->signaled());
  t.join();
}

}  // namespace
}  // namespace vkfd::kfd

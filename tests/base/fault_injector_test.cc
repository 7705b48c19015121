#include "base/fault_injector.h"

#include <gtest/gtest.h>
#include <unistd.h>
#include <signal.h>

namespace vkfd {
namespace {

class FaultInjectorTest : public ::testing::Test {
 protected:
  void TearDown() override { FaultInjector::Global().Reset(); }
  FaultInjector& fi() { return FaultInjector::Global(); }
};

TEST_F(FaultInjectorTest, UnarmedByDefault) {
  EXPECT_FALSE(FaultInjector::armed());
  EXPECT_EQ(Code::kOk, FaultInjector::Check(FaultPoint::kMapPageTables, 0).error);
}

TEST_F(FaultInjectorTest, NthEveryAndGpuSelection) {
  std::string error;
  ASSERT_TRUE(fi().Configure("map.page_tables[gpu=1,nth=2]:ENOMEM; alloc.reserve[every=3]:ENOMEM",
                             1, &error))
      << error;
  EXPECT_TRUE(FaultInjector::armed());
  EXPECT_EQ(Code::kOk, FaultInjector::Check(FaultPoint::kMapPageTables, 0).error);
  EXPECT_EQ(Code::kOk, FaultInjector::Check(FaultPoint::kMapPageTables, 1).error);
  EXPECT_EQ(Code::kNoMemory, FaultInjector::Check(FaultPoint::kMapPageTables, 1).error);
  EXPECT_EQ(Code::kOk, FaultInjector::Check(FaultPoint::kMapPageTables, 1).error);
  int fired = 0;
  for (int i = 0; i < 9; ++i) fired += FaultInjector::Check(FaultPoint::kAllocReserve).error != Code::kOk;
  EXPECT_EQ(3, fired);
  auto log = fi().log();
  ASSERT_EQ(4u, log.size());
  EXPECT_EQ(FaultPoint::kMapPageTables, log[0].point);
  EXPECT_EQ(2u, log[0].call);
  EXPECT_EQ(1, log[0].gpu);
  EXPECT_NE(std::string::npos, fi().LogText().find("map.page_tables call=2 gpu=1 effect=ENOMEM"));
}

TEST_F(FaultInjectorTest, TheSameSeedGivesTheSameFaults) {
  auto run = [&](uint64_t seed) {
    std::string error;
    EXPECT_TRUE(fi().Configure("dma.submit[p=0.3]:ENOMEM", seed, &error)) << error;
    std::string pattern;
    for (int i = 0; i < 200; ++i) {
      pattern += FaultInjector::Check(FaultPoint::kDmaSubmit, i % 4).error == Code::kOk ? '.' : 'x';
    }
    return pattern;
  };
  const std::string a = run(42), b = run(42), c = run(43);
  EXPECT_EQ(a, b);
  EXPECT_NE(a, c);
  const auto x = std::count(a.begin(), a.end(), 'x');
  EXPECT_GT(x, 30);
  EXPECT_LT(x, 100);
}

TEST_F(FaultInjectorTest, TimesLimitsFirings) {
  std::string error;
  ASSERT_TRUE(fi().Configure("free[times=2]:EINTR", 0, &error)) << error;
  int fired = 0;
  for (int i = 0; i < 10; ++i) fired += FaultInjector::Check(FaultPoint::kFree).error != Code::kOk;
  EXPECT_EQ(2, fired);
}

TEST_F(FaultInjectorTest, MalformedSpecsAreRejectedWithUsefulMessages) {
  std::string error;
  EXPECT_FALSE(fi().Configure("map.page_table:ENOMEM", 0, &error));
  EXPECT_NE(std::string::npos, error.find("unknown point 'map.page_table'"));
  EXPECT_NE(std::string::npos, error.find("map.page_tables"));  // lists the valid ones
  EXPECT_FALSE(fi().Configure("map.wait:ENOMEM", 0, &error));   // not what the driver returns there
  EXPECT_NE(std::string::npos, error.find("EINTR"));
  EXPECT_FALSE(fi().Configure("map.wait[nth=0]:EINTR", 0, &error));
  EXPECT_FALSE(fi().Configure("map.wait[p=2]:EINTR", 0, &error));
  EXPECT_FALSE(fi().Configure("map.wait[nth=1,every=2]:EINTR", 0, &error));
  EXPECT_FALSE(fi().Configure("map.wait:delay=5parsecs", 0, &error));
  EXPECT_FALSE(fi().Configure("map.wait:signal=SIGFOO", 0, &error));
  EXPECT_FALSE(fi().Configure("map.wait", 0, &error));
  EXPECT_FALSE(FaultInjector::armed());
  EXPECT_EQ(10u, FaultPointNames().size());
}

volatile sig_atomic_t g_got = 0;
void Handler(int) { g_got = g_got + 1; }

// The handler has run `n` times. The kernel runs it before tgkill returns; ThreadSanitizer defers it
// to its next interceptor, so give it a few (bounded).
bool HandlerRan(int n) {
  for (int i = 0; i < 10000 && g_got < n; ++i) usleep(100);
  return g_got == n;
}

TEST_F(FaultInjectorTest, SignalEffectDeliversARealSignalAndReportsTheRestartRule) {
  struct sigaction sa {}, old {};
  sa.sa_handler = Handler;
  sigemptyset(&sa.sa_mask);
  ASSERT_EQ(0, sigaction(SIGUSR2, &sa, &old));
  std::string error;
  ASSERT_TRUE(fi().Configure("map.wait:signal=SIGUSR2", 0, &error)) << error;
  g_got = 0;
  EXPECT_TRUE(FaultInjector::Check(FaultPoint::kMapWait).interrupted);  // no SA_RESTART: EINTR
  EXPECT_TRUE(HandlerRan(1));
  sa.sa_flags = SA_RESTART;
  ASSERT_EQ(0, sigaction(SIGUSR2, &sa, nullptr));
  EXPECT_FALSE(FaultInjector::Check(FaultPoint::kMapWait).interrupted);  // restarted transparently
  EXPECT_TRUE(HandlerRan(2));
  sigaction(SIGUSR2, &old, nullptr);
}

}  // namespace
}  // namespace vkfd

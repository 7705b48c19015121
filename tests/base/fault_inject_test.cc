// The generic engine (base/fault_inject.h): rules on numbered points. The spec text and the driver's
// points are tested where they live (tests/uapi/fault_spec_test.cc).
#include "base/fault_inject.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>

namespace vkfd {
namespace {

constexpr FaultPointId kPointA = 3;
constexpr FaultPointId kPointB = 0;

FaultRule ErrorRule(FaultPointId point, Code code) {
  FaultRule rule;
  rule.point = point;
  rule.effect.kind = FaultEffect::Kind::kError;
  rule.effect.error = code;
  rule.effect.text = "E";
  return rule;
}

class FaultInjectorTest : public ::testing::Test {
 protected:
  void TearDown() override { FaultInjector::Global().Reset(); }
  FaultInjector& fi() { return FaultInjector::Global(); }
};

TEST_F(FaultInjectorTest, UnarmedByDefault) {
  EXPECT_FALSE(FaultInjector::armed());
  EXPECT_EQ(Code::kOk, FaultInjector::Check(kPointA, 0).error);
}

TEST_F(FaultInjectorTest, NthEveryAndGpuSelection) {
  FaultRule second_on_gpu1 = ErrorRule(kPointA, Code::kNoMemory);
  second_on_gpu1.gpu = 1;
  second_on_gpu1.nth = 2;
  FaultRule every_third = ErrorRule(kPointB, Code::kNoMemory);
  every_third.every = 3;
  fi().Arm({second_on_gpu1, every_third}, 1, "two rules");
  EXPECT_TRUE(FaultInjector::armed());
  EXPECT_EQ(Code::kOk, FaultInjector::Check(kPointA, 0).error);
  EXPECT_EQ(Code::kOk, FaultInjector::Check(kPointA, 1).error);
  EXPECT_EQ(Code::kNoMemory, FaultInjector::Check(kPointA, 1).error);
  EXPECT_EQ(Code::kOk, FaultInjector::Check(kPointA, 1).error);
  int fired = 0;
  for (int i = 0; i < 9; ++i) fired += FaultInjector::Check(kPointB).error != Code::kOk;
  EXPECT_EQ(3, fired);
  auto log = fi().log();
  ASSERT_EQ(4u, log.size());
  EXPECT_EQ(kPointA, log[0].point);
  EXPECT_EQ(2u, log[0].call);
  EXPECT_EQ(1, log[0].gpu);
  EXPECT_EQ(4u, fi().fired());
  EXPECT_EQ(4u, fi().reached(kPointA));
  EXPECT_EQ("two rules", fi().description());
}

TEST_F(FaultInjectorTest, TheSameSeedGivesTheSameFaults) {
  auto run = [&](uint64_t seed) {
    FaultRule rule = ErrorRule(kPointA, Code::kNoMemory);
    rule.probability = 0.3;
    fi().Arm({rule}, seed, "p=0.3");
    std::string pattern;
    for (int i = 0; i < 200; ++i) {
      pattern += FaultInjector::Check(kPointA, i % 4).error == Code::kOk ? '.' : 'x';
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
  FaultRule rule = ErrorRule(kPointB, Code::kInterrupted);
  rule.times = 2;
  fi().Arm({rule}, 0, "times=2");
  int fired = 0;
  for (int i = 0; i < 10; ++i) fired += FaultInjector::Check(kPointB).error != Code::kOk;
  EXPECT_EQ(2, fired);
}

TEST_F(FaultInjectorTest, TheSinkSeesEveryFiringAsItHappens) {
  std::vector<uint64_t> calls;
  fi().set_sink([&](const FaultRecord& r) { calls.push_back(r.call); });
  FaultRule rule = ErrorRule(kPointA, Code::kIo);
  rule.every = 2;
  fi().Arm({rule}, 0, "every=2");
  for (int i = 0; i < 6; ++i) FaultInjector::Check(kPointA);
  fi().set_sink(nullptr);
  EXPECT_EQ((std::vector<uint64_t>{2, 4, 6}), calls);
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
  FaultRule rule;
  rule.point = kPointA;
  rule.effect.kind = FaultEffect::Kind::kSignal;
  rule.effect.signo = SIGUSR2;
  fi().Arm({rule}, 0, "signal");
  g_got = 0;
  EXPECT_TRUE(FaultInjector::Check(kPointA).interrupted);  // no SA_RESTART: EINTR
  EXPECT_TRUE(HandlerRan(1));
  sa.sa_flags = SA_RESTART;
  ASSERT_EQ(0, sigaction(SIGUSR2, &sa, nullptr));
  EXPECT_FALSE(FaultInjector::Check(kPointA).interrupted);  // restarted transparently
  EXPECT_TRUE(HandlerRan(2));
  sigaction(SIGUSR2, &old, nullptr);
}

}  // namespace
}  // namespace vkfd

// The fault-injection spec language (uapi/fault_spec.h) over the driver's points (kfd/fault_points.h).
#include "uapi/fault_spec.h"

#include <gtest/gtest.h>

#include "kfd/fault_points.h"

namespace vkfd::uapi {
namespace {

using kfd::CheckFault;
using kfd::FaultPoint;

class FaultSpecTest : public ::testing::Test {
 protected:
  void TearDown() override { FaultInjector::Global().Reset(); }
};

TEST_F(FaultSpecTest, RulesSelectGpuAndCall) {
  ASSERT_TRUE(ArmFaultInjection("map.page_tables[gpu=1,nth=2]:ENOMEM; alloc.reserve[every=3]:ENOMEM", 1)
                  .ok());
  EXPECT_EQ(Code::kOk, CheckFault(FaultPoint::kMapPageTables, 0).error);
  EXPECT_EQ(Code::kOk, CheckFault(FaultPoint::kMapPageTables, 1).error);
  EXPECT_EQ(Code::kNoMemory, CheckFault(FaultPoint::kMapPageTables, 1).error);
  int fired = 0;
  for (int i = 0; i < 9; ++i) fired += CheckFault(FaultPoint::kAllocReserve).error != Code::kOk;
  EXPECT_EQ(3, fired);
  const auto log = FaultInjector::Global().log();
  ASSERT_EQ(4u, log.size());
  EXPECT_EQ("map.page_tables call=2 gpu=1 effect=ENOMEM", FormatFaultRecord(log[0]));
}

TEST_F(FaultSpecTest, EffectsAreTheKernelsErrnoNamesDelaysAndSignals) {
  auto rules = ParseFaultSpec("dma.job:EIO;map.wait:EINTR;free:delay=200us;unmap.wait:signal=SIGRTMIN+2");
  ASSERT_TRUE(rules.ok()) << rules.error();
  ASSERT_EQ(4u, rules->size());
  EXPECT_EQ(Code::kIo, (*rules)[0].effect.error);
  EXPECT_EQ(Code::kInterrupted, (*rules)[1].effect.error);
  EXPECT_EQ(FaultEffect::Kind::kDelay, (*rules)[2].effect.kind);
  EXPECT_EQ(200'000u, (*rules)[2].effect.delay_ns);
  EXPECT_EQ(SIGRTMIN + 2, (*rules)[3].effect.signo);
}

TEST_F(FaultSpecTest, MalformedSpecsAreRejectedWithUsefulMessages) {
  auto bad = ParseFaultSpec("map.page_table:ENOMEM");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(std::string::npos, bad.error().find("unknown point 'map.page_table'"));
  EXPECT_NE(std::string::npos, bad.error().find("map.page_tables"));  // lists the valid ones
  bad = ParseFaultSpec("map.wait:ENOMEM");  // not what the driver returns there
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(std::string::npos, bad.error().find("EINTR")) << bad.error();
  for (const char* spec : {"map.wait[nth=0]:EINTR", "map.wait[p=2]:EINTR", "map.wait[nth=1,every=2]:EINTR",
                           "map.wait:delay=5parsecs", "map.wait:signal=SIGFOO", "map.wait",
                           "map.wait[gpu=x]:EINTR", "map.wait[nth=1:EINTR"}) {
    EXPECT_FALSE(ParseFaultSpec(spec).ok()) << spec;
    EXPECT_FALSE(ArmFaultInjection(spec, 0).ok()) << spec;
  }
  EXPECT_FALSE(FaultInjector::armed());
  EXPECT_EQ(10u, FaultPointNames().size());
}

TEST_F(FaultSpecTest, EveryPointHasANameAndAllowedErrors) {
  for (FaultPoint p : kfd::AllFaultPoints()) {
    EXPECT_EQ(p, kfd::FaultPointByName(kfd::FaultPointName(p)));
    EXPECT_FALSE(kfd::AllowedCodes(p).empty()) << kfd::FaultPointName(p);
  }
}

}  // namespace
}  // namespace vkfd::uapi

// /sys/module/amdgpu/parameters/ in the sysfs tree: 6.1.y amdgpu_drv.c's parameters with their
// defaults as sysfs prints them; pcie_p2p only in a kernel built with CONFIG_HSA_AMD_P2P, which the
// topologies with PCIe peer access describe.
#include <gtest/gtest.h>

#include "hw/topology/topology.h"
#include "uapi/module_parameters.h"
#include "uapi/sysfs_tree.h"

namespace vkfd::uapi {
namespace {

TEST(ModuleParametersTest, DefaultsAsSysfsPrintsThem) {
  auto t = hw::LoadTopology("mi210x2");
  ASSERT_TRUE(t.ok());
  EXPECT_EQ("1\n", ModuleParameter(*t, "cwsr_enable"));
  EXPECT_EQ("-1\n", ModuleParameter(*t, "noretry"));  // the variable, not gmc.noretry
  EXPECT_EQ("0\n", ModuleParameter(*t, "sched_policy"));  // KFD_SCHED_POLICY_HWS
  EXPECT_EQ("4096\n", ModuleParameter(*t, "max_num_of_queues_per_device"));
  EXPECT_EQ("-1\n", ModuleParameter(*t, "hws_max_conc_proc"));
  EXPECT_EQ("N\n", ModuleParameter(*t, "hws_gws_support"));
  EXPECT_EQ("9000\n", ModuleParameter(*t, "queue_preemption_timeout_ms"));
  EXPECT_EQ("0\n", ModuleParameter(*t, "send_sigterm"));
  EXPECT_EQ("0xfff7bfff\n", ModuleParameter(*t, "ppfeaturemask"));  // hexint "%#08x"
  EXPECT_EQ("4294967295\n", ModuleParameter(*t, "gartsize"));       // uint -1
  EXPECT_EQ("(null)\n", ModuleParameter(*t, "virtual_display"));     // charp unset
  EXPECT_EQ("\n", ModuleParameter(*t, "lockup_timeout"));            // an empty string
  EXPECT_EQ("", ModuleParameter(*t, "no_such_parameter"));
  // In the tree, where the interposer serves /sys/module/amdgpu from.
  const FileMap files = SysfsTreeFiles(*t);
  auto it = files.find("sys/module/amdgpu/parameters/cwsr_enable");
  ASSERT_NE(files.end(), it);
  EXPECT_EQ("1\n", it->second);
}

TEST(ModuleParametersTest, PcieP2pOnlyWithPeerAccess) {
  auto with = hw::LoadTopology("mi210x2");  // pcie_peer_access = true
  ASSERT_TRUE(with.ok());
  ASSERT_TRUE(with->pcie_peer_access);
  EXPECT_EQ("Y\n", ModuleParameter(*with, "pcie_p2p"));
  hw::Topology without = *with;
  without.pcie_peer_access = false;
  EXPECT_EQ("", ModuleParameter(without, "pcie_p2p"));
}

}  // namespace
}  // namespace vkfd::uapi

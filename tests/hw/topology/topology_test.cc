// The value types' own rules (topology.cc): who may map whose VRAM.
#include "hw/topology/topology.h"

#include <gtest/gtest.h>

#include "hw/topology/helpers.h"

namespace vkfd::hw::topology_test {
namespace {

// ---------------------------------------------------------------------------------------------
// Peer access rules.

TEST(TopologyPeerTest, PcieAccessDependsOnTheTargetsBar) {
  const Topology topology = MustParse(Mi210() + Mi210("visible_vram = \"256MiB\""));
  EXPECT_TRUE(topology.PeerAccessible(1, 0));   // gpu0 has a large BAR
  EXPECT_FALSE(topology.PeerAccessible(0, 1));  // gpu1 does not
  EXPECT_FALSE(topology.PeerAccessible(0, 2));  // out of range
  EXPECT_FALSE(topology.SameHive(0, 0));        // hive 0 is "no hive"
}

TEST(TopologyPeerTest, PcieAccessCanBeSwitchedOff) {
  const Topology topology = MustParse("pcie_peer_access = false\n" + Mi210("count = 2"));
  EXPECT_FALSE(topology.PeerAccessible(0, 1));
  EXPECT_TRUE(topology.PeerAccessible(1, 1));
}

TEST(TopologyPeerTest, HivesAreSeparate) {
  const Topology topology = MustParse("pcie_peer_access = false\n" + Mi210("count = 2\nhive = 1") +
                                      Mi210("count = 2\nhive = 2"));
  EXPECT_TRUE(topology.PeerAccessible(0, 1));
  EXPECT_TRUE(topology.PeerAccessible(3, 2));
  EXPECT_FALSE(topology.PeerAccessible(1, 2));
  EXPECT_TRUE(topology.SameHive(2, 3));
  EXPECT_FALSE(topology.SameHive(0, 3));
}

}  // namespace
}  // namespace vkfd::hw::topology_test

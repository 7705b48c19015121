// The built-in presets, and loading a topology by preset name or by path (presets.cc; the file
// reading itself is toml_reader.cc's).
#include "hw/topology/topology.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <set>
#include <string>
#include <vector>

#include "hw/topology/helpers.h"

namespace vkfd::hw::topology_test {
namespace {

// ---------------------------------------------------------------------------------------------
// Presets.

TEST(TopologyPresetTest, NamesAreTheShippedFiles) {
  EXPECT_EQ(PresetNames(), kExpectedPresets);
  EXPECT_NE(PresetText("small-bar").find("visible_vram"), std::string_view::npos);
  EXPECT_TRUE(PresetText("no-such-preset").empty());
}

TEST(TopologyPresetTest, EveryPresetLoadsAndRevalidatesUnchanged) {
  for (const std::string& name : PresetNames()) {
    SCOPED_TRACE(name);
    Topology topology = MustLoadPreset(name);
    EXPECT_EQ(topology.name, name);
    EXPECT_FALSE(topology.description.empty());
    EXPECT_EQ(topology.cpu.memory_bytes, HostMemoryBytes());
    EXPECT_TRUE(topology.cpu.memory_from_host);
    ASSERT_FALSE(topology.gpus.empty());

    Topology again = topology;
    const Expected<void> valid = ValidateTopology(&again, name);
    ASSERT_TRUE(valid.ok()) << valid.error();
    EXPECT_EQ(again, topology) << "validation must be idempotent";

    std::set<uint32_t> ids;
    std::set<uint32_t> minors;
    for (const GpuSpec& gpu : topology.gpus) {
      ids.insert(gpu.gpu_id);
      minors.insert(gpu.drm_render_minor);
      EXPECT_NE(gpu.gpu_id, 0u);
      EXPECT_LT(gpu.gpu_id, 0x10000u);
    }
    EXPECT_EQ(ids.size(), topology.gpus.size());
    EXPECT_EQ(minors.size(), topology.gpus.size());
  }
}

TEST(TopologyPresetTest, Mi210PresetsArePciePeers) {
  for (int n : {1, 2, 4, 8}) {
    const Topology topology = MustLoadPreset("mi210x" + std::to_string(n));
    ASSERT_EQ(topology.gpus.size(), static_cast<size_t>(n));
    for (size_t a = 0; a < topology.gpus.size(); ++a) {
      EXPECT_EQ(topology.gpus[a].vram_bytes, 64 * kGiB);
      EXPECT_TRUE(topology.gpus[a].large_bar());
      EXPECT_EQ(topology.gpus[a].hive_id, 0u);
      for (size_t b = 0; b < topology.gpus.size(); ++b) {
        EXPECT_TRUE(topology.PeerAccessible(a, b)) << a << " -> " << b;
        EXPECT_FALSE(topology.SameHive(a, b)) << a << " -> " << b;
      }
    }
  }
}

TEST(TopologyPresetTest, Mi250x8IsOneXgmiHive) {
  const Topology topology = MustLoadPreset("mi250x8");
  ASSERT_EQ(topology.gpus.size(), 8u);
  for (size_t a = 0; a < 8; ++a) {
    EXPECT_EQ(topology.gpus[a].model, "mi250x");
    EXPECT_EQ(topology.gpus[a].vram_bytes, 64 * kGiB);
    EXPECT_EQ(topology.gpus[a].property("device_id"), 0x7408u);
    EXPECT_EQ(topology.gpus[a].property("simd_count"), 440u);
    EXPECT_EQ(topology.gpus[a].property("hive_id"), 1u);
    for (size_t b = 0; b < 8; ++b) {
      EXPECT_TRUE(topology.SameHive(a, b)) << a << " -> " << b;
      EXPECT_TRUE(topology.PeerAccessible(a, b)) << a << " -> " << b;
    }
  }
}

TEST(TopologyPresetTest, HivePeersDoNotNeedPcie) {
  std::string text(PresetText("mi250x8"));
  const std::string from = "pcie_peer_access = true";
  ASSERT_NE(text.find(from), std::string::npos);
  text.replace(text.find(from), from.size(), "pcie_peer_access = false");
  const Topology topology = MustParse(text);
  EXPECT_FALSE(topology.pcie_peer_access);
  EXPECT_TRUE(topology.PeerAccessible(0, 7));
  EXPECT_TRUE(topology.PeerAccessible(7, 0));
}

TEST(TopologyPresetTest, SmallBarHasNoPeerAccess) {
  const Topology topology = MustLoadPreset("small-bar");
  ASSERT_EQ(topology.gpus.size(), 2u);
  for (const GpuSpec& gpu : topology.gpus) {
    EXPECT_EQ(gpu.vram_bytes, 16 * kGiB);
    EXPECT_EQ(gpu.visible_vram_bytes, 256 * kMiB);
    EXPECT_FALSE(gpu.large_bar());
  }
  EXPECT_TRUE(topology.pcie_peer_access);
  EXPECT_FALSE(topology.PeerAccessible(0, 1));
  EXPECT_FALSE(topology.PeerAccessible(1, 0));
  EXPECT_TRUE(topology.PeerAccessible(0, 0));
  EXPECT_TRUE(topology.PeerAccessible(1, 1));
}

// ---------------------------------------------------------------------------------------------
// Loading by name or path.

class TopologyLoadTest : public testing::Test {
 protected:
  std::string WriteFile(const std::string& name, const std::string& text) {
    const std::string path = testing::TempDir() + name;
    std::ofstream(path) << text;
    paths_.push_back(path);
    return path;
  }
  void TearDown() override {
    for (const std::string& path : paths_) std::remove(path.c_str());
  }
  std::vector<std::string> paths_;
};

TEST_F(TopologyLoadTest, PresetByName) {
  Expected<Topology> topology = LoadTopology("mi250x8");
  ASSERT_TRUE(topology.ok()) << topology.error();
  EXPECT_EQ(topology->gpus.size(), 8u);
}

TEST_F(TopologyLoadTest, FileByPath) {
  const std::string path = WriteFile("vkfd_topology_three.toml", Mi210("count = 3"));
  Expected<Topology> topology = LoadTopology(path);
  ASSERT_TRUE(topology.ok()) << topology.error();
  EXPECT_EQ(topology->name, "vkfd_topology_three");
  EXPECT_EQ(topology->gpus.size(), 3u);
}

TEST_F(TopologyLoadTest, ErrorsNameTheFile) {
  const std::string path = WriteFile("vkfd_topology_bad.toml", Mi210("vram = \"3MiB\""));
  const Expected<Topology> topology = LoadTopologyFile(path);
  EXPECT_FALSE(topology.ok());
  EXPECT_EQ(topology.error(), path + ": gpu[0].vram: must be a multiple of 2 MiB, not 3 MiB");
}

TEST_F(TopologyLoadTest, UnknownNameListsThePresets) {
  const Expected<Topology> by_name = LoadTopology("mi210x3");
  EXPECT_FALSE(by_name.ok());
  EXPECT_EQ(by_name.error(),
            "unknown topology 'mi210x3' (presets: mi210x1, mi210x2, mi210x4, mi210x8, mi250x8, "
            "small-bar) and no such file");
  const Expected<Topology> preset = LoadPreset("nope");
  EXPECT_FALSE(preset.ok());
  EXPECT_TRUE(StartsWith(preset.error(), "nope: unknown preset (presets: mi210x1,"))
      << preset.error();
}

TEST_F(TopologyLoadTest, UnreadableFiles) {
  const Expected<Topology> missing = LoadTopologyFile("/nonexistent/x.toml");
  EXPECT_FALSE(missing.ok());
  EXPECT_EQ(missing.error(), "/nonexistent/x.toml: cannot read: No such file or directory");
  const Expected<Topology> directory = LoadTopology("/");
  EXPECT_FALSE(directory.ok());
  EXPECT_EQ(directory.error(), "/: cannot read: Is a directory");
}

}  // namespace
}  // namespace vkfd::hw::topology_test

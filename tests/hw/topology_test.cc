#include "hw/topology.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <set>
#include <string>
#include <utility>
#include <vector>

namespace vkfd::hw {
namespace {

constexpr uint64_t kMiB = 1ull << 20;
constexpr uint64_t kGiB = 1ull << 30;

const std::vector<std::string> kExpectedPresets = {"mi210x1", "mi210x2", "mi210x4",
                                                   "mi210x8", "mi250x8", "small-bar"};

Topology MustLoadPreset(std::string_view name) {
  std::string error;
  std::optional<Topology> topology = LoadPreset(name, &error);
  EXPECT_TRUE(topology.has_value()) << error;
  return topology.value_or(Topology{});
}

Topology MustParse(std::string_view text) {
  std::string error;
  std::optional<Topology> topology = ParseTopology(text, "x.toml", &error);
  EXPECT_TRUE(topology.has_value()) << error << "\n" << text;
  return topology.value_or(Topology{});
}

// The one-line message ParseTopology gives for `text`, which must be rejected.
std::string ParseError(std::string_view text) {
  std::string error;
  std::optional<Topology> topology = ParseTopology(text, "x.toml", &error);
  EXPECT_FALSE(topology.has_value()) << text;
  EXPECT_EQ(error.find('\n'), std::string::npos) << error;
  return error;
}

bool StartsWith(const std::string& text, const std::string& prefix) {
  return text.compare(0, prefix.size(), prefix) == 0;
}

Topology InCode(CpuSpec cpu, std::vector<GpuSpec> gpus) {
  Topology topology;
  topology.cpu = std::move(cpu);
  topology.gpus = std::move(gpus);
  return topology;
}

std::string Mi210(std::string_view extra = "") {
  return "[[gpu]]\nmodel = \"mi210\"\n" + std::string(extra) + "\n";
}

struct RejectCase {
  std::string toml;
  std::string expected;  // the message after "x.toml: ", up to where the test stops caring
};

void ExpectRejected(const std::vector<RejectCase>& cases) {
  for (const RejectCase& c : cases) {
    SCOPED_TRACE(c.toml);
    const std::string error = ParseError(c.toml);
    EXPECT_TRUE(StartsWith(error, "x.toml: " + c.expected))
        << "  actual: " << error << "\nexpected: x.toml: " << c.expected << "...";
  }
}

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
    EXPECT_EQ(topology.cpu.memory_bytes, 256 * kGiB);
    ASSERT_FALSE(topology.gpus.empty());

    Topology again = topology;
    std::string error;
    ASSERT_TRUE(ValidateTopology(&again, name, &error)) << error;
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

// ---------------------------------------------------------------------------------------------
// UniformMi210 (--gpus N).

TEST(TopologyUniformTest, MatchesTheMi210Presets) {
  for (int n : {1, 2, 4, 8}) {
    const std::string name = "mi210x" + std::to_string(n);
    SCOPED_TRACE(name);
    std::string error;
    std::optional<Topology> uniform = UniformMi210(n, &error);
    ASSERT_TRUE(uniform.has_value()) << error;
    const Topology preset = MustLoadPreset(name);
    EXPECT_EQ(uniform->name, preset.name);
    EXPECT_EQ(uniform->description, preset.description);
    EXPECT_EQ(uniform->cpu, preset.cpu);
    ASSERT_EQ(uniform->gpus.size(), preset.gpus.size());
    for (size_t i = 0; i < preset.gpus.size(); ++i) {
      EXPECT_EQ(uniform->gpus[i], preset.gpus[i]) << "gpu " << i;
    }
    EXPECT_EQ(*uniform, preset);
  }
}

TEST(TopologyUniformTest, FourGpusAreWhatTheDocsPromise) {
  std::string error;
  std::optional<Topology> topology = UniformMi210(4, &error);
  ASSERT_TRUE(topology.has_value()) << error;
  EXPECT_EQ(topology->name, "mi210x4");
  EXPECT_TRUE(topology->pcie_peer_access);
  EXPECT_EQ(topology->cpu.cores, 16u);
  EXPECT_EQ(topology->cpu.memory_bytes, 256 * kGiB);
  const std::vector<uint32_t> expected_ids = {0x1000, 0x1111, 0x1222, 0x1333};
  ASSERT_EQ(topology->gpus.size(), 4u);
  std::set<uint64_t> unique_ids;
  for (size_t i = 0; i < 4; ++i) {
    const GpuSpec& gpu = topology->gpus[i];
    SCOPED_TRACE(i);
    EXPECT_EQ(gpu.name, "gpu" + std::to_string(i));
    EXPECT_EQ(gpu.model, "mi210");
    EXPECT_EQ(gpu.gpu_id, expected_ids[i]);
    EXPECT_EQ(gpu.drm_render_minor, 128 + i);
    EXPECT_EQ(gpu.vram_bytes, 64 * kGiB);
    EXPECT_EQ(gpu.visible_vram_bytes, 64 * kGiB);
    EXPECT_EQ(gpu.hive_id, 0u);
    EXPECT_FALSE(gpu.dma.enabled());
    EXPECT_EQ(gpu.property("simd_count"), 416u);
    EXPECT_EQ(gpu.property("gfx_target_version"), 90010u);
    EXPECT_EQ(gpu.property("device_id"), 29711u);
    EXPECT_EQ(gpu.property("vendor_id"), 4098u);
    EXPECT_EQ(gpu.property("drm_render_minor"), 128 + i);
    EXPECT_EQ(gpu.property("location_id"), gpu.location_id);
    EXPECT_EQ(gpu.property("caches_count"), 2u);
    ASSERT_EQ(gpu.caches.size(), 2u);
    EXPECT_EQ(gpu.caches[0].size_kb, 16u);
    EXPECT_EQ(gpu.caches[0].type, 9u);
    EXPECT_EQ(gpu.caches[1].size_kb, 8192u);
    EXPECT_EQ(gpu.caches[1].line_size, 128u);
    unique_ids.insert(gpu.property("unique_id").value_or(0));
    EXPECT_EQ(topology->IndexOfGpuId(gpu.gpu_id), static_cast<int>(i));
  }
  EXPECT_EQ(unique_ids.size(), 4u);
  EXPECT_EQ(unique_ids.count(0), 0u);
  EXPECT_EQ(topology->IndexOfGpuId(0x4242), -1);
  EXPECT_EQ(topology->IndexOfGpuId(0), -1);
}

TEST(TopologyUniformTest, SixteenGpusHaveDistinctIds) {
  std::string error;
  std::optional<Topology> topology = UniformMi210(16, &error);
  ASSERT_TRUE(topology.has_value()) << error;
  std::set<uint32_t> ids, minors, locations;
  for (const GpuSpec& gpu : topology->gpus) {
    ids.insert(gpu.gpu_id);
    minors.insert(gpu.drm_render_minor);
    locations.insert(gpu.location_id);
  }
  EXPECT_EQ(ids.size(), 16u);
  EXPECT_EQ(minors.size(), 16u);
  EXPECT_EQ(locations.size(), 16u);
}

TEST(TopologyUniformTest, RejectsCountsOutsideOneToSixteen) {
  for (int n : {0, -1, 17}) {
    std::string error;
    EXPECT_FALSE(UniformMi210(n, &error).has_value()) << n;
    EXPECT_TRUE(StartsWith(error, "--gpus: must be between 1 and 16")) << error;
  }
}

// ---------------------------------------------------------------------------------------------
// Parsing: defaults, overrides and derived properties.

TEST(TopologyParseTest, MinimalFileGetsDefaults) {
  const Topology topology = MustParse(Mi210());
  EXPECT_EQ(topology.name, "x");  // from the source name
  EXPECT_TRUE(topology.pcie_peer_access);
  // A file without [cpu] describes DefaultCpu(), as validation completes it.
  Topology in_code = InCode(DefaultCpu(), {*DefaultGpu("mi210", 0)});
  std::string error;
  ASSERT_TRUE(ValidateTopology(&in_code, "code", &error)) << error;
  EXPECT_EQ(topology.cpu, in_code.cpu);
  EXPECT_EQ(topology.cpu.cores, 16u);
  EXPECT_EQ(topology.cpu.memory_bytes, 64 * kGiB);
  ASSERT_EQ(topology.gpus.size(), 1u);
  const GpuSpec& gpu = topology.gpus[0];
  EXPECT_EQ(gpu.gpu_id, 0x1000u);
  EXPECT_EQ(gpu.drm_render_minor, 128u);
  EXPECT_EQ(gpu.vram_bytes, 64 * kGiB);
  EXPECT_TRUE(gpu.large_bar());
  EXPECT_FALSE(gpu.dma.enabled());
  EXPECT_EQ(gpu.mem_width, 4096u);
}

TEST(TopologyParseTest, PropertiesFollowKfdOrder) {
  const Topology topology = MustParse(Mi210());
  const auto& gpu = topology.gpus[0].properties;
  ASSERT_FALSE(gpu.empty());
  EXPECT_EQ(gpu.front().first, "cpu_cores_count");
  EXPECT_EQ(gpu.back().first, "max_engine_clk_ccompute");
  auto position = [&](std::string_view key) {
    return std::find_if(gpu.begin(), gpu.end(), [&](const auto& p) { return p.first == key; }) -
           gpu.begin();
  };
  EXPECT_LT(position("simd_count"), position("gfx_target_version"));
  EXPECT_LT(position("drm_render_minor"), position("hive_id"));
  EXPECT_LT(position("unique_id"), position("num_xcc"));
  // Its presence would stop the thunk from synthesising GPU<->GPU io_links.
  EXPECT_EQ(position("p2p_links_count"), static_cast<ptrdiff_t>(gpu.size()));

  const auto& cpu = topology.cpu.properties;
  EXPECT_EQ(cpu.front(), (std::pair<std::string, uint64_t>("cpu_cores_count", 16)));
  EXPECT_EQ(cpu.back().first, "max_engine_clk_ccompute");
  EXPECT_EQ(topology.cpu.caches.size(), 3u);
}

TEST(TopologyParseTest, ExplicitValuesAndOverrides) {
  const Topology topology = MustParse(R"(
name = "custom"
description = "two different GPUs"

[cpu]
cores = 8
memory = "32GiB"

[[cpu.cache]]
level = 1
size = "48KiB"

[cpu.properties]
max_engine_clk_ccompute = 3500

[dma]
job_latency = "200us"
pte_cost = "50ns"

[[gpu]]
model = "mi210"
gpu_id = 0xbeef
render_minor = 200
vram = "32GiB"
visible_vram = "1GiB"
location_id = 0x4100
mem_clk_max = 1200

[gpu.properties]
num_cp_queues = 16
simd_count = 400

[[gpu.cache]]
level = 2
size = "4MiB"
line_size = 128

[gpu.dma]
pte_cost = "10ns"

[[gpu]]
model = "mi250x"
)");
  EXPECT_EQ(topology.name, "custom");
  EXPECT_EQ(topology.cpu.cores, 8u);
  EXPECT_EQ(topology.cpu.memory_bytes, 32 * kGiB);
  ASSERT_EQ(topology.cpu.caches.size(), 1u);
  EXPECT_EQ(topology.cpu.caches[0].size_kb, 48u);
  EXPECT_EQ(topology.cpu.caches[0].type, 5u);  // data | CPU
  const auto& cpu_props = topology.cpu.properties;
  EXPECT_EQ(cpu_props.back(), (std::pair<std::string, uint64_t>("max_engine_clk_ccompute", 3500)));

  ASSERT_EQ(topology.gpus.size(), 2u);
  const GpuSpec& first = topology.gpus[0];
  EXPECT_EQ(first.gpu_id, 0xbeefu);
  EXPECT_EQ(first.drm_render_minor, 200u);
  EXPECT_EQ(first.vram_bytes, 32 * kGiB);
  EXPECT_EQ(first.visible_vram_bytes, 1 * kGiB);
  EXPECT_EQ(first.location_id, 0x4100u);
  EXPECT_EQ(first.mem_clk_max, 1200u);
  EXPECT_EQ(first.property("num_cp_queues"), 16u);
  EXPECT_EQ(first.property("simd_count"), 400u);
  EXPECT_EQ(first.property("drm_render_minor"), 200u);
  EXPECT_EQ(first.property("location_id"), 0x4100u);
  EXPECT_EQ(first.property("caches_count"), 1u);
  ASSERT_EQ(first.caches.size(), 1u);
  EXPECT_EQ(first.caches[0].size_kb, 4096u);
  EXPECT_EQ(first.caches[0].type, 9u);
  EXPECT_EQ(first.dma.job_latency_ns, 200'000u);  // from [dma]
  EXPECT_EQ(first.dma.pte_cost_ns, 10u);          // from [gpu.dma]

  const GpuSpec& second = topology.gpus[1];
  EXPECT_EQ(second.model, "mi250x");
  EXPECT_EQ(second.gpu_id, 0x1111u);
  EXPECT_EQ(second.drm_render_minor, 129u);
  EXPECT_EQ(second.dma.job_latency_ns, 200'000u);
  EXPECT_EQ(second.dma.pte_cost_ns, 50u);

  // SIMD ids continue from one GPU to the next, as KFD numbers them; caches point at their GPU's.
  const uint64_t base0 = first.property("simd_id_base").value_or(0);
  EXPECT_EQ(base0, 0x80001000u);
  EXPECT_EQ(second.property("simd_id_base"), base0 + 400);
  EXPECT_EQ(first.caches[0].processor_id_low, base0);
  EXPECT_EQ(second.caches[1].processor_id_low, base0 + 400);
}

TEST(TopologyParseTest, CountExpandsIntoDistinctGpus) {
  const Topology topology = MustParse(Mi210("count = 3\nhive = 5"));
  ASSERT_EQ(topology.gpus.size(), 3u);
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(topology.gpus[i].name, "gpu" + std::to_string(i));
    EXPECT_EQ(topology.gpus[i].hive_id, 5u);
    EXPECT_EQ(topology.gpus[i].drm_render_minor, 128 + i);
  }
  EXPECT_NE(topology.gpus[0].location_id, topology.gpus[1].location_id);
  EXPECT_NE(topology.gpus[0].property("unique_id"), topology.gpus[1].property("unique_id"));
}

// ---------------------------------------------------------------------------------------------
// Rejections: each names the offending key.

TEST(TopologyRejectTest, SyntaxErrorsGiveTheLine) {
  const std::string error = ParseError("name = \"x\"\n[[gpu]\n");
  EXPECT_TRUE(StartsWith(error, "x.toml: line 2, column ")) << error;
}

TEST(TopologyRejectTest, UnknownKeys) {
  ExpectRejected({
      {"pcie_peer_acess = true\n" + Mi210(),
       "pcie_peer_acess: unknown key (expected one of: name,"},
      {Mi210("vrma = \"64GiB\""), "gpu[0].vrma: unknown key"},
      {"[cpu]\ncore = 4\n" + Mi210(), "cpu.core: unknown key"},
      {"[dma]\nlatency = \"1us\"\n" + Mi210(), "dma.latency: unknown key"},
      {Mi210("[gpu.dma]\npte = \"1ns\""), "gpu[0].dma.pte: unknown key"},
      {Mi210("[[gpu.cache]]\nlevel = 1\nsize = \"16KiB\"\nsizes = 1"),
       "gpu[0].cache[0].sizes: unknown key"},
      {Mi210("[gpu.properties]\nsimd_cont = 4"), "gpu[0].properties.simd_cont: unknown property"},
      {"[cpu.properties]\nnum_gw = 1\n" + Mi210(), "cpu.properties.num_gw: unknown property"},
  });
}

TEST(TopologyRejectTest, WrongTypesAndSyntax) {
  ExpectRejected({
      {"name = 3\n" + Mi210(), "name: must be a string, not an integer"},
      {"pcie_peer_access = 1\n" + Mi210(), "pcie_peer_access: must be true or false"},
      {"[gpu]\nmodel = \"mi210\"\n", "gpu: must be an array of tables ([[gpu]])"},
      {"cpu = 4\n" + Mi210(), "cpu: must be a table"},
      {Mi210("vram = true"), "gpu[0].vram: must be a size"},
      {Mi210("vram = \"64GB\""), "gpu[0].vram: '64GB' is not a size"},
      {Mi210("hive = -1"), "gpu[0].hive: must be between 0 and 4294967295, not -1"},
      {Mi210("count = 0"), "gpu[0].count: must be between 1 and 16, not 0"},
      {Mi210("gpu_id = 1.5"), "gpu[0].gpu_id: must be an integer, not a float"},
      {"[dma]\njob_latency = \"fast\"\n" + Mi210(), "dma.job_latency: 'fast' is not a duration"},
      {"[dma]\npte_cost = \"100\"\n" + Mi210(), "dma.pte_cost: '100' is not a duration"},
      {"[dma]\npte_cost = 100\n" + Mi210(), "dma.pte_cost: must be a duration"},
      {Mi210("[[gpu.cache]]\nsize = \"16KiB\""), "gpu[0].cache[0].level: required"},
      {Mi210("[[gpu.cache]]\nlevel = 1\nsize = 1000"),
       "gpu[0].cache[0].size: must be a multiple of 1 KiB"},
      {"[[gpu]]\ncount = 2\n", "gpu[0].model: required (one of: mi210, mi250x)"},
      {"[[gpu]]\nmodel = \"mi300x\"\n",
       "gpu[0].model: unknown model 'mi300x' (known: mi210, mi250x)"},
      {Mi210("count = 2\ngpu_id = 0x2000"), "gpu[0].gpu_id: cannot be combined with count = 2"},
      {Mi210("count = 2\nrender_minor = 140"),
       "gpu[0].render_minor: cannot be combined with count"},
      {Mi210("count = 9") + Mi210("count = 8"), "gpu[1].count: makes 17 GPUs; at most 16"},
      {Mi210("[gpu.properties]\ndrm_render_minor = 130"),
       "gpu[0].properties.drm_render_minor: is derived from render_minor and cannot be overridden"},
      {Mi210("[gpu.properties]\nhive_id = 1"), "gpu[0].properties.hive_id: is derived from hive"},
      {Mi210("[gpu.properties]\nnum_cp_queues = -4"),
       "gpu[0].properties.num_cp_queues: must be between 0"},
  });
}

TEST(TopologyRejectTest, ValidationRules) {
  ExpectRejected({
      {"name = \"no gpus\"\n", "gpu: at least one GPU ([[gpu]]) is required"},
      {Mi210("gpu_id = 0"), "gpu[0].gpu_id: must be non-zero"},
      {Mi210("gpu_id = 0x10000"), "gpu[0].gpu_id: must be below 0x10000"},
      {Mi210("gpu_id = 0x1234") + Mi210("gpu_id = 0x1234"),
       "gpu[1].gpu_id: 0x1234 is already used by gpu[0]"},
      {Mi210("render_minor = 127"), "gpu[0].render_minor: must be between 128 and 255"},
      {Mi210("render_minor = 256"), "gpu[0].render_minor: must be between 128 and 255"},
      {Mi210("render_minor = 130") + Mi210("render_minor = 130"),
       "gpu[1].render_minor: 130 is already used by gpu[0]"},
      {Mi210("location_id = 0x300") + Mi210("location_id = 0x300"),
       "gpu[1].location_id: 0x300 in domain 0 is already used by gpu[0]"},
      {Mi210("location_id = 0x10000"), "gpu[0].location_id: must be a PCI bus/device/function"},
      {Mi210("vram = \"65MiB\""), "gpu[0].vram: must be a multiple of 2 MiB, not 65 MiB"},
      {Mi210("vram = \"32MiB\""), "gpu[0].vram: must be between 64 MiB and 512 GiB, not 32 MiB"},
      {Mi210("vram = \"1TiB\""), "gpu[0].vram: must be between 64 MiB and 512 GiB, not 1 TiB"},
      {Mi210("visible_vram = \"257MiB\""),
       "gpu[0].visible_vram: must be a non-zero multiple of 2 MiB"},
      {Mi210("visible_vram = 0"), "gpu[0].visible_vram: must be a non-zero multiple of 2 MiB"},
      {Mi210("vram = \"16GiB\"\nvisible_vram = \"32GiB\""),
       "gpu[0].visible_vram: 32 GiB exceeds vram (16 GiB)"},
      {Mi210("hive = 3") + Mi210(), "gpu[0].hive: hive 3 has only this GPU"},
      {Mi210("hive = 1") + Mi210("hive = 1\nvram = \"32GiB\""),
       "gpu[1].vram: 32 GiB differs from gpu[0]'s 64 GiB in hive 1"},
      {"[cpu]\ncores = 0\n" + Mi210(), "cpu.cores: must be > 0"},
      {"[cpu]\nmemory = \"512MiB\"\n" + Mi210(), "cpu.memory: must be at least 1 GiB"},
      {"[cpu]\nmemory = \"1025MiB\"\n" + Mi210(), "cpu.memory: must be a multiple of 2 MiB"},
      {"[[cpu.cache]]\nlevel = 5\nsize = \"1MiB\"\n" + Mi210(),
       "cpu.cache[0].level: must be between 1 and 4"},
      {"[[cpu.cache]]\nlevel = 1\nsize = \"32KiB\"\nline_size = 48\n" + Mi210(),
       "cpu.cache[0].line_size: must be a power of two"},
      {Mi210("[[gpu.cache]]\nlevel = 1\nsize = \"16KiB\"\ntype = 1"),
       "gpu[0].cache: needs a cache of type 9"},
      {Mi210("[[gpu.cache]]\nlevel = 1\nsize = 0"), "gpu[0].cache[0].size: must be non-zero"},
      {Mi210("[gpu.properties]\nsimd_count = 0"), "gpu[0].properties.simd_count: must be > 0"},
      {Mi210("[gpu.properties]\nsimd_per_cu = 0"), "gpu[0].properties.simd_per_cu: must be > 0"},
      {Mi210("[gpu.properties]\ngfx_target_version = 0"),
       "gpu[0].properties.gfx_target_version: must be > 0"},
  });
}

TEST(TopologyRejectTest, CopiesSayWhichEntryTheyCameFrom) {
  const std::string error = ParseError(Mi210("render_minor = 129") + Mi210("count = 2"));
  EXPECT_EQ(error,
            "x.toml: gpu[1].render_minor: 129 is already used by gpu[0] "
            "(gpu[1] is copy 1 of 2 from [[gpu]] entry 1)");
}

TEST(TopologyRejectTest, ValidateTopologyChecksCodeBuiltTopologies) {
  std::string error;
  Topology empty;
  EXPECT_FALSE(ValidateTopology(&empty, "code", &error));
  EXPECT_EQ(error, "code: gpu: at least one GPU ([[gpu]]) is required");

  Topology no_cpu_cache = InCode(CpuSpec{}, {*DefaultGpu("mi210", 0)});
  EXPECT_FALSE(ValidateTopology(&no_cpu_cache, "code", &error));
  EXPECT_EQ(error, "code: cpu.cache: at least one cache is required");

  Topology missing_property = InCode(DefaultCpu(), {*DefaultGpu("mi210", 0)});
  auto& properties = missing_property.gpus[0].properties;
  properties.erase(std::find_if(properties.begin(), properties.end(),
                                [](const auto& p) { return p.first == "simd_per_cu"; }));
  EXPECT_FALSE(ValidateTopology(&missing_property, "code", &error));
  EXPECT_EQ(error, "code: gpu[0].properties.simd_per_cu: required, must be > 0");

  Topology too_many = InCode(DefaultCpu(), {});
  for (size_t i = 0; i < 17; ++i) too_many.gpus.push_back(*DefaultGpu("mi210", i));
  EXPECT_FALSE(ValidateTopology(&too_many, "code", &error));
  EXPECT_EQ(error, "code: gpu: 17 GPUs; at most 16 are supported");

  Topology bad_model = InCode(DefaultCpu(), {*DefaultGpu("mi210", 0)});
  bad_model.gpus[0].model = "mi100";
  EXPECT_FALSE(ValidateTopology(&bad_model, "code", &error));
  EXPECT_TRUE(StartsWith(error, "code: gpu[0].model: unknown model 'mi100'")) << error;

  EXPECT_FALSE(DefaultGpu("mi100", 0).has_value());
}

// ---------------------------------------------------------------------------------------------
// Sizes and durations.

TEST(TopologySizeTest, ParsesBinaryUnits) {
  EXPECT_EQ(ParseSize("64GiB"), 64 * kGiB);
  EXPECT_EQ(ParseSize("256MiB"), 256 * kMiB);
  EXPECT_EQ(ParseSize("256 MiB"), 256 * kMiB);
  EXPECT_EQ(ParseSize("16KiB"), 16u * 1024);
  EXPECT_EQ(ParseSize("2TiB"), 2048 * kGiB);
  EXPECT_EQ(ParseSize("2G"), 2 * kGiB);
  EXPECT_EQ(ParseSize("3M"), 3 * kMiB);
  EXPECT_EQ(ParseSize("1K"), 1024u);
  EXPECT_EQ(ParseSize("1T"), 1024 * kGiB);
  EXPECT_EQ(ParseSize("4096"), 4096u);
  EXPECT_EQ(ParseSize("4096B"), 4096u);
  EXPECT_EQ(ParseSize("0"), 0u);
  EXPECT_EQ(ParseSize("18446744073709551615"), UINT64_MAX);
  EXPECT_EQ(ParseSize("16777215TiB"), 16777215ull << 40);
}

TEST(TopologySizeTest, RejectsGarbageNegativesAndOverflow) {
  for (const char* text : {"", " ", "GiB", "-1", "-1GiB", "+1GiB", "1.5GiB", "64GB", "64gib",
                           "64 GiB x", "0x10", "1e3", "18446744073709551616", "16777216TiB",
                           "99999999999999999999GiB", "17179869184GiB"}) {
    EXPECT_FALSE(ParseSize(text).has_value()) << "'" << text << "'";
  }
}

TEST(TopologyDurationTest, ParsesUnits) {
  EXPECT_EQ(ParseDurationNs("50ns"), 50u);
  EXPECT_EQ(ParseDurationNs("200us"), 200'000u);
  EXPECT_EQ(ParseDurationNs("1ms"), 1'000'000u);
  EXPECT_EQ(ParseDurationNs("2s"), 2'000'000'000u);
  EXPECT_EQ(ParseDurationNs("0"), 0u);
  EXPECT_EQ(ParseDurationNs("0us"), 0u);
  EXPECT_EQ(ParseDurationNs("18446744073s"), 18'446'744'073'000'000'000u);
}

TEST(TopologyDurationTest, RejectsGarbageAndOverflow) {
  for (const char* text : {"", "us", "100", "1h", "1 min", "-1us", "1.5ms", "5sec", "18446744074s",
                           "18446744073709551616ns"}) {
    EXPECT_FALSE(ParseDurationNs(text).has_value()) << "'" << text << "'";
  }
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
  std::string error;
  std::optional<Topology> topology = LoadTopology("mi250x8", &error);
  ASSERT_TRUE(topology.has_value()) << error;
  EXPECT_EQ(topology->gpus.size(), 8u);
}

TEST_F(TopologyLoadTest, FileByPath) {
  const std::string path = WriteFile("vkfd_topology_three.toml", Mi210("count = 3"));
  std::string error;
  std::optional<Topology> topology = LoadTopology(path, &error);
  ASSERT_TRUE(topology.has_value()) << error;
  EXPECT_EQ(topology->name, "vkfd_topology_three");
  EXPECT_EQ(topology->gpus.size(), 3u);
}

TEST_F(TopologyLoadTest, ErrorsNameTheFile) {
  const std::string path = WriteFile("vkfd_topology_bad.toml", Mi210("vram = \"3MiB\""));
  std::string error;
  EXPECT_FALSE(LoadTopologyFile(path, &error).has_value());
  EXPECT_EQ(error, path + ": gpu[0].vram: must be a multiple of 2 MiB, not 3 MiB");
}

TEST_F(TopologyLoadTest, UnknownNameListsThePresets) {
  std::string error;
  EXPECT_FALSE(LoadTopology("mi210x3", &error).has_value());
  EXPECT_EQ(error,
            "unknown topology 'mi210x3' (presets: mi210x1, mi210x2, mi210x4, mi210x8, mi250x8, "
            "small-bar) and no such file");
  EXPECT_FALSE(LoadPreset("nope", &error).has_value());
  EXPECT_TRUE(StartsWith(error, "nope: unknown preset (presets: mi210x1,")) << error;
}

TEST_F(TopologyLoadTest, UnreadableFiles) {
  std::string error;
  EXPECT_FALSE(LoadTopologyFile("/nonexistent/x.toml", &error).has_value());
  EXPECT_EQ(error, "/nonexistent/x.toml: cannot read: No such file or directory");
  EXPECT_FALSE(LoadTopology("/", &error).has_value());
  EXPECT_EQ(error, "/: cannot read: Is a directory");
}

}  // namespace
}  // namespace vkfd::hw

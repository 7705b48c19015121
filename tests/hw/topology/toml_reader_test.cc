// TOML -> Topology (toml_reader.cc): defaults, overrides, `count`, and the messages for files that
// are not well-formed topologies.
#include "hw/topology/topology.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <utility>

#include "hw/topology/helpers.h"

namespace vkfd::hw::topology_test {
namespace {

// ---------------------------------------------------------------------------------------------
// Parsing: defaults, overrides and derived properties.

TEST(TopologyParseTest, MinimalFileGetsDefaults) {
  const Topology topology = MustParse(Mi210());
  EXPECT_EQ(topology.name, "x");  // from the source name
  EXPECT_TRUE(topology.pcie_peer_access);
  // A file without [cpu] describes DefaultCpu(), as validation completes it.
  Topology in_code = InCode(DefaultCpu(), {*DefaultGpu("mi210", 0)});
  const Expected<void> valid = ValidateTopology(&in_code, "code");
  ASSERT_TRUE(valid.ok()) << valid.error();
  EXPECT_EQ(topology.cpu, in_code.cpu);
  EXPECT_EQ(topology.cpu.cores, 16u);
  EXPECT_EQ(topology.cpu.memory_bytes, HostMemoryBytes());  // no cpu.memory: the host's
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
  EXPECT_FALSE(topology.cpu.memory_from_host);  // named: emulated whatever the host has
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

TEST(TopologyRejectTest, CopiesSayWhichEntryTheyCameFrom) {
  const std::string error = ParseError(Mi210("render_minor = 129") + Mi210("count = 2"));
  EXPECT_EQ(error,
            "x.toml: gpu[1].render_minor: 129 is already used by gpu[0] "
            "(gpu[1] is copy 1 of 2 from [[gpu]] entry 1)");
}

}  // namespace
}  // namespace vkfd::hw::topology_test

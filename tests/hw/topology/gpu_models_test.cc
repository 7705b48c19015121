// The model defaults (gpu_models.cc) as `--gpus N` uses them.
#include "hw/topology/topology.h"

#include <gtest/gtest.h>

#include <set>
#include <string>
#include <vector>

#include "hw/topology/helpers.h"

namespace vkfd::hw::topology_test {
namespace {

// ---------------------------------------------------------------------------------------------
// UniformMi210 (--gpus N).

TEST(TopologyUniformTest, MatchesTheMi210Presets) {
  for (int n : {1, 2, 4, 8}) {
    const std::string name = "mi210x" + std::to_string(n);
    SCOPED_TRACE(name);
    Expected<Topology> uniform = UniformMi210(n);
    ASSERT_TRUE(uniform.ok()) << uniform.error();
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
  Expected<Topology> topology = UniformMi210(4);
  ASSERT_TRUE(topology.ok()) << topology.error();
  EXPECT_EQ(topology->name, "mi210x4");
  EXPECT_TRUE(topology->pcie_peer_access);
  EXPECT_EQ(topology->cpu.cores, 16u);
  EXPECT_EQ(topology->cpu.memory_bytes, HostMemoryBytes());
  EXPECT_TRUE(topology->cpu.memory_from_host);
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
    // vkfd serves no SVM ioctl (EPERM, as 6.1.y without CONFIG_HSA_AMD_SVM): HSA_CAP_SVMAPI_SUPPORTED
    // must not be advertised, or HIP's managed memory takes the SVM path.
    EXPECT_EQ(gpu.property("capability").value_or(1u << 27) & (1u << 27), 0u);
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
  Expected<Topology> topology = UniformMi210(16);
  ASSERT_TRUE(topology.ok()) << topology.error();
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
    const Expected<Topology> topology = UniformMi210(n);
    EXPECT_FALSE(topology.ok()) << n;
    EXPECT_TRUE(StartsWith(topology.error(), "--gpus: must be between 1 and 16"))
        << topology.error();
  }
}

}  // namespace
}  // namespace vkfd::hw::topology_test

// Validation (validate.cc): each rule names the offending key, for files and for topologies built
// in code.
#include "hw/topology/topology.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <string>

#include "hw/topology/helpers.h"

namespace vkfd::hw::topology_test {
namespace {

// ---------------------------------------------------------------------------------------------
// Rejections by the rules every topology obeys, from a file or built in code.

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

TEST(TopologyRejectTest, ValidateTopologyChecksCodeBuiltTopologies) {
  Topology empty;
  Expected<void> result = ValidateTopology(&empty, "code");
  EXPECT_FALSE(result.ok());
  EXPECT_EQ(result.error(), "code: gpu: at least one GPU ([[gpu]]) is required");

  Topology no_cpu_cache = InCode(CpuSpec{}, {*DefaultGpu("mi210", 0)});
  result = ValidateTopology(&no_cpu_cache, "code");
  EXPECT_FALSE(result.ok());
  EXPECT_EQ(result.error(), "code: cpu.cache: at least one cache is required");

  Topology missing_property = InCode(DefaultCpu(), {*DefaultGpu("mi210", 0)});
  auto& properties = missing_property.gpus[0].properties;
  properties.erase(std::find_if(properties.begin(), properties.end(),
                                [](const auto& p) { return p.first == "simd_per_cu"; }));
  result = ValidateTopology(&missing_property, "code");
  EXPECT_FALSE(result.ok());
  EXPECT_EQ(result.error(), "code: gpu[0].properties.simd_per_cu: required, must be > 0");

  Topology too_many = InCode(DefaultCpu(), {});
  for (size_t i = 0; i < 17; ++i) too_many.gpus.push_back(*DefaultGpu("mi210", i));
  result = ValidateTopology(&too_many, "code");
  EXPECT_FALSE(result.ok());
  EXPECT_EQ(result.error(), "code: gpu: 17 GPUs; at most 16 are supported");

  Topology bad_model = InCode(DefaultCpu(), {*DefaultGpu("mi210", 0)});
  bad_model.gpus[0].model = "mi100";
  result = ValidateTopology(&bad_model, "code");
  EXPECT_FALSE(result.ok());
  EXPECT_TRUE(StartsWith(result.error(), "code: gpu[0].model: unknown model 'mi100'"))
      << result.error();

  EXPECT_FALSE(DefaultGpu("mi100", 0).has_value());
}

}  // namespace
}  // namespace vkfd::hw::topology_test

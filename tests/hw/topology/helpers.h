// What the topology tests share (tests/hw/topology/*_test.cc): topologies that must load, messages
// that must come out, and small TOML snippets to build files from.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "hw/topology/topology.h"

namespace vkfd::hw::topology_test {

inline constexpr uint64_t kMiB = 1ull << 20;
inline constexpr uint64_t kGiB = 1ull << 30;

inline const std::vector<std::string> kExpectedPresets = {"mi210x1", "mi210x2", "mi210x4",
                                                          "mi210x8", "mi250x8", "small-bar"};

inline Topology MustLoadPreset(std::string_view name) {
  Expected<Topology> topology = LoadPreset(name);
  EXPECT_TRUE(topology.ok()) << topology.error();
  return topology.ok() ? std::move(topology).value() : Topology{};
}

inline Topology MustParse(std::string_view text) {
  Expected<Topology> topology = ParseTopology(text, "x.toml");
  EXPECT_TRUE(topology.ok()) << topology.error() << "\n" << text;
  return topology.ok() ? std::move(topology).value() : Topology{};
}

// The one-line message ParseTopology gives for `text`, which must be rejected.
inline std::string ParseError(std::string_view text) {
  Expected<Topology> topology = ParseTopology(text, "x.toml");
  EXPECT_FALSE(topology.ok()) << text;
  EXPECT_EQ(topology.error().find('\n'), std::string::npos) << topology.error();
  return topology.error();
}

inline bool StartsWith(const std::string& text, const std::string& prefix) {
  return text.compare(0, prefix.size(), prefix) == 0;
}

inline Topology InCode(CpuSpec cpu, std::vector<GpuSpec> gpus) {
  Topology topology;
  topology.cpu = std::move(cpu);
  topology.gpus = std::move(gpus);
  return topology;
}

inline std::string Mi210(std::string_view extra = "") {
  return "[[gpu]]\nmodel = \"mi210\"\n" + std::string(extra) + "\n";
}

struct RejectCase {
  std::string toml;
  std::string expected;  // the message after "x.toml: ", up to where the test stops caring
};

inline void ExpectRejected(const std::vector<RejectCase>& cases) {
  for (const RejectCase& c : cases) {
    SCOPED_TRACE(c.toml);
    const std::string error = ParseError(c.toml);
    EXPECT_TRUE(StartsWith(error, "x.toml: " + c.expected))
        << "  actual: " << error << "\nexpected: x.toml: " << c.expected << "...";
  }
}

}  // namespace vkfd::hw::topology_test

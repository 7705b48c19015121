#include "uapi/environment.h"

#include <algorithm>
#include <cstdlib>

#include "base/parse.h"
#include "uapi/kfd_device.h"
#include "uapi/sysfs_tree.h"

namespace vkfd::uapi {
namespace {

const char* Env(const char* name) {
  const char* value = getenv(name);
  return value != nullptr && *value != '\0' ? value : nullptr;
}

Expected<hw::Topology> TopologyFromEnvironment() {
  Expected<hw::Topology> topology = Fail("");
  if (const char* name = Env("VKFD_TOPOLOGY")) {
    topology = hw::LoadTopology(name);
  } else if (const char* gpus = Env("VKFD_GPUS")) {
    const std::optional<uint64_t> n = ParseU64(gpus);
    if (!n || *n < 1 || *n > 16) {
      return Fail(std::string("VKFD_GPUS: not a GPU count between 1 and 16: '") + gpus + "'");
    }
    topology = hw::UniformMi210(static_cast<int>(*n));
  } else {
    topology = hw::LoadPreset("mi210x2");
  }
  if (!topology.ok()) return topology;
  if (const char* latency = Env("VKFD_DMA_LATENCY")) {
    const std::optional<uint64_t> ns = ParseDurationNs(latency);
    if (!ns) {
      return Fail(std::string("VKFD_DMA_LATENCY: not a duration (e.g. 200us): '") + latency + "'");
    }
    for (hw::GpuSpec& gpu : topology->gpus) {
      gpu.dma.job_latency_ns = std::max(gpu.dma.job_latency_ns, *ns);
    }
  }
  return topology;
}

}  // namespace

const Expected<EmulatedNode>& EmulatedNode::FromEnvironment() {
  static const Expected<EmulatedNode> node = []() -> Expected<EmulatedNode> {
    Expected<hw::Topology> topology = TopologyFromEnvironment();
    if (!topology.ok()) return Fail(topology.error());
    EmulatedNode made;
    made.topology_ = std::move(topology).value();
    if (const char* root = Env("VKFD_ROOT")) {
      made.sysfs_root_ = root;
    } else {
      Expected<std::string> written = EnsureSysfsTree(made.topology_);
      if (!written.ok()) return Fail(written.error());
      made.sysfs_root_ = std::move(written).value();
    }
    return made;
  }();
  return node;
}

Expected<std::unique_ptr<KfdDevice>> EmulatedNode::CreateDevice() const {
  return KfdDevice::Create(topology_);
}

}  // namespace vkfd::uapi

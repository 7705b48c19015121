// EmulatedNode: the node a process emulates, as `vkfd run` describes it in the environment —
// VKFD_TOPOLOGY (a preset name or a TOML file), or VKFD_GPUS (N MI210-like GPUs), default mi210x2;
// VKFD_DMA_LATENCY as a floor on every GPU's page-table job latency; VKFD_ROOT the sysfs tree that
// `vkfd run` already wrote (else it is written here, uapi/sysfs_tree.h).
//
// Read once per process image (exec'd programs read it again); immutable afterwards. The interposer
// asks it for the sysfs directory to redirect paths into and for a device when a process first
// opens /dev/kfd or a render node.
#pragma once

#include <memory>
#include <string>

#include "base/expected.h"
#include "hw/topology/topology.h"

namespace vkfd::uapi {

class KfdDevice;

class EmulatedNode {
 public:
  // The process's node, or a message saying what in the environment is wrong.
  static const Expected<EmulatedNode>& FromEnvironment();

  const hw::Topology& topology() const { return topology_; }
  // The sysfs tree's directory.
  const std::string& sysfs_root() const { return sysfs_root_; }
  // A fresh device for this node (one per process that opens it).
  Expected<std::unique_ptr<KfdDevice>> CreateDevice() const;

 private:
  hw::Topology topology_;
  std::string sysfs_root_;
};

}  // namespace vkfd::uapi

// amdgpu's module parameters (/sys/module/amdgpu/parameters/) as a 6.1.y node shows them: part of the
// sysfs tree (sysfs_tree.h), read by clients (ROCr and rocminfo look at cwsr_enable, noretry, ...).
#pragma once

#include <string>

#include "hw/topology/topology.h"
#include "uapi/sysfs_tree.h"

namespace vkfd::uapi {

// Adds sys/module/amdgpu/parameters/<name> for every parameter 6.1.y's amdgpu_drv.c declares.
void AddModuleParameters(const hw::Topology& topology, FileMap* files);
// One parameter's file contents ("1\n"), or empty if the kernel has no such parameter.
std::string ModuleParameter(const hw::Topology& topology, const std::string& name);

}  // namespace vkfd::uapi

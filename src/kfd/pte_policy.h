// PTE policy: which page-table entries a BO gets on a GPU — the flags amdgpu's get_pte_flags() derives
// for gfx90a (CHIP_ALDEBARAN) from the allocation flags and where the memory is, and the segments
// (VA range → physical range as that GPU reaches it) a mapping consists of.
//
// Pure functions of the BO, the GPU and the node's topology: MAP plans with them and the invariant
// checks (process_checks.cc) compare the page tables against them.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "hw/node.h"
#include "kfd/buffer_object.h"
#include "kfd/gpu_vm.h"

namespace vkfd::kfd {

// R/W/X, MTYPE and SNOOPED for `bo` mapped on GPU `gpu` (index); not VALID, not SYSTEM (the route
// decides that).
uint64_t PteFlagsFor(const hw::Topology& topology, const BufferObject& bo, size_t gpu);
// The segments that map `bo` on GPU `gpu`: one, or two back to back for AQL queue memory, with the
// address the GPU reaches the backing by and kPteSystem when that goes over the system bus.
std::vector<MapSegment> MapSegmentsFor(const hw::Node& node, const BufferObject& bo, size_t gpu);
// What is mapped of `bo` on GPU `gpu` now: MapSegmentsFor when it is mapped, the upper segment of a
// half-mapped AQL BO, else nothing.
std::vector<MapSegment> MappedSegmentsOf(const hw::Node& node, const BufferObject& bo, size_t gpu);

}  // namespace vkfd::kfd

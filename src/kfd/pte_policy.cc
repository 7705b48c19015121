#include "kfd/pte_policy.h"

#include "hw/pte.h"

namespace vkfd::kfd {

uint64_t PteFlagsFor(const hw::Topology& topology, const BufferObject& bo, size_t gpu) {
  // get_pte_flags() for gfx90a (CHIP_ALDEBARAN).
  uint64_t flags = hw::kPteReadable;
  if (bo.attrs.writable) flags |= hw::kPteWriteable;
  if (bo.attrs.executable) flags |= hw::kPteExecutable;
  const bool uc = bo.attrs.uncached || bo.attrs.coherent;
  bool snoop = false;
  if (bo.domain == Domain::kVram) {
    if (bo.owner == gpu) {
      flags |= hw::PteMtype(bo.attrs.uncached   ? hw::Mtype::kUc
                            : bo.attrs.coherent ? hw::Mtype::kCc
                                                : hw::Mtype::kRw);
    } else {
      flags |= hw::PteMtype(uc ? hw::Mtype::kUc : hw::Mtype::kNc);
      snoop = topology.SameHive(gpu, bo.owner);
    }
  } else {
    flags |= hw::PteMtype(uc ? hw::Mtype::kUc : hw::Mtype::kNc);
    snoop = true;
  }
  if (snoop) flags |= hw::kPteSnooped;
  return flags;
}

std::vector<MapSegment> MapSegmentsFor(const hw::Node& node, const BufferObject& bo, size_t gpu) {
  uint64_t pa;
  bool system;
  if (bo.domain == Domain::kUserptr) {
    pa = bo.bus_addr;
    system = true;
  } else {
    const hw::Route route = node.RouteTo(gpu, bo.owner, bo.memfd_offset);
    pa = route.addr;
    system = route.system;
  }
  const uint64_t flags = PteFlagsFor(node.topology(), bo, gpu) | (system ? hw::kPteSystem : 0);
  std::vector<MapSegment> segments;
  segments.push_back(MapSegment{bo.va, bo.backing_size, pa, flags});
  if (bo.attrs.aql_queue) {
    segments.push_back(MapSegment{bo.va + bo.backing_size, bo.backing_size, pa, flags});
  }
  return segments;
}

std::vector<MapSegment> MappedSegmentsOf(const hw::Node& node, const BufferObject& bo, size_t gpu) {
  if (bo.mapped.test(gpu)) return MapSegmentsFor(node, bo, gpu);
  if (bo.upper_mapped.test(gpu)) return {MapSegmentsFor(node, bo, gpu).back()};
  return {};
}

}  // namespace vkfd::kfd

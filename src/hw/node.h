// Node: the emulated machine — the GPUs of a Topology with their memory, page-table pools and DMA
// engines, and the system bus between them.
//
// Physical addressing (what PTE addresses mean):
//  * VRAM: GPU g's memfd offset o has physical address vram_base(g) + o. vram_base is 0 for a GPU
//    outside any hive; inside an XGMI hive each member has its own 1 TiB segment (slot << 40), so one
//    address names the same byte for every member, and peers reach it without kPteSystem.
//  * Everything else goes over the system bus (kPteSystem): GTT, userptr, and peer VRAM over PCIe
//    through the owner's BAR window (large BAR only).
// A Node is built once and lives as long as the emulated machine; its GPUs never change. Thread-safe.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "base/status.h"
#include "hw/dma_engine.h"
#include "hw/dma_scheduler.h"
#include "hw/gpu_memory.h"
#include "hw/page_table_pool.h"
#include "hw/queue/doorbell_aperture.h"
#include "hw/queue/queue_scheduler.h"
#include "hw/system_bus.h"
#include "hw/topology/topology.h"

namespace vkfd::hw {

struct Gpu {
  uint32_t index = 0;
  const GpuSpec* spec = nullptr;
  uint64_t vram_base = 0;
  std::unique_ptr<GpuMemory> memory;
  std::unique_ptr<PageTablePool> page_tables;
  std::unique_ptr<DmaEngine> dma;
  std::unique_ptr<DoorbellAperture> doorbells;
};

// How one GPU reaches a byte: the address a PTE carries and whether it goes over the system bus.
struct Route {
  uint64_t addr = 0;
  bool system = false;
};

class Node {
 public:
  static constexpr uint64_t kHiveSegment = 1ull << 40;

  static Result<std::unique_ptr<Node>> Create(Topology topology);
  // Size of each GPU's GTT region (GpuMemory layout).
  static uint64_t GttWindowBytes(const Topology& topology);
  ~Node();

  const Topology& topology() const { return topology_; }
  size_t gpu_count() const { return gpus_.size(); }
  Gpu& gpu(size_t index) { return *gpus_[index]; }
  const Gpu& gpu(size_t index) const { return *gpus_[index]; }
  SystemBus& bus() { return bus_; }
  const SystemBus& bus() const { return bus_; }
  // The command-processor thread of every GPU's user queues (hw/queue/queue_scheduler.h).
  QueueScheduler& queue_scheduler() { return queue_scheduler_; }

  // The address by which GPU `from` reaches byte `offset` of GPU `owner`'s memfd. The caller has
  // checked peer access (Topology::PeerAccessible) for VRAM.
  Route RouteTo(size_t from, size_t owner, uint64_t offset) const;
  // Host bytes at physical address `addr` as seen from GPU `gpu_index`, or nullptr if nothing is there.
  // *client (optional): the bytes are the client's own memory (a userptr window), see SystemBus.
  uint8_t* Resolve(size_t gpu_index, uint64_t addr, bool system, bool* client = nullptr) const;

 private:
  explicit Node(Topology topology) : topology_(std::move(topology)) {}

  Topology topology_;
  SystemBus bus_;
  DmaScheduler dma_scheduler_;  // serves every GPU's engine; outlives them (declared before gpus_)
  std::vector<std::unique_ptr<Gpu>> gpus_;
  // Declared last, destroyed first: its thread must be gone before the memory its queues read.
  QueueScheduler queue_scheduler_;
};

}  // namespace vkfd::hw

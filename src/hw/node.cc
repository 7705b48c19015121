#include "hw/node.h"

#include <sys/stat.h>

#include <map>

namespace vkfd::hw {

uint64_t Node::GttWindowBytes(const Topology& topology) {
  // KFD lets all GTT together reach 3/8 of system memory (the TTM limit), so a window of that size
  // per GPU always suffices; the slack holds doorbell and MMIO pages, which are not charged.
  const uint64_t ttm = (topology.cpu.memory_bytes >> 1) - (topology.cpu.memory_bytes >> 3);
  return ((ttm + (2ull << 20) - 1) & ~((2ull << 20) - 1)) + (64ull << 20);
}

Result<std::unique_ptr<Node>> Node::Create(Topology topology) {
  if (topology.cpu.memory_bytes == 0) {  // made in code and not validated: the host's, as validation does
    topology.cpu.memory_bytes = HostMemoryBytes();
    topology.cpu.memory_from_host = true;
  }
  std::unique_ptr<Node> node(new Node(std::move(topology)));
  std::map<uint32_t, uint64_t> hive_slots;
  const Topology& topo = node->topology_;
  for (size_t i = 0; i < topo.gpus.size(); ++i) {
    const GpuSpec& spec = topo.gpus[i];
    auto gpu = std::make_unique<Gpu>();
    gpu->index = static_cast<uint32_t>(i);
    gpu->spec = &spec;
    if (spec.hive_id != 0) gpu->vram_base = (hive_slots[spec.hive_id]++) * kHiveSegment;
    auto memory = GpuMemory::Create("vkfd-" + spec.name, spec.vram_bytes, GttWindowBytes(topo));
    if (!memory.ok()) return memory.code();
    gpu->memory = std::move(memory.value());
    gpu->page_tables = std::make_unique<PageTablePool>(gpu->memory.get(), gpu->vram_base);
    gpu->dma = std::make_unique<DmaEngine>(spec.name + "-sdma", spec.dma, &node->dma_scheduler_);
    auto doorbells = DoorbellAperture::Create("vkfd-" + spec.name + "-doorbells");
    if (!doorbells.ok()) return doorbells.code();
    gpu->doorbells = std::move(doorbells.value());
    VKFD_RETURN_IF_ERROR(node->bus_.MapFixed(SystemBus::GttWindow(gpu->index), GttWindowBytes(topo),
                                             gpu->memory->HostPtr(GpuMemory::kGttBase)));
    if (spec.large_bar()) {
      VKFD_RETURN_IF_ERROR(node->bus_.MapFixed(SystemBus::BarWindow(gpu->index), spec.vram_bytes,
                                               gpu->memory->HostPtr(0)));
    }
    node->gpus_.push_back(std::move(gpu));
  }
  // The command processor may watch the client's mappings of the doorbell apertures.
  std::vector<DoorbellWatch::WatchedFile> watched;
  for (const auto& gpu : node->gpus_) {
    struct stat st {};
    if (fstat(gpu->doorbells->fd(), &st) != 0) continue;
    watched.push_back(DoorbellWatch::WatchedFile{static_cast<uint64_t>(st.st_dev),
                                                 static_cast<uint64_t>(st.st_ino),
                                                 gpu->doorbells->host(), DoorbellAperture::kBytes});
  }
  node->queue_scheduler_.SetWatchedFiles(std::move(watched));
  return node;
}

Node::~Node() {
  // Engines first: they drain their queues, whose jobs touch page-table memory.
  for (auto& gpu : gpus_) gpu->dma.reset();
  for (auto& gpu : gpus_) gpu->page_tables.reset();
}

Route Node::RouteTo(size_t from, size_t owner, uint64_t offset) const {
  const Gpu& target = *gpus_[owner];
  if (!target.memory->IsVram(offset)) {
    return Route{SystemBus::GttWindow(target.index) + (offset - GpuMemory::kGttBase), true};
  }
  if (from == owner || topology_.SameHive(from, owner)) {
    return Route{target.vram_base + offset, false};
  }
  return Route{SystemBus::BarWindow(target.index) + offset, true};
}

uint8_t* Node::Resolve(size_t gpu_index, uint64_t addr, bool system, bool* client) const {
  if (client != nullptr) *client = false;
  if (system) return bus_.Translate(addr, client);
  for (size_t i = 0; i < gpus_.size(); ++i) {
    if (i != gpu_index && !topology_.SameHive(gpu_index, i)) continue;
    const Gpu& g = *gpus_[i];
    if (addr >= g.vram_base && addr - g.vram_base < g.spec->vram_bytes) {
      return g.memory->HostPtr(addr - g.vram_base);
    }
  }
  return nullptr;
}

}  // namespace vkfd::hw

#include "kfd/driver.h"

#include "kfd/process.h"

namespace vkfd::kfd {

Result<std::unique_ptr<Driver>> Driver::Create(hw::Topology topology) {
  std::unique_ptr<Driver> driver(new Driver());
  auto node = hw::Node::Create(std::move(topology));
  if (!node.ok()) return node.code();
  driver->node_ = std::move(node.value());
  std::vector<uint64_t> vram;
  for (const auto& gpu : driver->topology().gpus) vram.push_back(gpu.vram_bytes);
  const uint64_t system = driver->topology().cpu.memory_bytes;  // the host's unless named
  driver->limits_ = std::make_unique<MemoryLimits>(system, std::move(vram));
  for (const hw::GpuSpec& gpu : driver->topology().gpus) {
    driver->gem_.push_back(std::make_unique<GemObjects>());
    // kfd_get_num_sdma_engines / kfd_get_num_xgmi_sdma_engines, from the node's properties.
    driver->device_queues_.push_back(std::make_unique<DeviceQueues>(
        static_cast<uint32_t>(gpu.property("num_sdma_engines").value_or(2)),
        static_cast<uint32_t>(gpu.property("num_sdma_xgmi_engines").value_or(0)),
        static_cast<uint32_t>(gpu.property("num_sdma_queues_per_engine").value_or(8))));
    driver->smi_.push_back(std::make_unique<SmiEvents>());
  }
  return driver;
}

Driver::~Driver() {
  std::map<int, std::shared_ptr<Process>> processes;
  std::vector<std::shared_ptr<Process>> retired;
  {
    MutexLock lock(&mu_);
    processes.swap(processes_);
    retired.swap(retired_);
  }
  for (auto& [pid, process] : processes) process->Teardown();
}

std::optional<size_t> Driver::GpuIndex(uint32_t gpu_id) const {
  const int index = node_->topology().IndexOfGpuId(gpu_id);
  if (index < 0) return std::nullopt;
  return static_cast<size_t>(index);
}

void Driver::PutGem(size_t index, uint64_t offset) {
  if (std::optional<GemRelease> release = gem_[index]->Put(offset)) ReleaseGem(*release);
}

void Driver::RevokeGem(size_t index, uint64_t offset) {
  if (std::optional<GemRelease> release = gem_[index]->Revoke(offset)) ReleaseGem(*release);
}

void Driver::ReleaseGem(const GemRelease& release) {
  // amdgpu_bo_release_notify → amdgpu_amdkfd_release_notify: the memory, then the charge.
  if (release.has_backing) {
    node_->gpu(release.gpu).memory->Free(release.memfd_offset, release.backing_size);
  }
  limits_->Unreserve(release.charge);
}

std::shared_ptr<Process> Driver::OpenProcess(int pid) {
  MutexLock lock(&mu_);
  auto& slot = processes_[pid];
  if (!slot) slot = std::make_shared<Process>(this, pid);
  return slot;
}

std::shared_ptr<Process> Driver::FindProcess(int pid) {
  MutexLock lock(&mu_);
  auto it = processes_.find(pid);
  return it == processes_.end() ? nullptr : it->second;
}

void Driver::TeardownProcess(int pid) {
  std::shared_ptr<Process> process;
  {
    MutexLock lock(&mu_);
    auto it = processes_.find(pid);
    if (it == processes_.end()) return;
    process = it->second;
    processes_.erase(it);
    // Kept until the driver goes: open-file records refer to processes without owning them.
    retired_.push_back(process);
  }
  process->Teardown();
}

}  // namespace vkfd::kfd

// Driver: the emulated KFD on one node — the GPUs (hw::Node), memory limits, and the KFD processes.
//
// Life cycle: created from a Topology; OpenProcess returns the process of a pid, creating it on first
// use (kfd_create_process: one KFD process per address space, however often /dev/kfd is opened);
// TeardownProcess runs what the kernel runs when that address space goes away.
//
// Lock order (outermost first), for all of kfd/:
//   Driver::mu_  →  Process::mu_  →  MemoryLimits::mu_ | GemObjects::mu_ | EventTable::mu_ |
//   Fence::mu_ | FenceFile::mu_ | hw locks (GpuMemory, SystemBus, PageTablePool, DmaEngine)
// Everything after Process::mu_ is a leaf: none of them is held while another is taken (PutGem and
// RevokeGem release memory and charge after GemObjects::mu_ is dropped). Above kfd/, the render-node
// mapping table (uapi/cpu_mappings.cc) is held only around host mmap calls and DoorbellWatch::mu_,
// never around a call into the driver. Fence callbacks run after Fence::mu_ is released, on the DMA
// engine's thread or inline in Submit (then under Process::mu_); the only callbacks are FenceFile's,
// which take FenceFile::mu_ alone (its waiter list). DMA completions take only Fence::mu_,
// FenceFile::mu_ and the pool — never a Process lock — which is what makes it safe that fence waits
// hold Process::mu_: the driver's synchronous ones (ACQUIRE_VM's kernel mappings, FREE and teardown
// waiting before they release memory) and, as on 6.1.y, MAP's and UNMAP's interruptible waits (so
// another thread's ioctls of that process wait behind them). The extension designs wait unlocked.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <vector>

#include "base/status.h"
#include "base/thread_annotations.h"
#include "hw/node.h"
#include "hw/topology/topology.h"
#include "kfd/device_queues.h"
#include "kfd/gem_objects.h"
#include "kfd/memory_limits.h"
#include "kfd/smi_events.h"

namespace vkfd::kfd {

class Process;

class Driver {
 public:
  static Result<std::unique_ptr<Driver>> Create(hw::Topology topology);
  ~Driver();

  hw::Node& node() { return *node_; }
  const hw::Topology& topology() const { return node_->topology(); }
  MemoryLimits& limits() { return *limits_; }
  // The device_queue_manager state of GPU `index` (queue counts and SDMA slots of all processes).
  DeviceQueues& device_queues(size_t index) { return *device_queues_[index]; }
  // GPU `index`'s SMI event clients (kfd_dev->smi_clients).
  SmiEvents& smi(size_t index) { return *smi_[index]; }
  size_t gpu_count() const { return node_->gpu_count(); }
  uint32_t gpu_id(size_t index) const { return node_->topology().gpus[index].gpu_id; }
  std::optional<size_t> GpuIndex(uint32_t gpu_id) const;

  // GPU `index`'s render-node objects (kfd/gem_objects.h).
  GemObjects& gem(size_t index) { return *gem_[index]; }
  // Drops a reference to an object of GPU `index`: drm_gem_vm_close of a CPU mapping (Put), or FREE
  // (Revoke). With the last one the memory goes back, and its charge (ReleaseGem).
  void PutGem(size_t index, uint64_t offset);
  void RevokeGem(size_t index, uint64_t offset);
  void ReleaseGem(const GemRelease& release);

  std::shared_ptr<Process> OpenProcess(int pid) EXCLUDES(mu_);
  std::shared_ptr<Process> FindProcess(int pid) EXCLUDES(mu_);
  // Unmaps and frees everything the process holds and forgets it (the object itself stays, empty, until
  // the driver goes: open files may still refer to it).
  void TeardownProcess(int pid) EXCLUDES(mu_);

 private:
  Driver() = default;

  std::unique_ptr<hw::Node> node_;
  std::unique_ptr<MemoryLimits> limits_;
  std::vector<std::unique_ptr<DeviceQueues>> device_queues_;
  std::vector<std::unique_ptr<GemObjects>> gem_;
  std::vector<std::unique_ptr<SmiEvents>> smi_;
  Mutex mu_;
  std::map<int, std::shared_ptr<Process>> processes_ GUARDED_BY(mu_);
  std::vector<std::shared_ptr<Process>> retired_ GUARDED_BY(mu_);  // torn down, kept until ~Driver
};

}  // namespace vkfd::kfd

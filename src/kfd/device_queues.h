// DeviceQueues: what 6.1's device_queue_manager keeps per GPU for every process together — the count
// of user queues (max_num_of_queues_per_device, 4096: -EPERM beyond), the SDMA queues (a device-wide
// bitmap per engine class: num_sdma_engines PCIe-optimised and num_sdma_xgmi_engines XGMI-optimised
// engines, num_sdma_queues_per_engine queues each, as the topology's node properties say; -ENOMEM when
// a class is exhausted or has no engines), and the static SDMA doorbell assignment of SOC15
// (allocate_doorbell: sdma_doorbell_idx[engine] + (queue & 1) · 512 + (queue >> 1), Vega20's table
// 0x100 + 0xA · engine).
//
// Thread-safe; mu_ is a leaf.
#pragma once

#include <cstdint>

#include "base/status.h"
#include "base/thread_annotations.h"

namespace vkfd::kfd {

struct SdmaSlot {
  uint32_t sdma_id = 0;    // index within its class (the bit of the bitmap)
  uint32_t engine = 0;     // engine id counting the PCIe engines first
  uint32_t queue = 0;      // queue on that engine
  uint32_t doorbell_id = 0;
};

class DeviceQueues {
 public:
  static constexpr uint32_t kMaxQueuesPerDevice = 4096;  // max_num_of_queues_per_device default

  DeviceQueues(uint32_t pcie_engines, uint32_t xgmi_engines, uint32_t queues_per_engine);

  // create_queue_cpsch's count check (kPermission beyond the limit), then the count.
  Status AddQueue() EXCLUDES(mu_);
  void RemoveQueue() EXCLUDES(mu_);
  // allocate_sdma_queue: the lowest free slot of the class; kNoMemory when none.
  Result<SdmaSlot> AllocateSdma(bool xgmi) EXCLUDES(mu_);
  void FreeSdma(bool xgmi, uint32_t sdma_id) EXCLUDES(mu_);

 private:
  const uint32_t pcie_engines_;
  const uint32_t xgmi_engines_;
  Mutex mu_;
  uint32_t total_ GUARDED_BY(mu_) = 0;
  uint64_t sdma_free_ GUARDED_BY(mu_) = 0;
  uint64_t xgmi_free_ GUARDED_BY(mu_) = 0;
};

}  // namespace vkfd::kfd

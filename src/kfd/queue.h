// QueueTable: one process's user-mode queues (process_queue_manager) — bookkeeping only: queue ids,
// per-GPU doorbell assignment and the doorbell offset CREATE_QUEUE reports. Nothing executes yet.
//
// Life cycle: created with the process (lazily); a queue lives from Create to Destroy or process exit.
// Queue ids are process-wide, the lowest free one (find_first_zero_bit of the 1024-bit slot bitmap).
// Doorbells are per (process, GPU): a compute queue takes the first free index of a 1024-entry bitmap
// in which the SDMA/IH range 0x100-0x18F and its mirror at +0x200 are reserved; an SDMA queue takes
// the first free index of that reserved range. The doorbell offset is
//   KFD_MMAP_TYPE_DOORBELL | gpu_id << 46 | (index * 8) & (8 KiB - 1 process slice)
// as the 6.1 kernel encodes it for SOC15 GPUs (the thunk masks the low 32 bits for the first queue).
//
// Thread-safe: mu_ is a leaf.
#pragma once

#include <bitset>
#include <cstdint>
#include <map>

#include "base/status.h"
#include "base/thread_annotations.h"

namespace vkfd::kfd {

inline constexpr uint32_t kMaxQueuesPerProcess = 1024;
inline constexpr uint32_t kDoorbellsPerProcess = 1024;
inline constexpr uint32_t kSdmaDoorbellStart = 0x100;
inline constexpr uint32_t kSdmaDoorbellEnd = 0x18F;  // inclusive
inline constexpr uint32_t kMaxQueuePriority = 15;

enum class QueueType : uint32_t { kCompute = 0, kSdma = 1, kComputeAql = 2, kSdmaXgmi = 3 };

struct QueueProperties {
  QueueType type = QueueType::kCompute;
  uint64_t ring_base = 0;
  uint32_t ring_size = 0;
  uint32_t percentage = 0;
  uint32_t priority = 0;
  uint64_t read_ptr = 0, write_ptr = 0;
  uint64_t eop_base = 0, eop_size = 0;
  uint64_t ctx_save_base = 0;
  uint32_t ctx_save_size = 0, ctl_stack_size = 0;
};

struct CreatedQueue {
  uint32_t queue_id = 0;
  uint64_t doorbell_offset = 0;
};

class QueueTable {
 public:
  // kNoMemory when no queue id or doorbell is free (the kernel's -ENOMEM/-EBUSY paths collapse).
  Result<CreatedQueue> Create(size_t gpu_index, uint32_t gpu_id, const QueueProperties& props)
      EXCLUDES(mu_);
  // kInvalidArgs for an unknown queue id.
  Status Destroy(uint32_t queue_id) EXCLUDES(mu_);
  // UPDATE_QUEUE: kFault for an unknown queue id (pqm_update_queue_properties).
  Status Update(uint32_t queue_id, uint64_t ring_base, uint32_t ring_size, uint32_t percentage,
                uint32_t priority) EXCLUDES(mu_);
  size_t count() const EXCLUDES(mu_);

 private:
  struct Queue {
    size_t gpu_index = 0;
    uint32_t doorbell = 0;
    QueueProperties props;
  };

  mutable Mutex mu_;
  std::map<uint32_t, Queue> queues_ GUARDED_BY(mu_);
  std::map<size_t, std::bitset<kDoorbellsPerProcess>> doorbells_ GUARDED_BY(mu_);
};

}  // namespace vkfd::kfd

// QueueTable: one process's user-mode queues (process_queue_manager, with the per-process half of
// device_queue_manager): their ids, their doorbells, the limits 6.1 applies, and the engines that run
// them (hw/queue/user_queue.h).
//
// Rules (kfd_process_queue_manager.c, kfd_device_queue_manager.c, 6.1.y):
//  * queue ids are process-wide, the lowest free of 1024 (find_available_queue_slot: -ENOMEM);
//  * at most 127 queues per (process, GPU) (the HWS limit: -ENOSPC), 4096 per GPU for all processes
//    together (-EPERM, kfd/device_queues.h);
//  * compute queues take the lowest free doorbell of the process's slice on that GPU, skipping the
//    SDMA/IH range 0x100-0x18F and its mirror 0x300-0x38F (init_doorbell_bitmap; -EBUSY when none);
//    SDMA queues take a device-wide SDMA slot and its static doorbell (allocate_sdma_queue,
//    allocate_doorbell; -ENOMEM when the engine class is exhausted);
//  * CREATE_QUEUE reports KFD_MMAP_TYPE_DOORBELL | gpu_id << 46 | doorbell_id · 8.
// A queue runs (its engine is registered with the node's command processor) while it is active as
// QUEUE_IS_ACTIVE says: a ring address and size, a non-zero percentage, not evicted (the process's
// eviction count on that GPU is zero); UPDATE_QUEUE can suspend (percentage 0) and resume it, with a
// new ring.
//
// Engines report through a QueueIrq (kfd/queue_irq.h). Locking: mu_ guards the table; it is never
// held while an engine is stopped or removed (that waits for whoever runs the engine, and the engines'
// callbacks take mu_ to stop a faulting process's queues), so engines are taken out of (or copied
// from) the table first and stopped outside it. Callbacks never take Process::mu_.
#pragma once

#include <bitset>
#include <cstdint>
#include <map>
#include <memory>
#include <span>
#include <vector>

#include "base/status.h"
#include "base/thread_annotations.h"
#include "hw/node.h"
#include "hw/queue/user_queue.h"
#include "kfd/device_queues.h"

namespace vkfd::kfd {

class EventTable;
class QueueIrq;
class SmiEvents;

inline constexpr uint32_t kMaxQueuesPerProcess = 1024;     // KFD_MAX_NUM_OF_QUEUES_PER_PROCESS
inline constexpr uint32_t kMaxQueuesPerDevicePerProcess = 127;  // the HWS limit
inline constexpr uint32_t kDoorbellsPerProcess = 1024;
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

// What a queue needs of the GPU it runs on.
struct QueueGpu {
  hw::Node* node = nullptr;
  size_t gpu_index = 0;
  uint32_t gpu_id = 0;
  uint64_t vm_root = 0;           // the process's page tables on that GPU
  uint32_t doorbell_slice = 0;    // the process's slice of that GPU's doorbell aperture
  DeviceQueues* device = nullptr;
  SmiEvents* smi = nullptr;       // the GPU's SMI clients (VM-fault events)
  uint64_t completion_latency_ns = 0;  // the GPU's timing model
};

// GET_QUEUE_WAVE_STATE's answer.
struct WaveState {
  uint32_t ctl_stack_used_size = 0;
  uint32_t save_area_used_size = 0;
  uint64_t ctl_stack_copy_bytes = 0;  // zero bytes the CP copies to the control-stack address
};

class QueueTable {
 public:
  QueueTable(std::shared_ptr<EventTable> events, int pid);
  // Stops and destroys every queue (process exit, kfd_process_dequeue_from_all_devices).
  ~QueueTable();
  QueueTable(const QueueTable&) = delete;
  QueueTable& operator=(const QueueTable&) = delete;

  // pqm_create_queue after the argument checks and the bind: kNoSpace (127 on this GPU), kNoMemory
  // (no queue id; no SDMA slot), kPermission (4096 on the GPU), kBusy (no doorbell).
  Result<CreatedQueue> Create(const QueueGpu& gpu, const QueueProperties& props) EXCLUDES(mu_);
  // pqm_destroy_queue: kInvalidArgs for an unknown id. Waits for the packet in flight.
  Status Destroy(uint32_t queue_id) EXCLUDES(mu_);
  // pqm_update_queue_properties: kFault for an unknown id.
  Status Update(uint32_t queue_id, uint64_t ring_base, uint32_t ring_size, uint32_t percentage,
                uint32_t priority) EXCLUDES(mu_);
  // pqm_update_mqd with a CU mask: kFault for an unknown id. (The emulated CP has no CUs to mask.)
  Status SetCuMask(uint32_t queue_id, const std::vector<uint32_t>& mask) EXCLUDES(mu_);
  // get_wave_state: kFault unknown id; kInvalidArgs for an SDMA queue or an active compute queue.
  Result<WaveState> GetWaveState(uint32_t queue_id) EXCLUDES(mu_);
  // pqm_set_gws: kInvalidArgs unknown id (the ioctl's own check), kBusy when another queue of the
  // process on that GPU holds GWS, kInvalidArgs releasing when none is held. The GPU of the queue is
  // returned in *gpu_index.
  Status SetGws(uint32_t queue_id, bool acquire, size_t* gpu_index) EXCLUDES(mu_);
  // The dispatch extension (VKFD_IOC_SUBMIT): appends `packets` to the queue's ring as its producer
  // would (hw/queue/queue_producer.h) and, when `run_here`, runs the queue's packet processor on the
  // calling thread until it is drained or would wait; what remains goes to the command processor.
  // Returns the write position before the packets. kInvalidArgs: unknown queue, a queue without a
  // ring, or packets that are not whole / larger than the ring; kNoSpace: the ring is full now;
  // kCanceled: the queue faulted or failed (nothing it is given will run); kFault: the ring is not
  // mapped on its GPU. Never takes the process lock; safe against a concurrent Destroy.
  Result<uint64_t> Submit(uint32_t queue_id, std::span<const uint8_t> packets, bool run_here)
      EXCLUDES(mu_);
  // The GPU a queue is on (kInvalidArgs unknown).
  Result<size_t> GpuOf(uint32_t queue_id) const EXCLUDES(mu_);

  // evict_process_queues_cpsch on one GPU (the qpd->evicted count): the first eviction stops every
  // queue of the process there (the packet in flight finishes), later ones only count; a queue made
  // or updated while evicted stays inactive (is_evicted). kfd_dqm_evict_pasid calls it for a GPU page
  // fault and nothing ever restores that count, so those queues never run again. `except` is an
  // engine already stopped (the faulting one). Callable from an engine's callback.
  void EvictGpu(size_t gpu_index, const hw::UserQueue* except = nullptr) EXCLUDES(mu_);
  // restore_process_queues_cpsch on one GPU: the count goes down; at zero every queue that is
  // active by its properties runs again, from where it stopped.
  void RestoreGpu(size_t gpu_index) EXCLUDES(mu_);
  // How many evictions GPU `gpu_index` is under (tests, inspection).
  uint32_t EvictionCount(size_t gpu_index) const EXCLUDES(mu_);

  size_t count() const EXCLUDES(mu_);
  // The engine of a queue, for the dispatch extension and tests (null: unknown or inactive).
  hw::UserQueue* EngineOf(uint32_t queue_id) const EXCLUDES(mu_);

 private:
  struct Queue {
    QueueGpu gpu;
    QueueProperties props;
    uint32_t doorbell_id = 0;
    bool sdma = false;
    bool xgmi = false;
    uint32_t sdma_id = 0;
    bool gws = false;
    std::unique_ptr<QueueIrq> irq;
    std::shared_ptr<hw::UserQueue> engine;  // while active; shared so a stop outside mu_ is safe
  };
  struct PerGpu {
    uint32_t queue_count = 0;
    std::bitset<kDoorbellsPerProcess> doorbells;
    uint32_t evicted = 0;  // qpd->evicted
  };

  // QUEUE_IS_ACTIVE: a ring, a non-zero percentage, and the GPU not evicted for this process.
  static bool PropertiesActive(const QueueProperties& p) {
    return p.ring_base != 0 && p.ring_size != 0 && p.percentage > 0;
  }
  bool ActiveLocked(const Queue& q) REQUIRES(mu_) {
    return PropertiesActive(q.props) && GpuLocked(q.gpu.gpu_index).evicted == 0;
  }
  // Makes the engine of an active queue and registers it with the command processor.
  void StartLocked(uint32_t queue_id, Queue& q) REQUIRES(mu_);
  PerGpu& GpuLocked(size_t gpu_index) REQUIRES(mu_);

  const std::shared_ptr<EventTable> events_;
  const int pid_;
  mutable Mutex mu_;
  std::map<uint32_t, Queue> queues_ GUARDED_BY(mu_);
  std::map<size_t, PerGpu> gpus_ GUARDED_BY(mu_);
};

// Stops an engine and takes it off the command processor; it may then be destroyed.
void RetireEngine(hw::Node* node, std::shared_ptr<hw::UserQueue> engine);

}  // namespace vkfd::kfd

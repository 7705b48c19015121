#include "kfd/queue.h"

#include "kfd/mmap_offsets.h"

namespace vkfd::kfd {
namespace {

bool IsSdma(QueueType type) { return type == QueueType::kSdma || type == QueueType::kSdmaXgmi; }

// kfd_alloc_process_doorbells reserves the SDMA/IH range (and its mirror) for non-CP use.
bool ReservedForNonCp(uint32_t index) {
  const uint32_t low = index & (kDoorbellsPerProcess / 2 - 1);
  return low >= kSdmaDoorbellStart && low <= kSdmaDoorbellEnd;
}

}  // namespace

Result<CreatedQueue> QueueTable::Create(size_t gpu_index, uint32_t gpu_id,
                                        const QueueProperties& props) {
  MutexLock lock(&mu_);
  uint32_t qid = 0;
  while (qid < kMaxQueuesPerProcess && queues_.count(qid) != 0) ++qid;
  if (qid == kMaxQueuesPerProcess) return Code::kNoMemory;
  auto& used = doorbells_[gpu_index];
  uint32_t doorbell = kDoorbellsPerProcess;
  if (IsSdma(props.type)) {
    for (uint32_t i = kSdmaDoorbellStart; i <= kSdmaDoorbellEnd; ++i) {
      if (!used.test(i)) {
        doorbell = i;
        break;
      }
    }
  } else {
    for (uint32_t i = 0; i < kDoorbellsPerProcess; ++i) {
      if (!ReservedForNonCp(i) && !used.test(i)) {
        doorbell = i;
        break;
      }
    }
  }
  if (doorbell == kDoorbellsPerProcess) return Code::kNoMemory;
  used.set(doorbell);
  queues_[qid] = Queue{gpu_index, doorbell, props};
  CreatedQueue out;
  out.queue_id = qid;
  // doorbell_off is in dwords; * 4 gives bytes; 64-bit doorbells on SOC15 are 8 bytes apart.
  out.doorbell_offset = kMmapTypeDoorbell | MmapGpuId(gpu_id) |
                        ((uint64_t{doorbell} * 8) & (kDoorbellProcessSlice - 1));
  return out;
}

Status QueueTable::Destroy(uint32_t queue_id) {
  MutexLock lock(&mu_);
  auto it = queues_.find(queue_id);
  if (it == queues_.end()) return Status(Code::kInvalidArgs);
  doorbells_[it->second.gpu_index].reset(it->second.doorbell);
  queues_.erase(it);
  return Status::Ok();
}

Status QueueTable::Update(uint32_t queue_id, uint64_t ring_base, uint32_t ring_size,
                          uint32_t percentage, uint32_t priority) {
  MutexLock lock(&mu_);
  auto it = queues_.find(queue_id);
  if (it == queues_.end()) return Status(Code::kFault);
  QueueProperties& p = it->second.props;
  p.ring_base = ring_base;
  p.ring_size = ring_size;
  p.percentage = percentage;
  p.priority = priority;
  return Status::Ok();
}

size_t QueueTable::count() const {
  MutexLock lock(&mu_);
  return queues_.size();
}

}  // namespace vkfd::kfd

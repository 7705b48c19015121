#include "kfd/queue.h"

#include <cstdio>

#include "hw/queue/queue_producer.h"
#include "hw/queue/queue_scheduler.h"
#include "kfd/event.h"
#include "kfd/mmap_offsets.h"
#include "kfd/queue_irq.h"

namespace vkfd::kfd {
namespace {

constexpr uint32_t kNonCpFirst = 0x100;  // vega20 first_non_cp
constexpr uint32_t kNonCpLast = 0x18F;   // vega20 last_non_cp
constexpr uint32_t kMirror = 512;

bool IsSdma(QueueType type) { return type == QueueType::kSdma || type == QueueType::kSdmaXgmi; }

const char* TypeName(QueueType type) {
  switch (type) {
    case QueueType::kCompute: return "PM4";
    case QueueType::kSdma: return "SDMA";
    case QueueType::kComputeAql: return "AQL";
    case QueueType::kSdmaXgmi: return "SDMA XGMI";
  }
  return "?";
}

}  // namespace

void RetireEngine(hw::Node* node, std::shared_ptr<hw::UserQueue> engine) {
  if (!engine) return;
  engine->Stop();  // the packet in flight finishes, nothing more is read
  node->queue_scheduler().Remove(engine.get());
}

QueueTable::QueueTable(std::shared_ptr<EventTable> events, int pid)
    : events_(std::move(events)), pid_(pid) {}

QueueTable::~QueueTable() {
  std::vector<std::pair<hw::Node*, std::shared_ptr<hw::UserQueue>>> engines;
  std::vector<std::unique_ptr<QueueIrq>> irqs;
  {
    MutexLock lock(&mu_);
    for (auto& [qid, q] : queues_) {
      if (q.sdma) q.gpu.device->FreeSdma(q.xgmi, q.sdma_id);
      q.gpu.device->RemoveQueue();
      engines.emplace_back(q.gpu.node, std::move(q.engine));
      irqs.push_back(std::move(q.irq));
    }
    queues_.clear();
  }
  for (auto& [node, engine] : engines) RetireEngine(node, std::move(engine));
}

QueueTable::PerGpu& QueueTable::GpuLocked(size_t gpu_index) {
  auto [it, made] = gpus_.try_emplace(gpu_index);
  if (made) {
    // init_doorbell_bitmap: the SDMA/IH doorbells and their mirror are not for CP queues.
    for (uint32_t i = kNonCpFirst; i <= kNonCpLast; ++i) {
      it->second.doorbells.set(i);
      it->second.doorbells.set(i + kMirror);
    }
  }
  return it->second;
}

Result<CreatedQueue> QueueTable::Create(const QueueGpu& gpu, const QueueProperties& props) {
  MutexLock lock(&mu_);
  PerGpu& per_gpu = GpuLocked(gpu.gpu_index);
  if (per_gpu.queue_count >= kMaxQueuesPerDevicePerProcess) return Code::kNoSpace;
  uint32_t qid = 0;
  while (qid < kMaxQueuesPerProcess && queues_.count(qid) != 0) ++qid;
  if (qid == kMaxQueuesPerProcess) return Code::kNoMemory;
  Queue q;
  q.gpu = gpu;
  q.props = props;
  q.sdma = IsSdma(props.type);
  q.xgmi = props.type == QueueType::kSdmaXgmi;
  // create_queue_cpsch: the device's count, then the SDMA slot, then the doorbell.
  VKFD_RETURN_IF_ERROR(gpu.device->AddQueue());
  if (q.sdma) {
    auto slot = gpu.device->AllocateSdma(q.xgmi);
    if (!slot.ok()) {
      gpu.device->RemoveQueue();
      return slot.code();
    }
    q.sdma_id = slot->sdma_id;
    q.doorbell_id = slot->doorbell_id;
  } else {
    uint32_t id = 0;
    while (id < kDoorbellsPerProcess && per_gpu.doorbells.test(id)) ++id;
    if (id == kDoorbellsPerProcess) {
      gpu.device->RemoveQueue();
      return Code::kBusy;
    }
    per_gpu.doorbells.set(id);
    q.doorbell_id = id;
  }
  ++per_gpu.queue_count;
  q.irq = std::make_unique<QueueIrq>(events_, this, pid_, gpu.gpu_id, gpu.gpu_index, qid, gpu.smi);
  const uint32_t doorbell_id = q.doorbell_id;
  auto& stored = queues_.emplace(qid, std::move(q)).first->second;
  if (ActiveLocked(stored)) StartLocked(qid, stored);
  CreatedQueue out;
  out.queue_id = qid;
  // doorbell_off in dwords; · 4 is bytes, within the 8 KiB process slice (8-byte doorbells).
  out.doorbell_offset = kMmapTypeDoorbell | MmapGpuId(gpu.gpu_id) |
                        ((uint64_t{doorbell_id} * 8) & (kDoorbellProcessSlice - 1));
  return out;
}

void QueueTable::StartLocked(uint32_t queue_id, Queue& q) {
  hw::QueueConfig config;
  switch (q.props.type) {
    case QueueType::kComputeAql: config.kind = hw::QueueKind::kAql; break;
    case QueueType::kCompute: config.kind = hw::QueueKind::kPm4; break;
    case QueueType::kSdma:
    case QueueType::kSdmaXgmi: config.kind = hw::QueueKind::kSdma; break;
  }
  config.gpu_index = q.gpu.gpu_index;
  config.root_phys = q.gpu.vm_root;
  config.ring_va = q.props.ring_base;
  config.ring_bytes = q.props.ring_size;
  config.rptr_va = q.props.read_ptr;
  config.wptr_va = q.props.write_ptr;
  config.doorbell = q.gpu.node->gpu(q.gpu.gpu_index).doorbells->Doorbell(q.gpu.doorbell_slice,
                                                                         q.doorbell_id);
  config.client = q.irq.get();
  config.completion_latency_ns = q.gpu.completion_latency_ns;
  char name[96];
  snprintf(name, sizeof(name), "gpu 0x%x queue %u (%s)", q.gpu.gpu_id, queue_id,
           TypeName(q.props.type));
  config.name = name;
  q.engine = std::shared_ptr<hw::UserQueue>(hw::UserQueue::Create(*q.gpu.node, std::move(config)));
  q.irq->set_engine(q.engine.get());
  q.gpu.node->queue_scheduler().Add(q.engine.get());
}

Status QueueTable::Destroy(uint32_t queue_id) {
  std::shared_ptr<hw::UserQueue> engine;
  std::unique_ptr<QueueIrq> irq;
  hw::Node* node = nullptr;
  {
    MutexLock lock(&mu_);
    auto it = queues_.find(queue_id);
    if (it == queues_.end()) return Status(Code::kInvalidArgs);
    Queue& q = it->second;
    PerGpu& per_gpu = GpuLocked(q.gpu.gpu_index);
    if (q.sdma) {
      q.gpu.device->FreeSdma(q.xgmi, q.sdma_id);
    } else {
      per_gpu.doorbells.reset(q.doorbell_id);
    }
    --per_gpu.queue_count;
    q.gpu.device->RemoveQueue();
    node = q.gpu.node;
    engine = std::move(q.engine);
    irq = std::move(q.irq);
    queues_.erase(it);
  }
  RetireEngine(node, std::move(engine));  // outside mu_: it waits for the command processor
  irq.reset();  // after the engine: nothing calls it any more
  return Status::Ok();
}

Status QueueTable::Update(uint32_t queue_id, uint64_t ring_base, uint32_t ring_size,
                          uint32_t percentage, uint32_t priority) {
  std::shared_ptr<hw::UserQueue> old;
  hw::Node* node = nullptr;
  {
    MutexLock lock(&mu_);
    auto it = queues_.find(queue_id);
    if (it == queues_.end()) return Status(Code::kFault);
    Queue& q = it->second;
    q.props.ring_base = ring_base;
    q.props.ring_size = ring_size;
    q.props.percentage = percentage;
    q.props.priority = priority;
    node = q.gpu.node;
    old = std::move(q.engine);  // the engine restarts from the ring and pointers in memory
  }
  RetireEngine(node, std::move(old));
  MutexLock lock(&mu_);
  auto it = queues_.find(queue_id);
  if (it != queues_.end() && !it->second.engine && ActiveLocked(it->second)) {
    StartLocked(queue_id, it->second);
  }
  return Status::Ok();
}

Status QueueTable::SetCuMask(uint32_t queue_id, const std::vector<uint32_t>&) {
  MutexLock lock(&mu_);
  return Status(queues_.count(queue_id) != 0 ? Code::kOk : Code::kFault);
}

Result<WaveState> QueueTable::GetWaveState(uint32_t queue_id) {
  MutexLock lock(&mu_);
  auto it = queues_.find(queue_id);
  if (it == queues_.end()) return Code::kFault;
  const Queue& q = it->second;
  // get_wave_state: only compute queues, only while not active (the CP must have saved the waves).
  if (q.sdma || ActiveLocked(q)) return Code::kInvalidArgs;
  WaveState state;
  // A queue that never ran: init_mqd set the control stack empty, nothing saved.
  state.ctl_stack_copy_bytes = q.props.ctx_save_base != 0 ? q.props.ctl_stack_size : 0;
  return state;
}

Status QueueTable::SetGws(uint32_t queue_id, bool acquire, size_t* gpu_index) {
  MutexLock lock(&mu_);
  auto it = queues_.find(queue_id);
  if (it == queues_.end()) return Status(Code::kInvalidArgs);
  Queue& q = it->second;
  *gpu_index = q.gpu.gpu_index;
  bool held = false;
  for (const auto& [id, other] : queues_) {
    if (other.gpu.gpu_index == q.gpu.gpu_index && other.gws) held = true;
  }
  if (acquire && held) return Status(Code::kBusy);
  // Releasing: 6.1 checks the process-wide count, then frees this queue's GWS (a NULL dereference
  // when another queue holds it; vkfd says EINVAL instead).
  if (!acquire && !q.gws) return Status(Code::kInvalidArgs);
  q.gws = acquire;
  return Status::Ok();
}

Result<uint64_t> QueueTable::Submit(uint32_t queue_id, std::span<const uint8_t> packets,
                                    bool run_here) {
  std::shared_ptr<hw::UserQueue> engine;
  hw::RingLayout ring;
  QueueGpu gpu;
  {
    MutexLock lock(&mu_);
    auto it = queues_.find(queue_id);
    if (it == queues_.end()) return Code::kInvalidArgs;
    const Queue& q = it->second;
    if (q.props.ring_base == 0) return Code::kInvalidArgs;
    switch (q.props.type) {
      case QueueType::kComputeAql: ring.kind = hw::QueueKind::kAql; break;
      case QueueType::kCompute: ring.kind = hw::QueueKind::kPm4; break;
      case QueueType::kSdma:
      case QueueType::kSdmaXgmi: ring.kind = hw::QueueKind::kSdma; break;
    }
    ring.ring_va = q.props.ring_base;
    ring.ring_bytes = q.props.ring_size;
    ring.rptr_va = q.props.read_ptr;
    ring.wptr_va = q.props.write_ptr;
    gpu = q.gpu;
    engine = q.engine;  // shared: a concurrent Destroy stops it, we only find it stopped
  }
  if (engine) {
    const hw::QueueState state = engine->state();
    if (state == hw::QueueState::kFaulted || state == hw::QueueState::kError) return Code::kCanceled;
  }
  const hw::VmAccess vm(*gpu.node, gpu.gpu_index, gpu.vm_root);
  hw::VmFault fault;
  auto position = hw::ProduceOnRing(vm, ring, packets, &fault);
  if (!position.ok()) return position.code();
  if (engine) {
    const auto run = run_here ? engine->RunOnCaller(hw::QueueScheduler::kBudgetBytes)
                              : hw::UserQueue::CallerRun::kElsewhere;
    if (run != hw::UserQueue::CallerRun::kDone) gpu.node->queue_scheduler().Kick();
  }
  return position.value();
}

Result<size_t> QueueTable::GpuOf(uint32_t queue_id) const {
  MutexLock lock(&mu_);
  auto it = queues_.find(queue_id);
  if (it == queues_.end()) return Code::kInvalidArgs;
  return it->second.gpu.gpu_index;
}

void QueueTable::EvictGpu(size_t gpu_index, const hw::UserQueue* except) {
  std::vector<std::shared_ptr<hw::UserQueue>> engines;
  {
    MutexLock lock(&mu_);
    if (GpuLocked(gpu_index).evicted++ > 0) return;
    for (auto& [qid, q] : queues_) {
      if (q.gpu.gpu_index == gpu_index && q.engine && q.engine.get() != except) {
        engines.push_back(q.engine);
      }
    }
  }
  for (auto& engine : engines) engine->Stop();  // outside mu_: waits for the packet in flight
}

void QueueTable::RestoreGpu(size_t gpu_index) {
  std::vector<std::pair<hw::Node*, std::shared_ptr<hw::UserQueue>>> engines;
  {
    MutexLock lock(&mu_);
    PerGpu& per_gpu = GpuLocked(gpu_index);
    if (per_gpu.evicted == 0 || --per_gpu.evicted > 0) return;
    for (auto& [qid, q] : queues_) {
      if (q.gpu.gpu_index != gpu_index || !PropertiesActive(q.props)) continue;
      if (!q.engine) {
        StartLocked(qid, q);  // made or updated while evicted
      } else {
        engines.emplace_back(q.gpu.node, q.engine);
      }
    }
  }
  for (auto& [node, engine] : engines) {
    engine->Resume();  // a faulted or failed engine stays so
    node->queue_scheduler().Kick();
  }
}

uint32_t QueueTable::EvictionCount(size_t gpu_index) const {
  MutexLock lock(&mu_);
  auto it = gpus_.find(gpu_index);
  return it == gpus_.end() ? 0 : it->second.evicted;
}

size_t QueueTable::count() const {
  MutexLock lock(&mu_);
  return queues_.size();
}

hw::UserQueue* QueueTable::EngineOf(uint32_t queue_id) const {
  MutexLock lock(&mu_);
  auto it = queues_.find(queue_id);
  return it == queues_.end() ? nullptr : it->second.engine.get();
}

}  // namespace vkfd::kfd

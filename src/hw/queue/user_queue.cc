#include "hw/queue/user_queue.h"

#include "base/futex.h"
#include "base/trace.h"
#include "hw/queue/aql_processor.h"
#include "hw/queue/pm4_processor.h"
#include "hw/queue/sdma_processor.h"

namespace vkfd::hw {

std::unique_ptr<UserQueue> UserQueue::Create(const Node& node, QueueConfig config) {
  switch (config.kind) {
    case QueueKind::kAql: return std::make_unique<AqlProcessor>(node, std::move(config));
    case QueueKind::kPm4: return std::make_unique<Pm4Processor>(node, std::move(config));
    case QueueKind::kSdma: return std::make_unique<SdmaProcessor>(node, std::move(config));
  }
  return nullptr;
}

UserQueue::UserQueue(const Node& node, QueueConfig config)
    : node_(node),
      config_(std::move(config)),
      vm_(node, config_.gpu_index, config_.root_phys),
      trace_track_(trace::NewTrack(config_.name)) {}

bool UserQueue::WantsService() const {
  if (state() != QueueState::kRunning || stop_requested_.load(std::memory_order_acquire)) {
    return false;
  }
  if (EngineBusy()) return true;
  // A doorbell write since the last look is the cheap, common signal; the write pointer decides.
  if (config_.doorbell->load(std::memory_order_acquire) !=
      seen_doorbell_.load(std::memory_order_relaxed)) {
    return true;
  }
  return RingHasWork();
}

bool UserQueue::Service(uint64_t budget_bytes, int64_t* wake_at_ns) {
  if (state() != QueueState::kRunning) return false;
  if (stop_requested_.load(std::memory_order_acquire)) {
    state_.store(QueueState::kStopped, std::memory_order_release);
    return false;
  }
  return ServiceEngine(budget_bytes, wake_at_ns);
}

UserQueue::CallerRun UserQueue::RunOnCaller(uint64_t budget_bytes) {
  if (!TryAcquireRun()) return CallerRun::kElsewhere;
  int64_t wake_at_ns = 0;
  (void)Service(budget_bytes, &wake_at_ns);  // progress or not, the caller only needs what is left
  const bool more = WantsService();  // under the run flag: the engine's state is ours to read
  ReleaseRun();
  return more ? CallerRun::kMore : CallerRun::kDone;
}

void UserQueue::ReleaseRun() {
  running_.store(false, std::memory_order_seq_cst);
  run_released_.fetch_add(1, std::memory_order_seq_cst);
  // Only Stop() sleeps on the flag; the command processor releases it on every look at the queue,
  // so the wake-up system call is made only when someone waits.
  if (run_waiters_.load(std::memory_order_seq_cst) != 0) FutexWakeAll(&run_released_);
}

void UserQueue::Stop() {
  stop_requested_.store(true, std::memory_order_seq_cst);
  // Whoever runs the queue finishes its packet and returns; then the run flag is ours.
  run_waiters_.fetch_add(1, std::memory_order_seq_cst);
  for (;;) {
    const uint32_t seen = run_released_.load(std::memory_order_seq_cst);
    if (TryAcquireRun()) break;
    FutexWait(&run_released_, seen);
  }
  run_waiters_.fetch_sub(1, std::memory_order_seq_cst);
  Quiesce();
  QueueState expected = QueueState::kRunning;
  state_.compare_exchange_strong(expected, QueueState::kStopped, std::memory_order_acq_rel);
  ReleaseRun();
}

void UserQueue::Resume() {
  QueueState expected = QueueState::kStopped;
  if (state_.compare_exchange_strong(expected, QueueState::kRunning, std::memory_order_acq_rel)) {
    // Look at the ring again: doorbell writes made while stopped were kept, not acted on.
    seen_doorbell_.store(~0ull, std::memory_order_relaxed);
  }
  stop_requested_.store(false, std::memory_order_release);
}

void UserQueue::Fault(const VmFault& fault) {
  state_.store(QueueState::kFaulted, std::memory_order_release);
  trace::Instant(trace_track_, "fault", "VM fault",
                 {trace::Hex("va", fault.va), trace::Str("access", fault.write ? "write" : "read"),
                  trace::Str("page", fault.present ? "present (protection)" : "not present")});
  if (config_.client != nullptr) config_.client->OnVmFault(fault);
}

void UserQueue::Fail(uint32_t code, const std::string& what) {
  state_.store(QueueState::kError, std::memory_order_release);
  trace::Instant(trace_track_, "fault", "queue error", {trace::Hex("code", code)}, what);
  if (config_.client != nullptr) config_.client->OnQueueError(code, what);
}

}  // namespace vkfd::hw

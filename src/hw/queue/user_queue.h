// UserQueue: one user-mode queue as the GPU's engines see it — a ring in the process's GPU VM, a read
// and a write pointer in memory, a 64-bit doorbell, and the packet processor that executes what the
// ring holds (AQL on the compute engine, PM4 on the compute engine, SDMA on a DMA engine).
//
// The hardware knows no processes: a queue knows its VM (the page-table root of its process on its
// GPU, every address it touches is translated through it, hw/vm_access.h) and reports upward through
// a QueueClient — interrupts carrying a context id (the KFD event id), GPU page faults, queue errors.
//
// State machine:
//   kRunning   the scheduler (hw/queue/queue_scheduler.h) services it whenever its doorbell or write
//              pointer moved, or it waits on something (a barrier, a poll) that may have changed.
//   kStopped   Stop() (eviction, destruction, process exit): the packet in flight is finished, then
//              nothing more is read from the ring; Resume() continues where it stopped.
//   kFaulted   a GPU page fault: stopped for good, as 6.1 evicts a faulting process's queues on that
//              GPU and never restores them (kfd_dqm_evict_pasid).
//   kError     a packet the engine cannot execute (a malformed packet, a kernel vkfd does not run):
//              stopped for good, reported once to the client (and, on AQL queues, to the runtime
//              through the queue's inactive signal, as the CP does).
//
// Threading: Service() is called by one thread at a time (the scheduler's, or a submitting thread
// through the dispatch extension), guarded by the queue's run flag; Stop() may be called from any
// thread and returns once no packet is in flight.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>

#include "base/status.h"
#include "hw/node.h"
#include "hw/vm_access.h"

namespace vkfd::hw {

enum class QueueKind : uint8_t { kAql, kPm4, kSdma };

// What the hardware tells the queue's owner. Called on the servicing thread, with no hw lock held.
class QueueClient {
 public:
  virtual ~QueueClient() = default;
  // An interrupt with `context_id` (its low `valid_bits` meaningful): CP end-of-pipe (32 bits) or an
  // SDMA trap (28 bits). The event's mailbox slot has been written before.
  virtual void OnInterrupt(uint32_t context_id, int valid_bits) = 0;
  // A GPU page fault by this queue; the queue is kFaulted.
  virtual void OnVmFault(const VmFault& fault) = 0;
  // The queue went to kError; `what` is one line for the log.
  virtual void OnQueueError(uint32_t code, const std::string& what) = 0;
};

struct QueueConfig {
  QueueKind kind = QueueKind::kAql;
  size_t gpu_index = 0;
  uint64_t root_phys = 0;   // the process's page tables on this GPU
  uint64_t ring_va = 0;
  uint64_t ring_bytes = 0;  // a power of two
  uint64_t rptr_va = 0;     // AQL: &amd_queue.read_dispatch_id; PM4/SDMA: the thunk's rptr
  uint64_t wptr_va = 0;     // AQL: &amd_queue.write_dispatch_id; PM4/SDMA: the thunk's wptr
  const std::atomic<uint64_t>* doorbell = nullptr;  // the queue's 64-bit doorbell
  QueueClient* client = nullptr;
  uint64_t completion_latency_ns = 0;  // timing model: a completion becomes visible this late
  std::string name;                    // for logs: "gpu 0x1000 queue 3 (AQL)"
};

enum class QueueState : uint8_t { kRunning, kStopped, kFaulted, kError };

class UserQueue {
 public:
  static std::unique_ptr<UserQueue> Create(const Node& node, QueueConfig config);
  virtual ~UserQueue() = default;
  UserQueue(const UserQueue&) = delete;
  UserQueue& operator=(const UserQueue&) = delete;

  const QueueConfig& config() const { return config_; }
  // The queue's track in a trace (base/trace.h): its packets, faults and errors.
  uint32_t trace_track() const { return trace_track_; }
  QueueState state() const { return state_.load(std::memory_order_acquire); }

  // Whether a Service() call could make progress now: running, and a packet is in flight or waiting,
  // or the write pointer in memory is ahead of the read pointer. The doorbell alone cannot say: the
  // runtime's first AQL doorbell value is 0 (the index of packet 0), the value the doorbell held before.
  // Cheap (a few loads and one translation); the scheduler asks it often, holding the run flag.
  bool WantsService() const;
  // Executes packets until the ring is empty, the queue waits (barrier, poll, a completion the
  // timing model delays), `budget_bytes` of copying are done, or it leaves kRunning. True if anything
  // happened. *wake_at_ns (if the queue waits for a time) receives when to look again.
  bool Service(uint64_t budget_bytes, int64_t* wake_at_ns);

  // Finish the packet in flight, then read no more (eviction, destruction). Returns once nothing is
  // in flight. Idempotent; a faulted or failed queue stays so.
  void Stop();
  void Resume();

  // Runs the queue on the calling thread (the dispatch extension): Service() with `budget_bytes`
  // if the run flag is free. kElsewhere: another thread runs it now; kMore: work is left (a wait, a
  // budget) for the command processor; kDone: nothing left.
  enum class CallerRun { kElsewhere, kMore, kDone };
  CallerRun RunOnCaller(uint64_t budget_bytes);

  // The run flag: whoever holds it may call Service(). Non-blocking.
  bool TryAcquireRun() { return !running_.exchange(true, std::memory_order_seq_cst); }
  void ReleaseRun();

  struct Stats {
    uint64_t packets = 0;
    uint64_t bytes_moved = 0;
  };
  Stats stats() const { return Stats{packets_.load(), bytes_.load()}; }

 protected:
  UserQueue(const Node& node, QueueConfig config);

  // The engine-specific part of Service(): the same contract, called with the run flag held and the
  // queue running. Set *in_flight while a packet is partly done.
  virtual bool ServiceEngine(uint64_t budget_bytes, int64_t* wake_at_ns) = 0;
  // True when the engine has a packet in flight or is waiting on something that may change by itself
  // (a signal value, a time).
  virtual bool EngineBusy() const = 0;
  // The write pointer in memory is ahead of what the engine has consumed.
  virtual bool RingHasWork() const = 0;
  // Called by Stop() with the run flag held: deliver what the engine has finished but not yet
  // reported (completions the timing model delays).
  virtual void Quiesce() {}

  // Stop() was asked for: engines check it between packets and return.
  bool stopping() const { return stop_requested_.load(std::memory_order_acquire); }
  // Stops the queue for good and tells the client.
  void Fault(const VmFault& fault);
  void Fail(uint32_t code, const std::string& what);
  void CountPacket() { packets_.fetch_add(1, std::memory_order_relaxed); }
  void CountBytes(uint64_t n) { bytes_.fetch_add(n, std::memory_order_relaxed); }

  const Node& node_;
  const QueueConfig config_;
  const VmAccess vm_;
  const uint32_t trace_track_;
  // The doorbell value last acted on; a different one means new work.
  std::atomic<uint64_t> seen_doorbell_{~0ull};

 private:
  std::atomic<QueueState> state_{QueueState::kRunning};
  std::atomic<bool> stop_requested_{false};
  std::atomic<bool> running_{false};
  std::atomic<uint32_t> run_released_{0};  // futex word: bumped when the run flag is released
  std::atomic<uint32_t> run_waiters_{0};   // threads asleep in Stop() on run_released_
  std::atomic<uint64_t> packets_{0};
  std::atomic<uint64_t> bytes_{0};
};

}  // namespace vkfd::hw

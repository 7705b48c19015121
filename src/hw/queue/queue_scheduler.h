// QueueScheduler: the node's command-processor thread — it notices doorbell writes and runs the
// queues' packet processors (hw/queue/user_queue.h).
//
// A doorbell is a page the client writes with plain stores: nothing traps, so noticing is polling.
// The thread polls only while there is reason to: it spins (a few loads per queue per pass) for a
// short window after the last progress, then sleeps with a growing interval (20 µs up to 2 ms) until
// a queue moves or someone kicks it (queue creation, a thread starting to wait in WAIT_EVENTS, the
// dispatch extension). So a busy stream of packets is served within microseconds, a queue that has
// nothing to do costs at most ~500 cheap wake-ups a second, and a packet submitted after a long idle
// period waits at most one sleep interval (2 ms). docs/gpu-side.md has the measurements.
//
// One thread for the node's queues of every GPU, as one DMA service thread serves every engine
// (hw/dma_scheduler.h): on small hosts, one thread per GPU would only serialise the host's wake-ups.
// A pass gives each queue a budget of bytes to move before the next queue's turn, so a long copy on
// one queue does not starve the others for more than one budget.
//
// Life cycle and locking: Add() starts the thread at the first queue; Remove() returns once the
// thread no longer refers to the queue (it waits for a pass in progress). pass_mu_ is held for a
// pass; queue callbacks (QueueClient) run inside it, so they must not call Remove() or take a lock
// that a Remove() caller holds. mu_ (the queue list) is a leaf.
#pragma once

#include <atomic>
#include <cstdint>
#include <thread>
#include <vector>

#include "base/thread_annotations.h"

namespace vkfd::hw {

class UserQueue;

class QueueScheduler {
 public:
  QueueScheduler() = default;
  ~QueueScheduler();
  QueueScheduler(const QueueScheduler&) = delete;
  QueueScheduler& operator=(const QueueScheduler&) = delete;

  void Add(UserQueue* queue) EXCLUDES(mu_, pass_mu_);
  void Remove(UserQueue* queue) EXCLUDES(mu_, pass_mu_);
  // Look at every queue now (and poll closely for a while).
  void Kick();

  // Tuning (docs/gpu-side.md measures both ends).
  static constexpr int64_t kSpinNs = 500'000;      // keep polling this long after progress
  static constexpr int64_t kMinSleepNs = 20'000;
  static constexpr int64_t kMaxSleepNs = 2'000'000;
  static constexpr uint64_t kBudgetBytes = 8ull << 20;  // per queue per pass

  struct Stats {
    uint64_t passes = 0;
    uint64_t sleeps = 0;
  };
  Stats stats() const { return Stats{passes_.load(), sleeps_.load()}; }

 private:
  void Loop();

  Mutex mu_;
  std::vector<UserQueue*> queues_ GUARDED_BY(mu_);
  uint64_t generation_ GUARDED_BY(mu_) = 0;
  Mutex pass_mu_;
  std::atomic<uint32_t> kick_{0};
  std::atomic<bool> stop_{false};
  std::thread thread_;
  bool started_ GUARDED_BY(mu_) = false;
  std::atomic<uint64_t> passes_{0};
  std::atomic<uint64_t> sleeps_{0};
};

}  // namespace vkfd::hw

// QueueScheduler: the node's command-processor thread — it notices doorbell writes and runs the
// queues' packet processors (hw/queue/user_queue.h).
//
// A doorbell is a page the client writes with plain stores: nothing traps by itself. The thread polls
// only while there is reason to: it spins (a few loads per queue per pass) for a short window after
// the last progress, then sleeps with a growing interval (20 µs up to 2 ms) until a queue moves or
// someone kicks it (queue creation, the dispatch extension). Once no queue has had anything to do for
// kDeepSleepAfterNs, it makes the doorbells trap (hw/queue/doorbell_watch.h: the client's doorbell
// mappings write-protected) and sleeps until a doorbell write, a kick or a queue's timed wait wakes it.
// So a busy stream of packets is served within microseconds, idle queues cost no CPU, and the first
// doorbell after idleness pays one page-fault trap. If the doorbells cannot all be watched (a mapping
// vkfd does not know), the thread keeps polling at 2 ms. docs/gpu-side.md has the measurements.
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
#include "hw/queue/doorbell_watch.h"

namespace vkfd::hw {

class UserQueue;

class QueueScheduler {
 public:
  QueueScheduler() = default;
  ~QueueScheduler();
  QueueScheduler(const QueueScheduler&) = delete;
  QueueScheduler& operator=(const QueueScheduler&) = delete;

  // The doorbell files whose client mappings may be watched (one per GPU), before the first Add.
  void SetWatchedFiles(std::vector<DoorbellWatch::WatchedFile> files) EXCLUDES(mu_);
  // The word a watched doorbell's trap bumps and wakes (DoorbellWatch::Register).
  std::atomic<uint32_t>* kick_word() { return &kick_; }

  void Add(UserQueue* queue) EXCLUDES(mu_, pass_mu_);
  void Remove(UserQueue* queue) EXCLUDES(mu_, pass_mu_);
  // Look at every queue now (and poll closely for a while).
  void Kick();

  // Tuning (docs/gpu-side.md measures both ends).
  static constexpr int64_t kSpinNs = 500'000;      // keep polling this long after progress
  static constexpr int64_t kMinSleepNs = 20'000;
  static constexpr int64_t kMaxSleepNs = 2'000'000;
  static constexpr int64_t kDeepSleepAfterNs = 50'000'000;  // idle this long: watch the doorbells
  static constexpr int64_t kArmRetryNs = 1'000'000'000;      // after the doorbells could not be
  static constexpr uint64_t kBudgetBytes = 8ull << 20;  // per queue per pass

  struct Stats {
    uint64_t passes = 0;
    uint64_t sleeps = 0;
    uint64_t deep_sleeps = 0;  // sleeps with the doorbells watched and no deadline
  };
  Stats stats() const { return Stats{passes_.load(), sleeps_.load(), deep_sleeps_.load()}; }

 private:
  void Loop();
  // Watches the doorbells and sleeps until woken; false if they cannot be watched (keep polling).
  bool DeepSleep(uint32_t kick) EXCLUDES(mu_, pass_mu_);

  Mutex mu_;
  std::vector<UserQueue*> queues_ GUARDED_BY(mu_);
  uint64_t generation_ GUARDED_BY(mu_) = 0;
  Mutex pass_mu_;
  std::atomic<uint32_t> kick_{0};
  std::atomic<uint32_t> sleeping_{0};  // the thread is in (or entering) its FutexWait on kick_
  std::atomic<bool> stop_{false};
  std::thread thread_;
  bool started_ GUARDED_BY(mu_) = false;
  std::atomic<uint64_t> passes_{0};
  std::atomic<uint64_t> sleeps_{0};
  std::atomic<uint64_t> deep_sleeps_{0};
  std::vector<DoorbellWatch::WatchedFile> watched_ GUARDED_BY(mu_);
};

}  // namespace vkfd::hw

#include "hw/queue/queue_scheduler.h"

#include <pthread.h>
#include <signal.h>

#include <algorithm>
#include <cstdio>

#include "base/futex.h"
#include "base/service_signals.h"
#include "hw/queue/user_queue.h"

namespace vkfd::hw {
namespace {

inline void CpuRelax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
}

}  // namespace

QueueScheduler::~QueueScheduler() {
  DoorbellWatch::Global().ForgetTarget(&kick_);
  stop_.store(true, std::memory_order_seq_cst);
  Kick();
  if (thread_.joinable()) thread_.join();
}

void QueueScheduler::SetWatchedFiles(std::vector<DoorbellWatch::WatchedFile> files) {
  MutexLock lock(&mu_);
  watched_ = std::move(files);
}

void QueueScheduler::Add(UserQueue* queue) {
  {
    MutexLock lock(&mu_);
    queues_.push_back(queue);
    ++generation_;
    if (!started_) {
      started_ = true;
      // The thread takes no signals meant for the program's threads, but its faults reach the
      // recovery handler (base/service_signals.h).
      const sigset_t mask = ServiceThreadSignalMask();
      sigset_t old;
      pthread_sigmask(SIG_SETMASK, &mask, &old);
      thread_ = std::thread([this] { Loop(); });
      pthread_sigmask(SIG_SETMASK, &old, nullptr);
    }
  }
  Kick();
}

void QueueScheduler::Remove(UserQueue* queue) {
  {
    MutexLock lock(&mu_);
    queues_.erase(std::remove(queues_.begin(), queues_.end(), queue), queues_.end());
    ++generation_;
  }
  // A pass that took its list before the removal may still hold the queue: wait for it to end.
  MutexLock pass(&pass_mu_);
}

void QueueScheduler::Kick() {
  kick_.fetch_add(1, std::memory_order_seq_cst);
  // The thread re-reads kick_ before every sleep (FutexWait compares it): a system call is only
  // needed when it is asleep, or about to be.
  if (sleeping_.load(std::memory_order_seq_cst) != 0) FutexWakeAll(&kick_);
}

void QueueScheduler::Loop() {
  std::vector<UserQueue*> list;
  uint64_t seen_generation = ~0ull;
  int64_t last_progress = MonotonicNowNs();
  uint32_t kicks_seen = kick_.load(std::memory_order_seq_cst);
  int64_t arm_retry_at = 0;
  while (!stop_.load(std::memory_order_acquire)) {
    const uint32_t kick = kick_.load(std::memory_order_seq_cst);
    if (kick != kicks_seen) {
      kicks_seen = kick;
      last_progress = MonotonicNowNs();  // a kick opens a new spin window
    }
    bool progress = false;
    bool wanted = false;
    int64_t wake_at = 0;
    {
      MutexLock pass(&pass_mu_);
      {
        MutexLock lock(&mu_);
        if (generation_ != seen_generation) {
          list = queues_;
          seen_generation = generation_;
        }
      }
      for (UserQueue* q : list) {
        if (!q->TryAcquireRun()) continue;  // a submitting thread runs it right now
        int64_t when = 0;
        if (q->WantsService()) {
          wanted = true;
          progress |= q->Service(kBudgetBytes, &when);
        }
        q->ReleaseRun();
        if (when != 0 && (wake_at == 0 || when < wake_at)) wake_at = when;
      }
    }
    passes_.fetch_add(1, std::memory_order_relaxed);
    const int64_t now = MonotonicNowNs();
    if (progress) {
      last_progress = now;
      continue;
    }
    const int64_t idle = now - last_progress;
    if (idle < kSpinNs && (wake_at == 0 || wake_at - now < kSpinNs)) {
      for (int i = 0; i < 64; ++i) CpuRelax();
      continue;
    }
    if (!wanted && wake_at == 0 && idle >= kDeepSleepAfterNs && now >= arm_retry_at) {
      if (DeepSleep(kick)) continue;
      arm_retry_at = now + kArmRetryNs;  // reading /proc/self/maps is not free: not every pass
    }
    int64_t sleep = std::clamp<int64_t>(idle / 8, kMinSleepNs, kMaxSleepNs);
    if (wake_at != 0) sleep = std::max<int64_t>(0, std::min(sleep, wake_at - now));
    sleeps_.fetch_add(1, std::memory_order_relaxed);
    if (sleep > 0) {
      sleeping_.store(1, std::memory_order_seq_cst);
      FutexWait(&kick_, kick, now + sleep);
      sleeping_.store(0, std::memory_order_relaxed);
    }
  }
}

bool QueueScheduler::DeepSleep(uint32_t kick) {
  std::vector<DoorbellWatch::WatchedFile> files;
  std::vector<UserQueue*> list;
  {
    MutexLock lock(&mu_);
    files = watched_;
    list = queues_;
  }
  if (files.empty() || !DoorbellWatch::Global().Arm(&kick_, files)) return false;
  // A doorbell written before its page was protected did not trap: look once more.
  bool wanted = false;
  {
    MutexLock pass(&pass_mu_);
    MutexLock lock(&mu_);
    for (UserQueue* q : queues_) {
      if (!q->TryAcquireRun()) {
        wanted = true;  // someone runs it: not idle
        continue;
      }
      wanted |= q->WantsService();
      q->ReleaseRun();
    }
  }
  if (!wanted && !stop_.load(std::memory_order_acquire)) {
    deep_sleeps_.fetch_add(1, std::memory_order_relaxed);
    sleeping_.store(1, std::memory_order_seq_cst);
    FutexWait(&kick_, kick);  // a trap, a kick or the destructor
    sleeping_.store(0, std::memory_order_relaxed);
  }
  DoorbellWatch::Global().Disarm(&kick_);
  return true;
}

}  // namespace vkfd::hw

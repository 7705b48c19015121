#include "hw/dma_scheduler.h"

#include <pthread.h>
#include <signal.h>
#include <sys/prctl.h>

#include <algorithm>
#include <cassert>
#include <mutex>

#include "base/service_signals.h"
#include "hw/dma_engine.h"

namespace vkfd::hw {

DmaScheduler::~DmaScheduler() {
  {
    MutexLock lock(&mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  MutexLock lock(&engines_mu_);
  assert(engines_.empty());
}

void DmaScheduler::Register(DmaEngine* engine) {
  MutexLock lock(&engines_mu_);
  engines_.push_back(engine);
}

void DmaScheduler::Unregister(DmaEngine* engine) {
  MutexLock lock(&engines_mu_);
  engines_.erase(std::remove(engines_.begin(), engines_.end(), engine), engines_.end());
}

void DmaScheduler::Kick() {
  {
    MutexLock lock(&mu_);
    kicked_.store(true, std::memory_order_relaxed);
    if (!thread_.joinable()) {
      // Process-directed signals go to the program's threads, never to this one; faults still
      // reach their handler (base/service_signals.h).
      const sigset_t mask = ServiceThreadSignalMask();
      sigset_t old;
      pthread_sigmask(SIG_SETMASK, &mask, &old);
      thread_ = std::thread([this] { ThreadMain(); });
      pthread_sigmask(SIG_SETMASK, &old, nullptr);
    }
  }
  cv_.notify_all();
}

// The analysis cannot follow the condition variable's std::unique_lock on the native mutex; kicked_
// is written with mu_ held (so a waiter cannot miss it) and also read without it while spinning;
// stopping_ is read and written with mu_ held.
void DmaScheduler::ThreadMain() NO_THREAD_SAFETY_ANALYSIS {
  // The timing model sleeps until exact completion times; the default 50 us timer slack would add
  // up to that much to every job.
  prctl(PR_SET_TIMERSLACK, 1000UL, 0, 0, 0);
  Clock::time_point last_work{};  // when an engine last had a job in flight
  for (;;) {
    {
      MutexLock lock(&mu_);
      kicked_.store(false, std::memory_order_relaxed);
    }
    Clock::time_point wake = Clock::time_point::max();
    {
      MutexLock lock(&engines_mu_);
      for (DmaEngine* engine : engines_) wake = std::min(wake, engine->Service());
    }
    if (wake != Clock::time_point::max()) last_work = Clock::now();
    std::unique_lock<std::mutex> lock(mu_.native());
    if (kicked_) continue;  // something changed while we were servicing
    // Stop only when asked and nothing is left to do (the engines drain before they unregister).
    if (stopping_ && wake == Clock::time_point::max()) return;
    if (wake == Clock::time_point::max()) {
      // Idle. Right after work, spin a little before sleeping: the next job of a burst then starts
      // (or retires) on time instead of after a wake-up.
      if (Clock::now() - last_work < kIdleSpin) {
        lock.unlock();
        while (Clock::now() - last_work < kIdleSpin && !kicked_.load(std::memory_order_relaxed)) {
          __builtin_ia32_pause();
        }
        continue;
      }
      cv_.wait(lock, [this]() NO_THREAD_SAFETY_ANALYSIS { return kicked_.load() || stopping_; });
    } else if (wake - Clock::now() > kSpinWindow) {
      // Sleep until shortly before the deadline, then spin the rest: a sleeping thread's wake-up
      // on a virtual machine takes tens of microseconds, as long as the latencies being modelled.
      cv_.wait_until(lock, wake - kSpinWindow,
                     [this]() NO_THREAD_SAFETY_ANALYSIS { return kicked_.load(); });
    } else {
      lock.unlock();
      while (Clock::now() < wake) {
        if (kicked_.load(std::memory_order_relaxed)) break;  // no lock: Kick must not wait for us
        __builtin_ia32_pause();
      }
    }
  }
}

}  // namespace vkfd::hw

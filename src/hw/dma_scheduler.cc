#include "hw/dma_scheduler.h"

#include <sys/prctl.h>

#include <algorithm>
#include <cassert>
#include <mutex>

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
    kicked_ = true;
    if (!thread_.joinable()) thread_ = std::thread([this] { ThreadMain(); });
  }
  cv_.notify_all();
}

// The analysis cannot follow the condition variable's std::unique_lock on the native mutex; kicked_
// and stopping_ are read and written with mu_ held.
void DmaScheduler::ThreadMain() NO_THREAD_SAFETY_ANALYSIS {
  // The timing model sleeps until exact completion times; the default 50 us timer slack would add
  // up to that much to every job.
  prctl(PR_SET_TIMERSLACK, 1000UL, 0, 0, 0);
  for (;;) {
    {
      MutexLock lock(&mu_);
      kicked_ = false;
    }
    Clock::time_point wake = Clock::time_point::max();
    {
      MutexLock lock(&engines_mu_);
      for (DmaEngine* engine : engines_) wake = std::min(wake, engine->Service());
    }
    std::unique_lock<std::mutex> lock(mu_.native());
    if (kicked_) continue;  // something changed while we were servicing
    // Stop only when asked and nothing is left to do (the engines drain before they unregister).
    if (stopping_ && wake == Clock::time_point::max()) return;
    if (wake == Clock::time_point::max()) {
      cv_.wait(lock, [this]() NO_THREAD_SAFETY_ANALYSIS { return kicked_ || stopping_; });
    } else {
      cv_.wait_until(lock, wake, [this]() NO_THREAD_SAFETY_ANALYSIS { return kicked_; });
    }
  }
}

}  // namespace vkfd::hw

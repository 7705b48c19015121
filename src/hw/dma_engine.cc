#include "hw/dma_engine.h"

#include <sys/prctl.h>

#include <algorithm>
#include <tuple>
#include <utility>

namespace vkfd::hw {

using Clock = std::chrono::steady_clock;

DmaEngine::DmaEngine(std::string name, DmaTiming timing) : name_(std::move(name)), timing_(timing) {}

DmaEngine::~DmaEngine() {
  {
    MutexLock lock(&mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  // Without a thread nothing can be queued: Submit starts it whenever it queues.
}

void DmaEngine::set_timing(DmaTiming timing) {
  MutexLock lock(&mu_);
  timing_ = timing;
}

DmaTiming DmaEngine::timing() const {
  MutexLock lock(&mu_);
  return timing_;
}

DmaEngine::Stats DmaEngine::stats() const {
  MutexLock lock(&mu_);
  return stats_;
}

void DmaEngine::DebugFailNextJobs(int n, Code error) {
  MutexLock lock(&mu_);
  fail_next_ = n;
  fail_code_ = error;
}

Code DmaEngine::TakeInjectedError() {
  if (fail_next_ == 0) return Code::kOk;
  --fail_next_;
  return fail_code_;
}

void DmaEngine::Submit(PteJob job, Completion done) {
  Pending pending{std::move(job), std::move(done), Clock::now()};
  bool run_inline = false;
  Code injected = Code::kOk;
  {
    MutexLock lock(&mu_);
    ++stats_.jobs;
    stats_.entries += pending.job.entry_count();
    if (!busy_ && queue_.empty() && retiring_.empty() && !timing_.enabled()) {
      busy_ = true;
      run_inline = true;
      ++stats_.inline_jobs;
      injected = TakeInjectedError();
    } else {
      queue_.push_back(std::move(pending));
      if (!thread_.joinable()) thread_ = std::thread([this] { ThreadMain(); });
    }
  }
  if (!run_inline) {
    cv_.notify_all();
    return;
  }
  pending.job.Execute();
  pending.done(injected);
  {
    MutexLock lock(&mu_);
    busy_ = false;
    last_completion_ = Clock::now();
  }
  cv_.notify_all();
}

// The analysis cannot follow the condition variable's std::unique_lock on the native mutex: every
// field below is read and written with mu_ held, except where the lock is explicitly released around
// a job's writes and a completion callback.
void DmaEngine::ThreadMain() NO_THREAD_SAFETY_ANALYSIS {
  // The timing model sleeps until exact completion times; the default 50 us timer slack would add
  // up to that much to every job.
  prctl(PR_SET_TIMERSLACK, 1000UL, 0, 0, 0);
  std::unique_lock<std::mutex> lock(mu_.native());
  for (;;) {
    const Clock::time_point now = Clock::now();
    // 1. Report the oldest completion once it is due.
    if (!retiring_.empty() && retiring_.front().finish <= now) {
      Retiring r = std::move(retiring_.front());
      retiring_.pop_front();
      lock.unlock();
      r.done(r.error);
      lock.lock();
      last_completion_ = Clock::now();
      cv_.notify_all();
      continue;
    }
    // 2. Start the next job once the engine has finished the previous one's writes.
    Clock::time_point next_start = Clock::time_point::max();
    if (!queue_.empty() && !busy_) {
      next_start = std::max(queue_.front().submitted, engine_free_);
      if (next_start <= now) {
        Pending p = std::move(queue_.front());
        queue_.pop_front();
        busy_ = true;
        const DmaTiming t = timing_;
        const Code injected = TakeInjectedError();
        const auto occupancy =
            std::chrono::nanoseconds(t.job_cost_ns + t.pte_cost_ns * p.job.entry_count());
        engine_free_ = now + occupancy;
        const Clock::time_point finish = engine_free_ + std::chrono::nanoseconds(t.job_latency_ns);
        lock.unlock();
        p.job.Execute();
        lock.lock();
        busy_ = false;
        retiring_.push_back(Retiring{std::move(p.done), injected, finish});
        continue;
      }
    }
    // 3. Nothing is due: sleep until the next completion or start, or until something changes. A
    // stop request does not cut waits short: queued jobs still run and complete, in order.
    if (stopping_ && queue_.empty() && retiring_.empty() && !busy_) return;
    Clock::time_point wake = next_start;
    if (!retiring_.empty()) wake = std::min(wake, retiring_.front().finish);
    if (wake == Clock::time_point::max()) {
      cv_.wait(lock);
    } else {
      cv_.wait_until(lock, wake);
    }
  }
}

}  // namespace vkfd::hw

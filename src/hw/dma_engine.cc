#include "hw/dma_engine.h"

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
    if (!busy_ && queue_.empty() && !timing_.enabled()) {
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

void DmaEngine::ThreadMain() {
  std::unique_lock<std::mutex> lock(mu_.native());
  for (;;) {
    // The analysis cannot follow std::unique_lock on the native mutex; fields below are read under it.
    auto ready = [this]() NO_THREAD_SAFETY_ANALYSIS {
      return stopping_ || (!busy_ && !queue_.empty());
    };
    cv_.wait(lock, ready);
    auto [stop, next] = [this]() NO_THREAD_SAFETY_ANALYSIS {
      return std::pair<bool, bool>(stopping_, !queue_.empty());
    }();
    if (!next) {
      if (stop) return;
      continue;
    }
    auto take = [this]() NO_THREAD_SAFETY_ANALYSIS {
      Pending p = std::move(queue_.front());
      queue_.pop_front();
      busy_ = true;
      const DmaTiming t = timing_;
      Clock::time_point start = std::max(p.submitted, last_completion_);
      Clock::time_point finish = start + std::chrono::nanoseconds(
                                             t.job_latency_ns + t.pte_cost_ns * p.job.entry_count());
      Code injected = TakeInjectedError();
      return std::tuple<Pending, Clock::time_point, Code>(std::move(p), finish, injected);
    };
    auto [pending, finish, injected] = take();
    // Execute outside the lock; completion is not reported before `finish` (timing model). A stop
    // request does not cut the wait short: queued jobs still complete, in order.
    lock.unlock();
    pending.job.Execute();
    std::this_thread::sleep_until(finish);
    pending.done(injected);
    lock.lock();
    [this]() NO_THREAD_SAFETY_ANALYSIS {
      busy_ = false;
      last_completion_ = Clock::now();
    }();
    cv_.notify_all();
  }
}

}  // namespace vkfd::hw

#include "hw/dma_engine.h"

#include <algorithm>
#include <utility>

#include "base/trace.h"

namespace vkfd::hw {

using Clock = std::chrono::steady_clock;

DmaEngine::DmaEngine(std::string name, DmaTiming timing, DmaScheduler* scheduler)
    : name_(std::move(name)),
      trace_track_(trace::NewTrack(name_ + " page tables")),
      trace_fence_track_(trace::NewTrack(name_ + " fences")),
      timing_(timing),
      own_scheduler_(scheduler == nullptr ? std::make_unique<DmaScheduler>() : nullptr),
      scheduler_(scheduler != nullptr ? scheduler : own_scheduler_.get()) {
  scheduler_->Register(this);
}

DmaEngine::~DmaEngine() {
  // Queued jobs still run and complete, in order; then the scheduler forgets us.
  {
    std::unique_lock<std::mutex> lock(mu_.native());
    cv_.wait(lock, [this]() NO_THREAD_SAFETY_ANALYSIS {
      return queue_.empty() && retiring_.empty() && !busy_;
    });
  }
  scheduler_->Unregister(this);
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

void DmaEngine::TraceWrites(Traced* t, const PteJob& job, int64_t start_ns,
                            Clock::time_point engine_end) {
  const int64_t modelled = std::chrono::duration_cast<std::chrono::nanoseconds>(
                               engine_end.time_since_epoch()).count();
  t->start_ns = start_ns;
  t->end_ns = std::max(trace::NowNs(), modelled);
  t->entries = job.entry_count();
}

void DmaEngine::Retire(Completion& done, Code error, const Traced& t, int64_t now_ns) const {
  if (t.id == 0) {
    done(error);
    return;
  }
  // Signalled as the writes end (now_ns, no latency model): the job's event carries the signal, and
  // no clock read is spent on the callbacks' end.
  const int64_t start = now_ns != 0 ? now_ns : trace::NowNs();
  done(error);
  trace::DmaJob(trace_track_, trace_fence_track_, t.id, t.submit_tid, t.submit_ns, t.start_ns,
                t.end_ns, t.entries, start, now_ns != 0 ? 0 : trace::NowNs(), CodeName(error));
}

void DmaEngine::Submit(PteJob job, Completion done) {
  Pending pending{std::move(job), std::move(done), Clock::now()};
  if (trace::On()) {
    pending.trace.id = trace::NewId();
    pending.trace.submit_tid = trace::CurrentTid();
    // steady_clock is CLOCK_MONOTONIC, the trace's clock: the submission's reading serves both.
    pending.trace.submit_ns =
        std::chrono::duration_cast<std::chrono::nanoseconds>(pending.submitted.time_since_epoch())
            .count();
  }
  enum class Path { kInline, kInlineTimed, kQueued } path = Path::kQueued;
  Code injected = Code::kOk;
  DmaTiming t;
  Clock::time_point engine_end{};  // the timing model's end of this job's writes (inline, timed)
  {
    MutexLock lock(&mu_);
    ++stats_.jobs;
    stats_.entries += pending.job.entry_count();
    t = timing_;
    // An idle engine starts the job at once, in the caller's thread: no hand-off to the service
    // thread before the work. Without a timing model the job also completes here; with one its
    // completion is retired by the service thread when due.
    if (!busy_ && queue_.empty() && engine_free_ <= pending.submitted &&
        (retiring_.empty() || t.enabled())) {
      busy_ = true;
      path = t.enabled() ? Path::kInlineTimed : Path::kInline;
      ++stats_.inline_jobs;
      injected = TakeInjectedError();
      if (path == Path::kInlineTimed) {
        engine_free_ = pending.submitted +
                       std::chrono::nanoseconds(t.job_cost_ns + t.pte_cost_ns * pending.job.entry_count());
        engine_end = engine_free_;
      }
    } else {
      queue_.push_back(std::move(pending));
    }
  }
  if (path == Path::kQueued) {
    scheduler_->Kick();
    return;
  }
  // Traced, the submission's clock reading stands for the start of the writes (a lock apart) and,
  // untimed, the end of the writes for the start of the signal: fewer clock reads per job.
  pending.job.Execute();
  if (pending.trace.id != 0) {
    TraceWrites(&pending.trace, pending.job, pending.trace.submit_ns, engine_end);
  }
  if (path == Path::kInline) Retire(pending.done, injected, pending.trace, pending.trace.end_ns);
  bool queued;
  {
    MutexLock lock(&mu_);
    busy_ = false;
    if (path == Path::kInlineTimed) {
      retiring_.push_back(Retiring{std::move(pending.done), injected,
                                   engine_free_ + std::chrono::nanoseconds(t.job_latency_ns),
                                   pending.trace});
    }
    queued = !queue_.empty() || path == Path::kInlineTimed;
  }
  cv_.notify_all();
  if (queued) scheduler_->Kick();  // a completion to retire, or jobs queued behind this one
}

Clock::time_point DmaEngine::Service() {
  MutexLock lock(&mu_);
  for (;;) {
    const Clock::time_point now = Clock::now();
    // 1. Report the oldest completion once it is due (callbacks run without the lock).
    if (!retiring_.empty() && retiring_.front().finish <= now) {
      Retiring r = std::move(retiring_.front());
      retiring_.pop_front();
      mu_.Unlock();
      Retire(r.done, r.error, r.trace);
      mu_.Lock();
      continue;
    }
    // 2. Start the next job once the engine has finished the previous one.
    if (!queue_.empty() && !busy_ && std::max(queue_.front().submitted, engine_free_) <= now) {
      Pending p = std::move(queue_.front());
      queue_.pop_front();
      busy_ = true;
      const DmaTiming t = timing_;
      const Code injected = TakeInjectedError();
      engine_free_ =
          now + std::chrono::nanoseconds(t.job_cost_ns + t.pte_cost_ns * p.job.entry_count());
      const Clock::time_point finish = engine_free_ + std::chrono::nanoseconds(t.job_latency_ns);
      const Clock::time_point engine_end = engine_free_;
      mu_.Unlock();
      const int64_t started = p.trace.id != 0 ? trace::NowNs() : 0;
      p.job.Execute();
      if (p.trace.id != 0) TraceWrites(&p.trace, p.job, started, engine_end);
      mu_.Lock();
      busy_ = false;
      retiring_.push_back(Retiring{std::move(p.done), injected, finish, p.trace});
      continue;
    }
    break;
  }
  cv_.notify_all();  // a draining destructor may be waiting
  // Next: the oldest completion, or the next start. While an inline job runs (busy_), its end kicks.
  Clock::time_point wake = Clock::time_point::max();
  if (!retiring_.empty()) wake = retiring_.front().finish;
  if (!queue_.empty() && !busy_) {
    wake = std::min(wake, std::max(queue_.front().submitted, engine_free_));
  }
  return wake;
}

}  // namespace vkfd::hw

// DmaEngine: one GPU's SDMA engine as far as memory management uses it — it executes page-table
// updates (PteJobs) in submission order and reports each job's completion exactly once.
//
// Queued jobs run on the node's DMA service thread (dma_scheduler.h), which serves every engine of
// the node; an engine constructed without a scheduler has one of its own. Two refinements keep that
// cheap and realistic:
//  * Idle fast path: when the engine is idle, Submit runs the job in the caller's thread — the
//    ordering guarantee is the same and no thread hand-off is paid before the work. Without a
//    timing model the job also completes there; with one, its completion is retired by the service
//    thread when it is due.
//  * Timing model (DmaTiming), a pipelined engine as SDMA is: a job starts when it is submitted and
//    the engine has finished the previous one; it occupies the engine for job_cost + pte_cost ×
//    entries; its completion is reported job_latency after that (fence write, interrupt,
//    scheduling), while the engine already works on the next job. So one job of n entries takes
//    job_cost + pte_cost × n + job_latency, and k queued jobs take about job_latency plus the
//    engine time of all of them: what is gained by keeping the engine fed, which the asynchronous
//    map designs measure. (job_cost alone is a serial engine: every job its full time.)
// Completions are reported exactly once and in submission order, on the engine thread (or inline),
// after the job's writes are visible, with Code::kOk or the error an injected fault set. A completion
// callback must not block or submit to the same engine.
//
// Life cycle: registered with its scheduler from construction; the destructor waits until what is
// queued has run and completed, then unregisters. Lock order: DmaScheduler's engines lock → the
// engine's mutex; completion callbacks run without the engine's mutex.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <string>
#include <memory>

#include "base/status.h"
#include "base/thread_annotations.h"
#include "hw/dma_scheduler.h"
#include "hw/dma_timing.h"
#include "hw/pte_job.h"

namespace vkfd::hw {

class DmaEngine {
 public:
  using Completion = std::function<void(Code)>;

  // `scheduler` serves the queued jobs; null: the engine makes its own (tests, single engines).
  DmaEngine(std::string name, DmaTiming timing, DmaScheduler* scheduler = nullptr);
  ~DmaEngine();
  DmaEngine(const DmaEngine&) = delete;
  DmaEngine& operator=(const DmaEngine&) = delete;

  // Queues `job`; `done` is called exactly once when it has executed.
  void Submit(PteJob job, Completion done) EXCLUDES(mu_);

  void set_timing(DmaTiming timing) EXCLUDES(mu_);
  DmaTiming timing() const EXCLUDES(mu_);

  struct Stats {
    uint64_t jobs = 0;
    uint64_t inline_jobs = 0;  // started in the submitting thread (the engine was idle)
    uint64_t entries = 0;
  };
  Stats stats() const EXCLUDES(mu_);

  // Fault injection: the next `n` jobs report `error`. Their writes are still performed, so the page
  // tables always equal the planner's shadow; what an error means for the mapping is kfd/'s call.
  void DebugFailNextJobs(int n, Code error) EXCLUDES(mu_);

 private:
  // A job's life for the trace (base/trace.h), recorded when it signals; id 0: not traced.
  struct Traced {
    uint64_t id = 0;
    uint32_t submit_tid = 0;
    int64_t submit_ns = 0;
    int64_t start_ns = 0;  // its writes
    int64_t end_ns = 0;
    uint64_t entries = 0;
  };
  struct Pending {
    PteJob job;
    Completion done;
    std::chrono::steady_clock::time_point submitted;
    Traced trace;
  };
  // A job whose writes are done and whose completion is due at `finish`.
  struct Retiring {
    Completion done;
    Code error;
    std::chrono::steady_clock::time_point finish;
    Traced trace;
  };
  friend class DmaScheduler;
  // Called by the scheduler's thread: retires every completion that is due and starts every job that
  // may start, then returns when it next has something to do (time_point::max(): nothing queued).
  std::chrono::steady_clock::time_point Service() EXCLUDES(mu_);
  Code TakeInjectedError() REQUIRES(mu_);
  // Tracing: the job's writes ran from `start_ns` to now, or to `engine_end` (the timing model's end
  // of them) if later.
  static void TraceWrites(Traced* t, const PteJob& job, int64_t start_ns,
                          std::chrono::steady_clock::time_point engine_end);
  // Calls `done` (the fence's signal) and records the traced job; `now_ns`, when not 0, is a clock
  // reading taken just before (the signal's start).
  void Retire(Completion& done, Code error, const Traced& trace, int64_t now_ns = 0) const;

  const std::string name_;
  const uint32_t trace_track_;        // "<gpu>-sdma page tables"
  const uint32_t trace_fence_track_;  // "<gpu>-sdma fences"
  mutable Mutex mu_;
  std::condition_variable_any cv_;
  DmaTiming timing_ GUARDED_BY(mu_);
  std::deque<Pending> queue_ GUARDED_BY(mu_);
  std::deque<Retiring> retiring_ GUARDED_BY(mu_);  // in submission order; finish times ascend
  bool busy_ GUARDED_BY(mu_) = false;  // a job is executing (inline or on the service thread)
  std::chrono::steady_clock::time_point engine_free_ GUARDED_BY(mu_);  // end of the last writes
  Stats stats_ GUARDED_BY(mu_);
  int fail_next_ GUARDED_BY(mu_) = 0;
  Code fail_code_ GUARDED_BY(mu_) = Code::kIo;
  std::unique_ptr<DmaScheduler> own_scheduler_;  // when none was given
  DmaScheduler* const scheduler_;
};

}  // namespace vkfd::hw

// DmaEngine: one GPU's SDMA engine as far as memory management uses it — it executes page-table
// updates (PteJobs) in submission order and reports each job's completion exactly once.
//
// Jobs run on the engine's own thread. Two refinements keep that cheap and realistic:
//  * Idle fast path: with no timing model, when nothing is queued or running, Submit runs the job in
//    the caller's thread — the ordering guarantee is the same and no thread hand-off is paid.
//  * Timing model (DmaTiming): a job completes no earlier than max(submit, previous completion) +
//    job_latency + pte_cost × entries, so waits block the way they do on hardware.
// The completion callback runs on the engine thread (or inline), after the job's writes are visible,
// with Code::kOk or the error an injected fault set. It must not block or submit to the same engine.
//
// Life cycle: the thread starts with the first queued job; the destructor runs what is queued, then
// joins. Lock order: the engine's mutex is a leaf (callbacks run without it).
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <string>
#include <thread>

#include "base/status.h"
#include "base/thread_annotations.h"
#include "hw/pte_job.h"
#include "hw/topology.h"

namespace vkfd::hw {

class DmaEngine {
 public:
  using Completion = std::function<void(Code)>;

  DmaEngine(std::string name, DmaTiming timing);
  ~DmaEngine();
  DmaEngine(const DmaEngine&) = delete;
  DmaEngine& operator=(const DmaEngine&) = delete;

  // Queues `job`; `done` is called exactly once when it has executed.
  void Submit(PteJob job, Completion done) EXCLUDES(mu_);

  void set_timing(DmaTiming timing) EXCLUDES(mu_);
  DmaTiming timing() const EXCLUDES(mu_);

  struct Stats {
    uint64_t jobs = 0;
    uint64_t inline_jobs = 0;
    uint64_t entries = 0;
  };
  Stats stats() const EXCLUDES(mu_);

  // Fault injection: the next `n` jobs report `error`. Their writes are still performed, so the page
  // tables always equal the planner's shadow; what an error means for the mapping is kfd/'s call.
  void DebugFailNextJobs(int n, Code error) EXCLUDES(mu_);

 private:
  struct Pending {
    PteJob job;
    Completion done;
    std::chrono::steady_clock::time_point submitted;
  };
  void ThreadMain();
  Code TakeInjectedError() REQUIRES(mu_);

  const std::string name_;
  mutable Mutex mu_;
  std::condition_variable_any cv_;
  DmaTiming timing_ GUARDED_BY(mu_);
  std::deque<Pending> queue_ GUARDED_BY(mu_);
  bool busy_ GUARDED_BY(mu_) = false;  // a job is executing (inline or on the thread)
  bool stopping_ GUARDED_BY(mu_) = false;
  std::chrono::steady_clock::time_point last_completion_ GUARDED_BY(mu_);
  Stats stats_ GUARDED_BY(mu_);
  int fail_next_ GUARDED_BY(mu_) = 0;
  Code fail_code_ GUARDED_BY(mu_) = Code::kIo;
  std::thread thread_;  // started under mu_ on first use
};

}  // namespace vkfd::hw

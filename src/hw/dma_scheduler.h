// DmaScheduler: the one thread that runs the queued jobs of a node's DMA engines and reports their
// completions when the timing model says they are due.
//
// Why one thread for all engines: engines work in parallel on hardware, but a thread per engine on a
// host with few cores serialises their wake-ups in the host scheduler — eight engines finishing at
// the same moment would cost eight thread wake-ups in a row, and a multi-GPU wait would measure the
// host's scheduler rather than the model. One service thread retires every due completion of every
// engine in one wake-up. Each engine keeps its own queue, order and timing (dma_engine.h); the
// scheduler only decides when to look at them.
//
// Life cycle: created first, engines register at construction and unregister (after draining) at
// destruction; the thread starts at the first Kick and is joined by the destructor, which requires
// that no engine is registered any more.
//
// Locking: `engines_mu_` is held while the thread services the engines (it is what makes Unregister
// safe), `mu_` only guards the wake-up state. Lock order: engines_mu_ → DmaEngine::mu_; a completion
// callback (run with engines_mu_ held, no engine lock) may submit to another engine, which takes that
// engine's mu_ and then mu_ (Kick). Nothing takes engines_mu_ while holding mu_ or an engine's mu_.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <thread>
#include <vector>

#include "base/thread_annotations.h"

namespace vkfd::hw {

class DmaEngine;

class DmaScheduler {
 public:
  using Clock = std::chrono::steady_clock;

  DmaScheduler() = default;
  ~DmaScheduler();
  DmaScheduler(const DmaScheduler&) = delete;
  DmaScheduler& operator=(const DmaScheduler&) = delete;

  void Register(DmaEngine* engine) EXCLUDES(engines_mu_);
  // Blocks while the thread is servicing engines; afterwards `engine` is never looked at again.
  void Unregister(DmaEngine* engine) EXCLUDES(engines_mu_);
  // Something changed (a job queued, an engine became idle): look at the engines again now.
  void Kick() EXCLUDES(mu_);

 private:
  void ThreadMain();

  // Deadlines closer than this are waited for by spinning, and after the last job in flight the
  // thread spins this long before it sleeps (see ThreadMain): a sleeping thread's wake-up on a
  // virtual machine can take longer than the latencies being modelled. Only engines with a timing
  // model ever have jobs in flight here, so the default (no model) never spins.
  static constexpr std::chrono::microseconds kSpinWindow{100};
  static constexpr std::chrono::microseconds kIdleSpin{200};

  Mutex engines_mu_;
  std::vector<DmaEngine*> engines_ GUARDED_BY(engines_mu_);
  Mutex mu_;
  std::condition_variable_any cv_;
  std::atomic<bool> kicked_{false};  // written under mu_; read under it, or by the spinning thread
  bool stopping_ GUARDED_BY(mu_) = false;
  std::thread thread_;  // started under mu_ at the first Kick
};

}  // namespace vkfd::hw

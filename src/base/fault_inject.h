// FaultInjector: the generic fault-injection engine — rules that decide, per call of a numbered point,
// whether to fire and with what effect. It knows no point names and no driver: the points and the
// errors the reference kernel can return at each live with their owner (kfd/fault_points.h), and the
// text format people write lives at the boundary (uapi/fault_spec.h). Linux splits it the same way:
// lib/fault-inject.c (this), mm/failslab.c (the points), debugfs (the text).
//
// A point is checked where the driver could fail; an unarmed injector costs one relaxed atomic load.
// An armed rule decides per call whether to fire (the n-th call, every k-th call, or with probability p
// from a seeded generator — the same seed and the same sequence of calls give the same faults) and
// what happens: return a Status code, sleep, or deliver a real signal to the calling thread.
//
// Every firing is logged (point, call number, gpu, effect) and passed to a sink as it happens.
// Thread-safe; mu_ is a leaf.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "base/status.h"
#include "base/thread_annotations.h"

namespace vkfd {

// A point, as its owner numbers it (kfd::FaultPoint).
using FaultPointId = uint8_t;
inline constexpr size_t kMaxFaultPoints = 32;

struct FaultEffect {
  enum class Kind { kError, kDelay, kSignal };
  Kind kind = Kind::kError;
  Code error = Code::kOk;  // kError
  uint64_t delay_ns = 0;   // kDelay
  int signo = 0;           // kSignal
  std::string text;        // as the rule spelled it, for the log ("ENOMEM", "delay=200us")
};

struct FaultRule {
  FaultPointId point = 0;
  int gpu = -1;            // -1: any GPU
  uint64_t nth = 0;        // fire on the nth matching call only
  uint64_t every = 0;      // fire on every k-th matching call
  double probability = -1; // fire with this probability (>= 0)
  uint64_t times = 0;      // fire at most this often (0: unlimited)
  FaultEffect effect;
};

struct FaultRecord {
  FaultPointId point;
  uint64_t call;  // 1-based number of the call at this point (and gpu, when the rule names one)
  int gpu;        // -1 when the point is not per GPU
  std::string effect;
};

class FaultInjector {
 public:
  // What the caller must do at the point.
  struct Decision {
    Code error = Code::kOk;     // return this (kOk: carry on)
    bool interrupted = false;   // a signal was delivered whose handler lacks SA_RESTART: the wait
                                // must report kInterrupted, as the kernel would
  };

  static FaultInjector& Global();

  // Replaces the rules (none: disarmed). `description` is what the rules were made from (the spec),
  // kept for reports.
  void Arm(std::vector<FaultRule> rules, uint64_t seed, std::string description) EXCLUDES(mu_);
  void Reset() EXCLUDES(mu_);

  static bool armed() { return armed_.load(std::memory_order_relaxed); }
  static Decision Check(FaultPointId point, int gpu = -1) {
    if (!armed()) return Decision{};
    return Global().CheckSlow(point, gpu);
  }

  uint64_t seed() const EXCLUDES(mu_);
  std::string description() const EXCLUDES(mu_);
  // The first kMaxLogRecords firings since Arm (the sink sees the same ones, plus one record saying
  // the log is full); fired() counts them all.
  static constexpr size_t kMaxLogRecords = 10000;
  std::vector<FaultRecord> log() const EXCLUDES(mu_);
  uint64_t fired() const EXCLUDES(mu_);
  // Called once per firing, as it happens (before the effect), outside the injector's lock — so a
  // log written from it survives a client that aborts or hangs right after. Set it before arming.
  using Sink = std::function<void(const FaultRecord&)>;
  void set_sink(Sink sink) EXCLUDES(mu_);
  // How often `point` was reached (armed, firing or not) since Arm.
  uint64_t reached(FaultPointId point) const EXCLUDES(mu_);

 private:
  struct ArmedRule {
    FaultRule rule;
    uint64_t calls = 0;
    uint64_t fired = 0;
  };

  Decision CheckSlow(FaultPointId point, int gpu) EXCLUDES(mu_);
  double NextRandom() REQUIRES(mu_);

  static std::atomic<bool> armed_;
  mutable Mutex mu_;
  std::vector<ArmedRule> rules_ GUARDED_BY(mu_);
  uint64_t seed_ GUARDED_BY(mu_) = 0;
  std::string description_ GUARDED_BY(mu_);
  Sink sink_ GUARDED_BY(mu_);
  uint64_t rng_ GUARDED_BY(mu_) = 0;
  uint64_t reached_[kMaxFaultPoints] GUARDED_BY(mu_) = {};
  std::vector<FaultRecord> log_ GUARDED_BY(mu_);  // the first kMaxLogRecords firings
  uint64_t fired_total_ GUARDED_BY(mu_) = 0;
  bool log_full_reported_ GUARDED_BY(mu_) = false;
};

}  // namespace vkfd

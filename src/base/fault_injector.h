// FaultInjector: named points on the fallible steps of the memory ioctls, armed by a spec, so that
// failures a real machine produces only by bad luck happen on demand and reproducibly.
//
// A point is checked where the driver could fail (`FaultInjector::Check(FaultPoint::kMapPageTables,
// gpu)`); an unarmed injector costs one relaxed atomic load. An armed rule decides, per call, whether to
// fire (the n-th call, every k-th call, or with probability p from a seeded generator — the same seed
// and the same sequence of calls give the same faults) and what happens: return a Status code the real
// driver can return at that point, sleep, or deliver a real signal to the calling thread.
//
// Spec language (docs/fault-injection.md):
//   spec   := rule (';' rule)*
//   rule   := POINT ['[' option (',' option)* ']'] ':' effect
//   option := 'gpu=' N | 'nth=' N | 'every=' K | 'p=' FLOAT | 'times=' N
//   effect := ERRNO-NAME (e.g. ENOMEM) | 'delay=' DURATION | 'signal=' SIGNAME
// e.g. "map.page_tables[gpu=3]:ENOMEM;map.wait[nth=2]:signal=SIGUSR1;dma.submit[p=0.01]:delay=200us"
//
// Every firing is logged (point, call number, gpu, effect). Thread-safe.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "base/thread_annotations.h"

namespace vkfd {

enum class FaultPoint : uint8_t {
  kAllocReserve,     // alloc.reserve: memory accounting
  kAllocBacking,     // alloc.backing: VRAM/GTT backing, userptr pinning
  kMapPeerAccess,    // map.peer_access: per GPU, deciding on a peer's VRAM/doorbell/MMIO (first MAP)
  kMapPageTables,    // map.page_tables: VA and page-table allocation, per GPU, after the range checks
  kDmaSubmit,        // dma.submit: building/submitting the page-table job, per GPU
  kDmaJob,           // dma.job: the job itself reports an error through its fence, per GPU
  kMapWait,          // map.wait: the interruptible wait after dispatch
  kUnmapGpu,         // unmap.gpu: per GPU
  kUnmapWait,        // unmap.wait
  kFree,             // free
  kCount,
};

const char* FaultPointName(FaultPoint point);
std::vector<std::string> FaultPointNames();

struct FaultRecord {
  FaultPoint point;
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

  // Replaces the rules. nullopt-like failure: false with *error naming what is wrong (and, for an
  // unknown point, the valid ones).
  bool Configure(std::string_view spec, uint64_t seed, std::string* error) EXCLUDES(mu_);
  // Parses `spec` without arming anything: what Configure would say about it.
  static bool Validate(std::string_view spec, std::string* error);
  // Reads VKFD_INJECT (spec) and VKFD_INJECT_SEED from the environment. True if nothing was set or the
  // spec is valid.
  bool ConfigureFromEnvironment(std::string* error) EXCLUDES(mu_);
  void Reset() EXCLUDES(mu_);

  static bool armed() { return armed_.load(std::memory_order_relaxed); }
  static Decision Check(FaultPoint point, int gpu = -1) {
    if (!armed()) return Decision{};
    return Global().CheckSlow(point, gpu);
  }

  uint64_t seed() const EXCLUDES(mu_);
  std::string spec() const EXCLUDES(mu_);
  // The first kMaxLogRecords firings since Configure (the sink sees the same ones, plus one line
  // saying the log is full); fired() counts them all.
  static constexpr size_t kMaxLogRecords = 10000;
  std::vector<FaultRecord> log() const EXCLUDES(mu_);
  uint64_t fired() const EXCLUDES(mu_);
  // Called once per firing, as it happens (before the effect), outside the injector's lock — so a
  // log written from it survives a client that aborts or hangs right after. Set it before arming.
  using Sink = std::function<void(const FaultRecord&)>;
  void set_sink(Sink sink) EXCLUDES(mu_);
  // "map.page_tables call=3 gpu=1 effect=ENOMEM" (no newline).
  static std::string FormatRecord(const FaultRecord& record);
  // One line per firing: "map.page_tables call=3 gpu=1 effect=ENOMEM".
  std::string LogText() const EXCLUDES(mu_);
  // Per point, how often it was reached (armed or not firing) since Configure.
  uint64_t reached(FaultPoint point) const EXCLUDES(mu_);

  // Codes a rule may use at `point`: what the reference kernel can return there.
  static std::vector<Code> AllowedCodes(FaultPoint point);

 private:
  struct Rule {
    FaultPoint point;
    int gpu = -1;
    uint64_t nth = 0;
    uint64_t every = 0;
    double probability = -1;
    uint64_t times = 0;  // 0: unlimited
    uint64_t calls = 0;
    uint64_t fired = 0;
    enum class Kind { kError, kDelay, kSignal } kind = Kind::kError;
    Code error = Code::kOk;
    uint64_t delay_ns = 0;
    int signo = 0;
    std::string effect_text;
  };

  static bool ParseRules(std::string_view spec, std::vector<Rule>* rules, std::string* error);
  Decision CheckSlow(FaultPoint point, int gpu) EXCLUDES(mu_);
  double NextRandom() REQUIRES(mu_);

  static std::atomic<bool> armed_;
  mutable Mutex mu_;
  std::vector<Rule> rules_ GUARDED_BY(mu_);
  uint64_t seed_ GUARDED_BY(mu_) = 0;
  std::string spec_ GUARDED_BY(mu_);
  Sink sink_ GUARDED_BY(mu_);
  uint64_t rng_ GUARDED_BY(mu_) = 0;
  uint64_t reached_[static_cast<int>(FaultPoint::kCount)] GUARDED_BY(mu_) = {};
  std::vector<FaultRecord> log_ GUARDED_BY(mu_);  // the first kMaxLogRecords firings
  uint64_t fired_total_ GUARDED_BY(mu_) = 0;
  bool log_full_reported_ GUARDED_BY(mu_) = false;
};

}  // namespace vkfd

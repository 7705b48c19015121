#include "base/fault_inject.h"

#include <signal.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>

namespace vkfd {
namespace {

// Delivers `signo` to the calling thread now, as a pending signal during the wait would be. Returns true
// when a handler without SA_RESTART ran — then the kernel's wait would return -ERESTARTSYS → EINTR.
bool DeliverSignal(int signo) {
  struct sigaction current {};
  sigaction(signo, nullptr, &current);
  syscall(SYS_tgkill, getpid(), syscall(SYS_gettid), signo);
  const bool has_handler = (current.sa_flags & SA_SIGINFO) ? current.sa_sigaction != nullptr
                                                           : (current.sa_handler != SIG_DFL &&
                                                              current.sa_handler != SIG_IGN);
  return has_handler && !(current.sa_flags & SA_RESTART);
}

}  // namespace

std::atomic<bool> FaultInjector::armed_{false};

FaultInjector& FaultInjector::Global() {
  static FaultInjector* injector = new FaultInjector();  // never destroyed: used until exit
  return *injector;
}

void FaultInjector::Arm(std::vector<FaultRule> rules, uint64_t seed, std::string description) {
  MutexLock lock(&mu_);
  rules_.clear();
  for (FaultRule& rule : rules) rules_.push_back(ArmedRule{std::move(rule)});
  seed_ = seed;
  description_ = std::move(description);
  rng_ = seed ^ 0x9e3779b97f4a7c15ull;
  for (auto& r : reached_) r = 0;
  log_.clear();
  fired_total_ = 0;
  log_full_reported_ = false;
  armed_.store(!rules_.empty(), std::memory_order_relaxed);
}

void FaultInjector::Reset() { Arm({}, 0, std::string()); }

double FaultInjector::NextRandom() {
  // splitmix64: small, fast, and the same sequence for the same seed everywhere.
  uint64_t z = (rng_ += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  z ^= z >> 31;
  return double(z >> 11) * (1.0 / 9007199254740992.0);
}

FaultInjector::Decision FaultInjector::CheckSlow(FaultPointId point, int gpu) {
  FaultEffect effect;
  uint64_t call = 0;
  bool fire = false;
  Sink sink;
  std::string sink_effect;
  {
    MutexLock lock(&mu_);
    if (point < kMaxFaultPoints) ++reached_[point];
    for (ArmedRule& armed : rules_) {
      const FaultRule& rule = armed.rule;
      if (rule.point != point || (rule.gpu >= 0 && rule.gpu != gpu)) continue;
      ++armed.calls;
      if (rule.times != 0 && armed.fired >= rule.times) continue;
      bool now;
      if (rule.nth != 0) now = armed.calls == rule.nth;
      else if (rule.every != 0) now = armed.calls % rule.every == 0;
      else if (rule.probability >= 0) now = NextRandom() < rule.probability;
      else now = true;
      if (!now) continue;
      ++armed.fired;
      effect = rule.effect;
      call = armed.calls;
      fire = true;
      // The log is bounded: a rule that fires on every call of a retry loop must not eat the host.
      ++fired_total_;
      if (log_.size() < kMaxLogRecords) {
        log_.push_back(FaultRecord{point, call, gpu, effect.text});
        sink = sink_;
        sink_effect = effect.text;
      } else if (!log_full_reported_) {
        log_full_reported_ = true;
        sink = sink_;
        sink_effect = effect.text + " (log full: later firings are counted, not logged)";
      }
      break;
    }
  }
  Decision decision;
  if (!fire) return decision;
  if (sink) sink(FaultRecord{point, call, gpu, sink_effect});
  switch (effect.kind) {
    case FaultEffect::Kind::kError:
      decision.error = effect.error;
      break;
    case FaultEffect::Kind::kDelay: {
      timespec ts{static_cast<time_t>(effect.delay_ns / 1000000000),
                  static_cast<long>(effect.delay_ns % 1000000000)};
      while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
      }
      break;
    }
    case FaultEffect::Kind::kSignal:
      decision.interrupted = DeliverSignal(effect.signo);
      break;
  }
  return decision;
}

uint64_t FaultInjector::fired() const {
  MutexLock lock(&mu_);
  return fired_total_;
}

uint64_t FaultInjector::seed() const {
  MutexLock lock(&mu_);
  return seed_;
}

std::vector<FaultRecord> FaultInjector::log() const {
  MutexLock lock(&mu_);
  return log_;
}

std::string FaultInjector::description() const {
  MutexLock lock(&mu_);
  return description_;
}

void FaultInjector::set_sink(Sink sink) {
  MutexLock lock(&mu_);
  sink_ = std::move(sink);
}

uint64_t FaultInjector::reached(FaultPointId point) const {
  MutexLock lock(&mu_);
  return point < kMaxFaultPoints ? reached_[point] : 0;
}

}  // namespace vkfd

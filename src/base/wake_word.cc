#include "base/wake_word.h"

#include <pthread.h>
#include <signal.h>

#include <map>
#include <mutex>

#include "base/call_guard.h"
#include "base/process_identity.h"
#include "base/service_signals.h"
#include "base/thread_annotations.h"
#include "base/trace.h"

namespace vkfd {
namespace {

// The alarm clock: one thread per process that wakes words when their deadlines pass. It is made at
// the first timed sleep of each process (a forked child makes its own: the parent's thread does not
// exist there, and its lock may have been held at fork time — that state is left behind).
class AlarmClock {
 public:
  // (deadline, arm sequence): unique, ordered by deadline; cancelling an alarm that fired is a no-op.
  using Id = std::pair<int64_t, uint64_t>;

  static AlarmClock& ForThisProcess() {
    static std::atomic<AlarmClock*> current{nullptr};
    AlarmClock* clock = current.load(std::memory_order_acquire);
    const uint64_t incarnation = ProcessIncarnation();
    if (clock != nullptr && clock->incarnation_ == incarnation) return *clock;
    auto* made = new AlarmClock(incarnation);  // never freed: a racing sleeper may still use it
    if (current.compare_exchange_strong(clock, made, std::memory_order_acq_rel)) return *made;
    delete made;  // another thread of this process made one first (thread not started yet)
    return *clock;
  }

  Id Arm(int64_t deadline_ns, WakeWord* word) EXCLUDES(mu_) {
    MutexLock lock(&mu_);
    if (!started_) Start();
    const bool earliest = alarms_.empty() || deadline_ns < alarms_.begin()->first.first;
    const Id id{deadline_ns, ++sequence_};
    alarms_.emplace(id, word);
    if (earliest) {
      tick_.fetch_add(1, std::memory_order_seq_cst);
      FutexWakeAll(&tick_);
    }
    return id;
  }

  // After this returns the clock never touches the word again (it fires under mu_).
  void Cancel(Id id) EXCLUDES(mu_) {
    MutexLock lock(&mu_);
    alarms_.erase(id);
  }

 private:
  explicit AlarmClock(uint64_t incarnation) : incarnation_(incarnation) {}

  void Start() REQUIRES(mu_) {
    started_ = true;
    // The thread must not take signals meant for the program's threads (base/service_signals.h).
    const sigset_t mask = ServiceThreadSignalMask();
    sigset_t old;
    pthread_sigmask(SIG_SETMASK, &mask, &old);
    pthread_t thread;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_attr_setstacksize(&attr, 64 * 1024);
    pthread_create(&thread, &attr, &AlarmClock::Main, this);
    pthread_attr_destroy(&attr);
    pthread_sigmask(SIG_SETMASK, &old, nullptr);
  }

  static void* Main(void* self) {
    static_cast<AlarmClock*>(self)->Loop();
    return nullptr;
  }

  void Loop() {
    for (;;) {
      const uint32_t tick = tick_.load(std::memory_order_seq_cst);
      int64_t next = 0;
      {
        MutexLock lock(&mu_);
        const int64_t now = MonotonicNowNs();
        while (!alarms_.empty() && alarms_.begin()->first.first <= now) {
          alarms_.begin()->second->Wake();
          alarms_.erase(alarms_.begin());
        }
        if (!alarms_.empty()) next = alarms_.begin()->first.first;
      }
      // Sleeps until the next deadline, or until an earlier one is armed (tick changes).
      FutexWait(&tick_, tick, next);
    }
  }

  const uint64_t incarnation_;
  std::atomic<uint32_t> tick_{0};
  Mutex mu_;
  bool started_ GUARDED_BY(mu_) = false;
  uint64_t sequence_ GUARDED_BY(mu_) = 0;
  std::map<Id, WakeWord*> alarms_ GUARDED_BY(mu_);
};

}  // namespace

void TraceSleep(const char* what, int64_t start_ns, FutexResult result) {
  const char* outcome = result == FutexResult::kInterrupted ? "interrupted by a signal (EINTR)"
                        : result == FutexResult::kTimedOut  ? "timed out"
                                                            : "woken";
  trace::Complete(trace::CurrentTid(), "wait", what, start_ns, trace::NowNs(),
                  {trace::Str("outcome", outcome)});
}

void WakeWord::Wake() {
  value_.store(1, std::memory_order_seq_cst);
  FutexWakeAll(&value_);
}

FutexResult WakeWord::Sleep(int64_t deadline_ns) {
  if (deadline_ns != 0 && MonotonicNowNs() >= deadline_ns) return FutexResult::kTimedOut;
  AlarmClock* clock = nullptr;
  AlarmClock::Id alarm{};
  if (deadline_ns != 0) {
    clock = &AlarmClock::ForThisProcess();
    alarm = clock->Arm(deadline_ns, this);
  }
  FutexResult result = FutexResult::kWoken;
  const int64_t traced_from = trace::On() ? trace::NowNs() : 0;
  if (value_.load(std::memory_order_seq_cst) == 0) result = FutexWaitInterruptible(&value_, 0);
  if (clock != nullptr) clock->Cancel(alarm);
  if (result != FutexResult::kInterrupted && deadline_ns != 0 && MonotonicNowNs() >= deadline_ns) {
    result = FutexResult::kTimedOut;
  }
  if (traced_from != 0) TraceSleep("wait", traced_from, result);
  return result;
}

}  // namespace vkfd

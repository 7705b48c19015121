#include "base/call_guard.h"

#include <pthread.h>

// The program's dispositions are read with glibc's __sigaction: inside the interposer the `sigaction`
// symbol is the shim's wrapper.
extern "C" int __sigaction(int sig, const struct sigaction* act, struct sigaction* old);

namespace vkfd {
namespace {

thread_local CallGuard* t_innermost = nullptr;

bool IsSynchronous(int sig) {
  return sig == SIGSEGV || sig == SIGBUS || sig == SIGILL || sig == SIGFPE || sig == SIGTRAP ||
         sig == SIGSYS;
}

// Every signal but the synchronous ones (glibc's pthread_sigmask never blocks its own SIGCANCEL and
// SIGSETXID, so setuid() and cancellation keep working in other threads).
const sigset_t& AsyncSignals() {
  static const sigset_t set = [] {
    sigset_t s;
    sigfillset(&s);
    for (int sig : {SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGTRAP, SIGSYS}) sigdelset(&s, sig);
    return s;
  }();
  return set;
}

// A handler that makes an interrupted sleep fail (no SA_RESTART); ignored signals and default
// actions that do not kill restart the sleep.
bool InterruptsSleep(int sig) {
  struct sigaction sa {};
  if (__sigaction(sig, nullptr, &sa) != 0) return false;
  if (!(sa.sa_flags & SA_SIGINFO) && (sa.sa_handler == SIG_DFL || sa.sa_handler == SIG_IGN)) {
    return false;
  }
  return (sa.sa_flags & SA_RESTART) == 0;
}

}  // namespace

CallGuard::CallGuard() : outer_(t_innermost) {
  pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &cancel_state_);
  pthread_sigmask(SIG_BLOCK, &AsyncSignals(), &program_mask_);
  t_innermost = this;
}

CallGuard::~CallGuard() {
  t_innermost = outer_;
  pthread_sigmask(SIG_SETMASK, &program_mask_, nullptr);
  pthread_setcancelstate(cancel_state_, nullptr);
}

CallGuard* CallGuard::Current() { return t_innermost; }

FutexResult FutexWaitInterruptible(const std::atomic<uint32_t>* word, uint32_t expected,
                                   int64_t deadline_ns) {
  CallGuard* guard = t_innermost;
  if (guard == nullptr) return FutexWait(word, expected, deadline_ns);
  // Signals held back by the guard are delivered as the mask opens: would one of them have
  // interrupted the sleep?
  sigset_t pending;
  bool interrupted = false;
  if (sigpending(&pending) == 0) {
    for (int sig = 1; sig < NSIG && !interrupted; ++sig) {
      if (IsSynchronous(sig) || sigismember(&pending, sig) != 1) continue;
      if (sigismember(&guard->program_mask(), sig) == 1) continue;  // the program blocks it itself
      interrupted = InterruptsSleep(sig);
    }
  }
  pthread_sigmask(SIG_SETMASK, &guard->program_mask(), nullptr);
  const FutexResult r =
      interrupted ? FutexResult::kInterrupted : FutexWait(word, expected, deadline_ns);
  pthread_sigmask(SIG_BLOCK, &AsyncSignals(), nullptr);
  return r;
}

}  // namespace vkfd

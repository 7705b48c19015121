#include "base/call_guard.h"

#include <pthread.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

// Dispositions are installed with glibc's __sigaction: inside the interposer the `sigaction` symbol is
// the shim's wrapper.
extern "C" int __sigaction(int sig, const struct sigaction* act, struct sigaction* old);

namespace vkfd {
namespace {

constexpr int kMaxSignal = 65;

// Per thread (initial-exec: the trampoline reads them, and must not allocate).
struct ThreadState {
  int depth = 0;
  bool sleeping = false;  // in an interruptible sleep: handlers run at once
  uint64_t pending = 0;   // bit (sig - 1) of deferred signals
  siginfo_t info[kMaxSignal];
};
__attribute__((tls_model("initial-exec"))) thread_local ThreadState t_state;

// The program's handlers, by signal. Written under a spin lock by InstallProgramHandler, read whole by
// the trampoline (a sequence word makes the copy consistent).
struct ProgramHandler {
  std::atomic<uint32_t> seq{0};
  struct sigaction act {};
  bool installed = false;  // the trampoline is the kernel's disposition
  bool known = false;      // act is the program's (it set it through us); written under the lock
};
ProgramHandler g_handlers[kMaxSignal];
std::atomic<bool> g_install_lock{false};

bool Synchronous(int sig) {
  return sig == SIGSEGV || sig == SIGBUS || sig == SIGILL || sig == SIGFPE || sig == SIGTRAP ||
         sig == SIGSYS;
}

bool ReadHandler(int sig, struct sigaction* out) {
  ProgramHandler& h = g_handlers[sig];
  for (;;) {
    const uint32_t before = h.seq.load(std::memory_order_acquire);
    if (before & 1) continue;
    memcpy(out, &h.act, sizeof(*out));
    const bool installed = h.installed;
    std::atomic_thread_fence(std::memory_order_acquire);
    if (h.seq.load(std::memory_order_relaxed) == before) return installed;
  }
}

void Redeliver(struct ThreadState& t);

void RunProgramHandler(int sig, siginfo_t* info, void* ucontext) {
  struct sigaction act;
  if (!ReadHandler(sig, &act)) return;
  if (act.sa_flags & SA_RESETHAND) {
    // The one-shot disposition: back to the default before the handler runs, as the kernel does.
    // (Counted as inside vkfd, so that a signal arriving during the write waits for it.)
    ++t_state.depth;
    struct sigaction dfl {};
    dfl.sa_handler = SIG_DFL;
    sigemptyset(&dfl.sa_mask);
    ProgramHandler& h = g_handlers[sig];
    h.seq.fetch_add(1, std::memory_order_acq_rel);
    h.act = dfl;
    h.installed = false;
    h.known = true;
    h.seq.fetch_add(1, std::memory_order_release);
    __sigaction(sig, &dfl, nullptr);
    if (--t_state.depth == 0 && t_state.pending != 0) Redeliver(t_state);
  }
  if (act.sa_flags & SA_SIGINFO) {
    if (act.sa_sigaction != nullptr) act.sa_sigaction(sig, info, ucontext);
  } else if (act.sa_handler != SIG_DFL && act.sa_handler != SIG_IGN && act.sa_handler != nullptr) {
    act.sa_handler(sig);
  }
}

void Trampoline(int sig, siginfo_t* info, void* ucontext) {
  ThreadState& t = t_state;
  if (t.depth > 0 && !t.sleeping && sig > 0 && sig < kMaxSignal) {
    const int saved = errno;
    t.info[sig] = *info;
    t.pending |= uint64_t{1} << (sig - 1);
    errno = saved;
    return;
  }
  const int saved = errno;
  RunProgramHandler(sig, info, ucontext);
  errno = saved;
}

// Sends every deferred signal again to this thread; each is delivered as the system call returns.
void Redeliver(ThreadState& t) {
  const int saved = errno;
  while (t.pending != 0) {
    const int sig = __builtin_ctzll(t.pending) + 1;
    t.pending &= ~(uint64_t{1} << (sig - 1));
    siginfo_t info = t.info[sig];
    const pid_t pid = getpid();
    const pid_t tid = static_cast<pid_t>(syscall(SYS_gettid));
    if (syscall(SYS_rt_tgsigqueueinfo, pid, tid, sig, &info) != 0) {
      syscall(SYS_tgkill, pid, tid, sig);  // si_code >= 0 from a thread other than the leader
    }
  }
  errno = saved;
}

// Would a deferred signal's handler have made a sleep fail (no SA_RESTART)?
bool PendingInterrupts(const ThreadState& t) {
  for (uint64_t bits = t.pending; bits != 0; bits &= bits - 1) {
    const int sig = __builtin_ctzll(bits) + 1;
    struct sigaction act;
    if (ReadHandler(sig, &act) && (act.sa_flags & SA_RESTART) == 0) return true;
  }
  return false;
}

}  // namespace

CallGuard::CallGuard() {
  pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &cancel_state_);
  ++t_state.depth;
}

CallGuard::~CallGuard() {
  ThreadState& t = t_state;
  if (--t.depth == 0 && t.pending != 0) Redeliver(t);
  pthread_setcancelstate(cancel_state_, nullptr);
}

FutexResult FutexWaitInterruptible(const std::atomic<uint32_t>* word, uint32_t expected,
                                   int64_t deadline_ns) {
  ThreadState& t = t_state;
  if (t.depth == 0) return FutexWait(word, expected, deadline_ns);
  const bool was_sleeping = t.sleeping;
  t.sleeping = true;
  std::atomic_signal_fence(std::memory_order_seq_cst);
  FutexResult r;
  if (t.pending != 0) {
    // Signals held back during the call are acted on here, where the kernel would act on them.
    const bool interrupts = PendingInterrupts(t);
    Redeliver(t);
    r = interrupts ? FutexResult::kInterrupted : FutexWait(word, expected, deadline_ns);
  } else {
    r = FutexWait(word, expected, deadline_ns);
  }
  std::atomic_signal_fence(std::memory_order_seq_cst);
  t.sleeping = was_sleeping;
  return r;
}

FutexResult FutexWaitDeferring(const std::atomic<uint32_t>* word, uint32_t expected,
                               int64_t deadline_ns) {
  ThreadState& t = t_state;
  if (t.depth == 0) return FutexWait(word, expected, deadline_ns);
  if (t.pending != 0 && PendingInterrupts(t)) return FutexResult::kInterrupted;
  // The trampoline defers whatever arrives now (t.sleeping stays false); the host kernel restarts
  // the futex after an SA_RESTART one and fails it with EINTR otherwise.
  return FutexWait(word, expected, deadline_ns);
}

int InstallProgramHandler(int sig, const struct sigaction* act, struct sigaction* old) {
  if (sig <= 0 || sig >= kMaxSignal || Synchronous(sig)) return __sigaction(sig, act, old);
  // A signal arriving while the table is written is deferred (the trampoline would otherwise read a
  // half-written entry, or spin on the lock this thread holds).
  CallGuard guard;
  while (g_install_lock.exchange(true, std::memory_order_acquire)) {
  }
  ProgramHandler& h = g_handlers[sig];
  struct sigaction previous = h.act;  // no writer but us: the lock is held
  const bool had = h.known;
  int r = 0;
  if (act == nullptr) {
    if (!had) r = __sigaction(sig, nullptr, &previous);
  } else {
    const bool is_handler = (act->sa_flags & SA_SIGINFO) ? act->sa_sigaction != nullptr
                                                          : act->sa_handler != SIG_DFL &&
                                                                act->sa_handler != SIG_IGN;
    struct sigaction real = *act;
    if (is_handler) {
      real.sa_sigaction = Trampoline;
      real.sa_flags = (act->sa_flags | SA_SIGINFO) & ~SA_RESETHAND;
      sigdelset(&real.sa_mask, SIGSEGV);
      sigdelset(&real.sa_mask, SIGBUS);
    }
    struct sigaction kernel_old;
    r = __sigaction(sig, &real, &kernel_old);
    if (r == 0) {
      if (!had) previous = kernel_old;
      h.seq.fetch_add(1, std::memory_order_acq_rel);
      h.act = *act;
      h.installed = is_handler;
      h.known = true;
      h.seq.fetch_add(1, std::memory_order_release);
    }
  }
  g_install_lock.store(false, std::memory_order_release);
  if (r == 0 && old != nullptr) *old = previous;
  return r;
}

}  // namespace vkfd

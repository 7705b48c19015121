// ThreadSignalTimer: real signals for tests of interruptible waits — a POSIX timer that signals the
// thread that made it (SIGEV_THREAD_ID), IGT's igt_while_interruptible in miniature, and a counting
// handler installed with or without SA_RESTART. The destructor disarms and deletes the timer and puts
// the previous handler back. One at a time per signal number.
#pragma once

#include <signal.h>
#include <time.h>
#include <unistd.h>

#include <gtest/gtest.h>

namespace vkfd::testing {

#if defined(__SANITIZE_THREAD__)
inline constexpr bool kUnderTsan = true;
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
inline constexpr bool kUnderTsan = true;
#else
inline constexpr bool kUnderTsan = false;
#endif
#else
inline constexpr bool kUnderTsan = false;
#endif

// Signals handled by the handler of the live ThreadSignalTimer.
inline volatile sig_atomic_t g_thread_signal_count = 0;

class ThreadSignalTimer {
 public:
  ThreadSignalTimer(int signo, bool restart) : signo_(signo) {
    g_thread_signal_count = 0;
    struct sigaction sa {};
    sa.sa_handler = [](int) { g_thread_signal_count = g_thread_signal_count + 1; };
    sa.sa_flags = restart ? SA_RESTART : 0;
    sigemptyset(&sa.sa_mask);
    EXPECT_EQ(0, sigaction(signo, &sa, &old_));
    sigevent sev{};
    sev.sigev_notify = SIGEV_THREAD_ID;
    sev.sigev_signo = signo;
    sev._sigev_un._tid = gettid();
    EXPECT_EQ(0, timer_create(CLOCK_MONOTONIC, &sev, &timer_));
  }
  ~ThreadSignalTimer() {
    Arm(0, 0);
    timer_delete(timer_);
    sigaction(signo_, &old_, nullptr);
  }
  ThreadSignalTimer(const ThreadSignalTimer&) = delete;
  ThreadSignalTimer& operator=(const ThreadSignalTimer&) = delete;

  // First signal after `first_ns`, then every `interval_ns` (0: once); Arm(0, 0) disarms.
  void Arm(long long first_ns, long long interval_ns) {
    itimerspec its{};
    its.it_value = {static_cast<time_t>(first_ns / 1'000'000'000), static_cast<long>(first_ns % 1'000'000'000)};
    its.it_interval = {static_cast<time_t>(interval_ns / 1'000'000'000),
                       static_cast<long>(interval_ns % 1'000'000'000)};
    EXPECT_EQ(0, timer_settime(timer_, 0, &its, nullptr));
  }
  int count() const { return g_thread_signal_count; }

 private:
  const int signo_;
  struct sigaction old_ {};
  timer_t timer_{};
};

}  // namespace vkfd::testing

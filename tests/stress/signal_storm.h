// Signal storms in the manner of the DRM test suite (IGT), as a reusable test tool, and a driver that
// runs a seeded random sequence of ALLOC / MAP / UNMAP / FREE through raw ioctls while they rage.
//
// * ThreadSignalStorm: a POSIX timer directed at one thread (SIGEV_THREAD_ID) fires periodically
//   (>= 10 kHz in the tests), with a handler installed with or without SA_RESTART — the two halves of
//   the kernel's restart rule (../shared/reference/api-designs.md). Without SA_RESTART an
//   interruptible wait in the driver must surface as -1/EINTR; with it, never.
// * ProcessGroupSignalHelper: igt_fork_signal_helper — a child process signals the whole process group
//   at a fixed rate (500 Hz by default) and the parent handles the signal with SA_RESTART. The default
//   signal is SIGCONT, as in IGT: its default action is harmless to the other members of the group
//   (the shell, ctest, sibling tests), which never installed a handler for it.
// * RunRandomOps: N random operations (ALLOC on a random GPU, MAP on 1..all GPUs in a random subset and
//   order, UNMAP of a random subset of the GPUs a BO is mapped on, FREE), each ioctl retried on EINTR
//   and EAGAIN with the *same* struct, exactly as libhsakmt's kmtIoctl does. The sequence is a pure
//   function of the seed (and of the results, which must all be success), so a run under signals and a
//   signal-free run of the same seed must end in the same state. The result carries what the tests
//   compare: the walker's view of every VM, every BO's mapping set as the page tables show it, the EINTR
//   count, and AVAILABLE_MEMORY and host memory (st_blocks of the GPU memfds) before and after freeing
//   everything.
//
// Handlers only count (async-signal-safe); the counts are global per signal number.
#pragma once

#include <signal.h>
#include <sys/types.h>
#include <time.h>

#include <cstdint>
#include <string>
#include <vector>

#include "uapi/backend.h"

namespace vkfd::stress {

enum class Restart { kNo, kYes };

// How many times the counting handler ran for `signo` since the process started.
uint64_t HandledSignals(int signo);

// A periodic, thread-directed signal. Constructed on the thread to interrupt; Start/Stop arm and disarm
// the timer; the destructor disarms, deletes the timer and restores the previous disposition.
class ThreadSignalStorm {
 public:
  ThreadSignalStorm(int signo, Restart restart, uint64_t period_ns);
  ~ThreadSignalStorm();
  ThreadSignalStorm(const ThreadSignalStorm&) = delete;
  ThreadSignalStorm& operator=(const ThreadSignalStorm&) = delete;

  bool ok() const { return ok_; }  // false if the handler or the timer could not be set up
  void Start();
  void Stop();
  uint64_t handled() const { return HandledSignals(signo_) - handled_at_start_; }

 private:
  const int signo_;
  const uint64_t period_ns_;
  bool ok_ = false;
  timer_t timer_{};
  struct sigaction old_ {};
  uint64_t handled_at_start_ = 0;
};

// A child process that sends `signo` to the caller's process group `hz` times a second until destroyed
// (or until the parent dies). The parent's handler is installed with SA_RESTART.
//
// The caller is first moved into a process group of its own (and back at destruction): a test runner
// such as ctest starts every test in its own group, and a storm there would reach unrelated tests —
// a SIGCONT cancels the SIGSTOP that LeakSanitizer's tracer waits for when another sanitized test
// exits, which then hangs.
class ProcessGroupSignalHelper {
 public:
  explicit ProcessGroupSignalHelper(int signo = SIGCONT, unsigned hz = 500);
  ~ProcessGroupSignalHelper();
  ProcessGroupSignalHelper(const ProcessGroupSignalHelper&) = delete;
  ProcessGroupSignalHelper& operator=(const ProcessGroupSignalHelper&) = delete;

  bool ok() const { return child_ > 0; }
  uint64_t handled() const { return HandledSignals(signo_) - handled_at_start_; }

 private:
  const int signo_;
  pid_t child_ = -1;
  pid_t old_group_ = -1;  // restored at destruction, when the group was changed
  struct sigaction old_ {};
  uint64_t handled_at_start_ = 0;
};

struct StormOptions {
  uint64_t seed = 1;
  uint64_t ops = 10000;          // ioctls of the random phase (ALLOC/MAP/UNMAP/FREE)
  size_t max_live_bos = 48;
  uint64_t check_every = 2048;   // invariant 1 (Backend::CheckInvariant) every this many ops
};

struct StormResult {
  std::string error;             // first unexpected result or broken invariant; empty if none
  uint64_t ops = 0;
  uint64_t allocs = 0, maps = 0, unmaps = 0, frees = 0;
  uint64_t eintr = 0;            // -1/EINTR results seen (and retried)
  uint64_t eagain = 0;
  uint64_t invariant_checks = 0;
  // Before the final teardown of the BOs: the walker's view per GPU, and one line per live BO,
  // "slot va size gpu-mask" with the mask read from the page tables.
  std::vector<std::string> vm_dumps;
  std::string mapping_sets;
  // Per GPU AVAILABLE_MEMORY after ACQUIRE_VM (baseline) and after unmapping and freeing every BO;
  // host memory is the total st_blocks*512 of the GPU memfds.
  std::vector<uint64_t> available_before, available_after;
  // Host memory: before ACQUIRE_VM (the process holds nothing yet), after freeing every BO (only
  // page tables may remain), and after the process has ended (everything must be back).
  uint64_t host_bytes_before = 0, host_bytes_after_free = 0, host_bytes_after = 0;
  bool process_ended = false;  // the backend could end the process (in-process backend)
};

// Opens /dev/kfd and every render node on `backend`, acquires every VM, runs the sequence, then unmaps
// and frees everything and closes the files. Every ioctl goes through KmtIoctl.
StormResult RunRandomOps(conformance::Backend& backend, const StormOptions& options);

// libhsakmt's kmtIoctl: re-issue the same request with the same argument while it fails with EINTR or
// EAGAIN. Counts the EINTRs into *eintr.
int KmtIoctl(conformance::Backend& backend, int fd, unsigned long request, void* arg,
             uint64_t* eintr, uint64_t* eagain);

// Operation counts from the environment: VKFD_STRESS_OPS if set, else `ci_default`, divided by
// `sanitizer_divisor` when VKFD_TEST_SCALE=sanitizer.
uint64_t StressOpsFromEnvironment(uint64_t ci_default, uint64_t sanitizer_divisor);

}  // namespace vkfd::stress

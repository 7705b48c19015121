// FenceFile: the object behind a fence fd (vkfd extension, docs/extensions.md) — a fixed set of
// fences, in the mould of sync_file, whose fd becomes readable (POLLIN) once all of them have
// signalled, so that poll()/epoll work on the fd with no interception.
//
// The fd is one end of an AF_UNIX SOCK_SEQPACKET socket pair, so that it behaves like a sync_file
// across processes: the kernel object, not vkfd's bookkeeping, carries the state.
//  * The client's end is bound to the abstract name "\0vkfd-fence:<pid>:<seq>:<fences>": any process
//    holding the fd — a forked child, a receiver over SCM_RIGHTS, a program after exec — recognises it
//    as a fence fd by getsockname() (IsFenceFd) and learns its fence count from the name.
//  * When the last fence signals, the FenceFile sends one message, the final state (FenceFdState), on
//    its own end and closes it. The message stays queued: PeekFenceFd() reads it with MSG_PEEK from any
//    process, and it makes the fd readable for poll(). A program that read()s the fd consumes it —
//    don't (nor would one read() a sync_file).
// When every fence has signalled already, the message is sent at once and no end is kept.
//
// Life cycle: Create() returns the client's end to the caller, who hands it to the client (and
// registers it in the device's file table). The fences' callbacks hold the FenceFile alive until they
// have run. The fence set never changes; MERGE makes a new FenceFile (MergeFenceFds for fence fds of
// other processes). Thread-safe: the pending count is atomic, fences have their own locks, mu_ guards
// only the list of waiters.
//
// Signalling path (a fence callback, on the DMA engine's thread or inline under Process::mu_): an
// atomic decrement; the last one sends the message, closes its end and wakes the registered waiters
// under mu_ (a leaf). It allocates nothing and calls no interposed libc function (raw system calls:
// this code also runs inside the LD_PRELOAD interposer, whose wrappers must not see the driver's
// private fds).
//
// WaitFenceFiles() is the multi-fence wait of FENCE_WAIT: all or any, absolute CLOCK_MONOTONIC
// deadline, sleeping on the thread's WakeWord (base/wake_word.h): restarted by the host kernel after an
// SA_RESTART handler, EINTR otherwise — the kernel's own rule — and, the deadline being absolute, a
// restarted wait never outlives it. The last fence of a file wakes its waiters' words. Never call it
// holding a kfd lock.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "base/status.h"
#include "base/wake_word.h"
#include "base/thread_annotations.h"
#include "kfd/fence.h"

namespace vkfd::kfd {

// A deadline that never passes (VKFD_DEADLINE_NONE).
inline constexpr int64_t kNoDeadline = INT64_MAX;

// The final state of a fence fd, as its socket carries it.
struct FenceFdState {
  int32_t status = 0;       // 1 signalled without error, -1 with `error`
  int32_t error = 0;        // a Code, the first error in fence order
  int64_t timestamp_ns = 0;  // latest signalling time
};

// True if `fd` is a fence fd (of any process).
bool IsFenceFd(int fd);
// The state of any fence fd, read without consuming it: kOk with *signaled false while pending;
// kBadFd if `fd` is not a fence fd. *num_fences receives the fence count.
Status PeekFenceFd(int fd, bool* signaled, FenceFdState* state, uint32_t* num_fences);
// MERGE of fence fds whatever process made them: a new fence fd (the client's end, close-on-exec) that
// signals once both have. Pending inputs are watched by a helper thread (poll) until they signal.
// kTooManyFiles / kNoMemory as Create; kBadFd if either is not a fence fd.
Result<int> MergeFenceFds(int fd1, int fd2);

class FenceFile : public std::enable_shared_from_this<FenceFile> {
 public:
  // Null fences are dropped and duplicates merged. kTooManyFiles if the process has no fd number
  // left (the kernel's -EMFILE), kNoMemory if the host refuses an fd otherwise. *client_fd receives
  // the fd to give out (close-on-exec, non-blocking); its ownership passes to the caller.
  static Result<std::shared_ptr<FenceFile>> Create(std::vector<FenceRef> fences, int* client_fd);
  ~FenceFile();
  FenceFile(const FenceFile&) = delete;
  FenceFile& operator=(const FenceFile&) = delete;

  const std::vector<FenceRef>& fences() const { return fences_; }
  bool signaled() const { return pending_.load(std::memory_order_acquire) == 0; }
  // 1 signalled without error, 0 pending, -1 once all have signalled and one carries an error;
  // `error` receives the first such error in fence order (kOk otherwise).
  int status(Code* error) const;
  // Latest signalling time (CLOCK_MONOTONIC ns) once all have signalled, else 0.
  int64_t timestamp_ns() const;

 private:
  friend Status WaitFenceFiles(std::span<const std::shared_ptr<FenceFile>> files, bool all,
                               int64_t deadline_ns, uint32_t* first_signaled);
  struct Waiter {
    WakeWord* word = nullptr;  // the waiting thread's
  };

  explicit FenceFile(std::vector<FenceRef> fences) : fences_(std::move(fences)) {}
  void Arm();
  void OneSignaled();
  void AddWaiter(Waiter* waiter) EXCLUDES(mu_);
  void RemoveWaiter(Waiter* waiter) EXCLUDES(mu_);

  const std::vector<FenceRef> fences_;
  std::atomic<size_t> pending_{0};
  std::atomic<int> notify_fd_{-1};  // our end of the socket pair, until the state is sent
  Mutex mu_;
  std::vector<Waiter*> waiters_ GUARDED_BY(mu_);
};

// Waits for the fence files: all of them (`all`), or any one. kOk with *first_signaled the lowest
// index of a signalled file; kTimedOut once `deadline_ns` (CLOCK_MONOTONIC; kNoDeadline: none) has
// passed — a deadline in the past only polls; kInterrupted when a handler without SA_RESTART ran.
Status WaitFenceFiles(std::span<const std::shared_ptr<FenceFile>> files, bool all,
                      int64_t deadline_ns, uint32_t* first_signaled);

}  // namespace vkfd::kfd

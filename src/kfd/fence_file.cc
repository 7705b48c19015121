#include "kfd/fence_file.h"

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "base/private_fds.h"
#include "base/process_identity.h"
#include "base/service_signals.h"

namespace vkfd::kfd {
namespace {

// Raw system calls for the driver's private end (see the header: not through the interposer).
void RawClose(int fd) { syscall(SYS_close, fd); }

Code FdErrorCode(int err) {
  return err == EMFILE || err == ENFILE ? Code::kTooManyFiles : Code::kNoMemory;
}

constexpr char kNamePrefix[] = "vkfd-fence:";

std::atomic<uint64_t> g_fence_fd_sequence{0};

// A socket pair whose client end (sv[0]) is named after the fence count. The private end is
// marked private (base/private_fds.h) until closed.
Status MakePair(uint32_t num_fences, int sv[2]) {
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, sv) != 0) {
    return Status(FdErrorCode(errno));
  }
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  const int len = snprintf(addr.sun_path + 1, sizeof(addr.sun_path) - 1, "%s%d:%llu:%u",
                           kNamePrefix, CurrentPid(),
                           static_cast<unsigned long long>(g_fence_fd_sequence.fetch_add(1) + 1),
                           num_fences);
  if (bind(sv[0], reinterpret_cast<sockaddr*>(&addr),
           static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + 1 + len)) != 0) {
    const int err = errno;
    RawClose(sv[0]);
    RawClose(sv[1]);
    return Status(FdErrorCode(err));
  }
  MarkPrivateFd(sv[1]);
  return Status::Ok();
}

void SendState(int fd, const FenceFdState& state) {
  // Cannot fail: the socket is fresh and holds one message.
  [[maybe_unused]] const ssize_t n =
      syscall(SYS_sendto, fd, &state, sizeof(state), MSG_DONTWAIT | MSG_NOSIGNAL, nullptr, 0);
  UnmarkPrivateFd(fd);
  RawClose(fd);
}

}  // namespace

bool IsFenceFd(int fd) {
  sockaddr_un addr{};
  socklen_t len = sizeof(addr);
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) return false;
  return addr.sun_family == AF_UNIX && len > offsetof(sockaddr_un, sun_path) + sizeof(kNamePrefix) - 1 &&
         addr.sun_path[0] == '\0' &&
         memcmp(addr.sun_path + 1, kNamePrefix, sizeof(kNamePrefix) - 1) == 0;
}

Status PeekFenceFd(int fd, bool* signaled, FenceFdState* state, uint32_t* num_fences) {
  sockaddr_un addr{};
  socklen_t len = sizeof(addr);
  if (!IsFenceFd(fd) || getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    return Status(Code::kBadFd);
  }
  // The count is the name's last field (no allocation here: a forked child may call this).
  const size_t name_len = len - offsetof(sockaddr_un, sun_path) - 1;
  uint32_t count = 0;
  size_t colon = name_len;
  while (colon > 0 && addr.sun_path[colon] != ':') --colon;
  for (size_t i = colon + 1; i <= name_len; ++i) {
    if (addr.sun_path[i] < '0' || addr.sun_path[i] > '9') break;
    count = count * 10 + uint32_t(addr.sun_path[i] - '0');
  }
  *num_fences = count;
  *state = FenceFdState{};
  const ssize_t n = recv(fd, state, sizeof(*state), MSG_PEEK | MSG_DONTWAIT);
  *signaled = n == static_cast<ssize_t>(sizeof(*state));
  if (!*signaled) *state = FenceFdState{};
  return Status::Ok();
}

namespace {

// Watches two fence fds of any process and sends the merged state on `notify` once both signalled.
struct MergeWatch {
  int in[2];
  int notify;
};

FenceFdState Combine(const FenceFdState& a, const FenceFdState& b) {
  FenceFdState out;
  out.status = a.status < 0 || b.status < 0 ? -1 : 1;
  out.error = a.status < 0 ? a.error : b.error;
  out.timestamp_ns = std::max(a.timestamp_ns, b.timestamp_ns);
  return out;
}

void* WatchMerge(void* arg) {
  auto* w = static_cast<MergeWatch*>(arg);
  for (;;) {
    pollfd fds[2] = {{w->in[0], POLLIN, 0}, {w->in[1], POLLIN, 0}};
    bool signaled[2] = {false, false};
    FenceFdState states[2];
    uint32_t count;
    for (int i = 0; i < 2; ++i) {
      if (!PeekFenceFd(w->in[i], &signaled[i], &states[i], &count).ok()) signaled[i] = true;
      if (signaled[i]) fds[i].fd = -1;
    }
    if (signaled[0] && signaled[1]) {
      SendState(w->notify, Combine(states[0], states[1]));
      break;
    }
    poll(fds, 2, -1);
  }
  for (int fd : w->in) {
    UnmarkPrivateFd(fd);
    RawClose(fd);
  }
  delete w;
  return nullptr;
}

}  // namespace

Result<int> MergeFenceFds(int fd1, int fd2) {
  bool signaled[2];
  FenceFdState states[2];
  uint32_t counts[2];
  const int in[2] = {fd1, fd2};
  for (int i = 0; i < 2; ++i) {
    VKFD_RETURN_IF_ERROR(PeekFenceFd(in[i], &signaled[i], &states[i], &counts[i]));
  }
  // The count is an upper bound when the inputs share fences (they cannot be compared across
  // processes).
  int sv[2];
  VKFD_RETURN_IF_ERROR(MakePair(fd1 == fd2 ? counts[0] : counts[0] + counts[1], sv));
  if (signaled[0] && signaled[1]) {
    SendState(sv[1], Combine(states[0], states[1]));
    return sv[0];
  }
  auto* watch = new MergeWatch{{-1, -1}, sv[1]};
  for (int i = 0; i < 2; ++i) {
    watch->in[i] = static_cast<int>(syscall(SYS_fcntl, in[i], F_DUPFD_CLOEXEC, 0));
    if (watch->in[i] >= 0) MarkPrivateFd(watch->in[i]);
  }
  // Undoes everything above when the watcher cannot be started.
  auto abandon = [&] {
    for (int fd : watch->in) {
      if (fd >= 0) {
        UnmarkPrivateFd(fd);
        RawClose(fd);
      }
    }
    UnmarkPrivateFd(sv[1]);
    RawClose(sv[1]);
    RawClose(sv[0]);
    delete watch;
  };
  if (watch->in[0] < 0 || watch->in[1] < 0) {
    const int err = errno;
    abandon();
    return FdErrorCode(err);
  }
  // The watcher must not take signals meant for the program's threads (base/service_signals.h).
  const sigset_t mask = ServiceThreadSignalMask();
  sigset_t old;
  pthread_sigmask(SIG_SETMASK, &mask, &old);
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
  pthread_attr_setstacksize(&attr, 64 * 1024);
  pthread_t thread;
  const int made = pthread_create(&thread, &attr, WatchMerge, watch);
  pthread_attr_destroy(&attr);
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  if (made != 0) {
    abandon();
    return Code::kNoMemory;
  }
  return sv[0];
}

Result<std::shared_ptr<FenceFile>> FenceFile::Create(std::vector<FenceRef> fences, int* client_fd) {
  fences.erase(std::remove(fences.begin(), fences.end(), nullptr), fences.end());
  // Merge duplicates, keeping the first occurrence's position (status() reports in fence order).
  std::vector<FenceRef> unique;
  unique.reserve(fences.size());
  for (FenceRef& f : fences) {
    if (std::find(unique.begin(), unique.end(), f) == unique.end()) unique.push_back(std::move(f));
  }
  std::shared_ptr<FenceFile> file(new FenceFile(std::move(unique)));
  const bool done = std::all_of(file->fences_.begin(), file->fences_.end(),
                                [](const FenceRef& f) { return f->signaled(); });
  int sv[2];
  VKFD_RETURN_IF_ERROR(MakePair(static_cast<uint32_t>(file->fences_.size()), sv));
  if (done) {
    // Fast path: everything has signalled (the DMA engine ran the updates inline) — a readable fd
    // and nothing else.
    file->notify_fd_.store(sv[1], std::memory_order_relaxed);
    file->pending_.store(1, std::memory_order_relaxed);
    file->OneSignaled();
  } else {
    file->notify_fd_.store(sv[1], std::memory_order_relaxed);
    file->Arm();
  }
  *client_fd = sv[0];
  return file;
}

FenceFile::~FenceFile() {
  // Only reachable with fences pending if a fence died unsignalled (its callbacks held us).
  const int fd = notify_fd_.exchange(-1);
  if (fd >= 0) {
    UnmarkPrivateFd(fd);
    RawClose(fd);
  }
}

void FenceFile::Arm() {
  pending_.store(fences_.size(), std::memory_order_release);
  for (const FenceRef& fence : fences_) {
    // The callback's reference keeps the file alive until the fence has signalled.
    auto id = fence->AddCallback([self = shared_from_this()] { self->OneSignaled(); });
    if (!id) OneSignaled();  // signalled meanwhile
  }
}

void FenceFile::OneSignaled() {
  if (pending_.fetch_sub(1, std::memory_order_acq_rel) != 1) return;
  const int fd = notify_fd_.exchange(-1);
  if (fd >= 0) {
    FenceFdState state;
    Code error = Code::kOk;
    state.status = status(&error);
    state.error = static_cast<int32_t>(error);
    state.timestamp_ns = timestamp_ns();
    SendState(fd, state);
  }
  MutexLock lock(&mu_);
  for (Waiter* w : waiters_) w->word->Wake();
}

int FenceFile::status(Code* error) const {
  *error = Code::kOk;
  if (!signaled()) return 0;
  for (const FenceRef& f : fences_) {
    const Code e = f->error();
    if (e != Code::kOk) {
      *error = e;
      return -1;
    }
  }
  return 1;
}

int64_t FenceFile::timestamp_ns() const {
  if (!signaled()) return 0;
  int64_t latest = 0;
  for (const FenceRef& f : fences_) latest = std::max(latest, f->timestamp_ns());
  return latest;
}

void FenceFile::AddWaiter(Waiter* waiter) {
  MutexLock lock(&mu_);
  waiters_.push_back(waiter);
}

void FenceFile::RemoveWaiter(Waiter* waiter) {
  MutexLock lock(&mu_);
  waiters_.erase(std::remove(waiters_.begin(), waiters_.end(), waiter), waiters_.end());
}

Status WaitFenceFiles(std::span<const std::shared_ptr<FenceFile>> files, bool all,
                      int64_t deadline_ns, uint32_t* first_signaled) {
  auto done = [&] {
    size_t count = 0;
    bool first = true;
    for (size_t i = 0; i < files.size(); ++i) {
      if (!files[i]->signaled()) continue;
      if (first) *first_signaled = static_cast<uint32_t>(i);
      first = false;
      ++count;
    }
    return count > 0 && (!all || count == files.size());
  };
  if (files.empty()) return Status(Code::kInvalidArgs);
  if (done()) return Status::Ok();
  if (deadline_ns != kNoDeadline && deadline_ns <= MonotonicNowNs()) {
    return Status(Code::kTimedOut);
  }
  WakeWord word;
  std::vector<FenceFile::Waiter> waiters(files.size());
  for (size_t i = 0; i < files.size(); ++i) {
    waiters[i].word = &word;
    files[i]->AddWaiter(&waiters[i]);
  }
  const int64_t deadline = deadline_ns == kNoDeadline ? 0 : deadline_ns;
  Code code = Code::kOk;
  for (;;) {
    // Reset, then check, then sleep (wake_word.h): no wake-up is lost in between.
    word.Reset();
    if (done()) break;
    const FutexResult slept = word.Sleep(deadline);
    if (slept == FutexResult::kInterrupted && !done()) {
      code = Code::kInterrupted;
      break;
    }
    if (slept == FutexResult::kTimedOut && !done()) {
      code = Code::kTimedOut;
      break;
    }
  }
  // Deregister: afterwards no file touches this thread's word again.
  for (size_t i = 0; i < files.size(); ++i) files[i]->RemoveWaiter(&waiters[i]);
  return Status(code);
}

}  // namespace vkfd::kfd

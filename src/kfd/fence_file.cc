#include "kfd/fence_file.h"

#include <fcntl.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>


namespace vkfd::kfd {
namespace {

// Raw system calls for the driver's private duplicate (see the header: not through the interposer).
int RawDupCloexec(int fd) { return static_cast<int>(syscall(SYS_fcntl, fd, F_DUPFD_CLOEXEC, 0)); }
void RawClose(int fd) { syscall(SYS_close, fd); }

Code FdErrorCode(int err) {
  return err == EMFILE || err == ENFILE ? Code::kTooManyFiles : Code::kNoMemory;
}

}  // namespace

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
  // Fast path: everything has signalled (the DMA engine ran the updates inline) — a readable eventfd
  // and nothing else.
  const int fd = eventfd(done ? 1 : 0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (fd < 0) return FdErrorCode(errno);
  if (!done) {
    const int notify = RawDupCloexec(fd);
    if (notify < 0) {
      const int err = errno;
      RawClose(fd);
      return FdErrorCode(err);
    }
    file->notify_fd_.store(notify, std::memory_order_relaxed);
    file->Arm();
  }
  *client_fd = fd;
  return file;
}

FenceFile::~FenceFile() {
  // Only reachable with fences pending if a fence died unsignalled (its callbacks held us).
  const int fd = notify_fd_.exchange(-1);
  if (fd >= 0) RawClose(fd);
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
    const uint64_t one = 1;
    // Cannot fail: the counter is far from overflow and the fd is ours.
    [[maybe_unused]] const ssize_t n = write(fd, &one, sizeof(one));
    RawClose(fd);
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

#include "kfd/wait_timer.h"

#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

namespace vkfd::kfd {
namespace {

class ThreadTimer {
 public:
  ~ThreadTimer() {
    if (fd_ >= 0) close(fd_);
  }
  int fd() {
    const pid_t pid = getpid();
    if (fd_ < 0 || pid_ != pid) {
      // The inherited fd (if any) belongs to the parent's description; leave it to the parent.
      fd_ = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC);
      pid_ = pid;
    }
    return fd_;
  }

 private:
  int fd_ = -1;
  pid_t pid_ = 0;
};

}  // namespace

int ThreadTimerFd() {
  thread_local ThreadTimer timer;
  return timer.fd();
}

void ArmTimer(int fd, int64_t deadline_ns) {
  itimerspec spec{};
  spec.it_value.tv_sec = static_cast<time_t>(deadline_ns / 1000000000);
  spec.it_value.tv_nsec = static_cast<long>(deadline_ns % 1000000000);
  // Failure is impossible for a valid timerfd and an absolute time; a lost arm would only make a
  // finite wait end late, never early.
  [[maybe_unused]] int r = timerfd_settime(fd, TFD_TIMER_ABSTIME, &spec, nullptr);
}

void WakeTimer(int fd) { ArmTimer(fd, 1); }

}  // namespace vkfd::kfd

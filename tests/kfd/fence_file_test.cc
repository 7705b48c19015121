// FenceFile (the object behind a fence fd) and WaitFenceFiles (FENCE_WAIT): POLLIN exactly when every
// fence has signalled, status and timestamps, life cycle against the client's close(), all/any waits,
// deadlines in the past, deadlines honoured across SA_RESTART restarts, EINTR without SA_RESTART, and
// no lost wake-ups when fences signal concurrently with the wait.
#include "kfd/fence_file.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <random>
#include <thread>
#include <vector>

#include "testing/thread_signal_timer.h"

namespace vkfd::kfd {
namespace {

using testing::kUnderTsan;
using testing::ThreadSignalTimer;

constexpr int64_t kMs = 1'000'000;

// Sanitizer builds run a tenth of the iterations and allow more scheduling slack.
bool SanitizerScale() {
  const char* scale = getenv("VKFD_TEST_SCALE");
  return kUnderTsan || (scale != nullptr && strcmp(scale, "sanitizer") == 0);
}
int64_t Slack() { return SanitizerScale() ? 250 * kMs : 100 * kMs; }

// A wait for all of `files` that must time out: at the deadline, and not much later.
void ExpectTimesOutAt(std::span<const std::shared_ptr<FenceFile>> files, int64_t deadline) {
  uint32_t first = 0;
  EXPECT_EQ(Code::kTimedOut, WaitFenceFiles(files, true, deadline, &first).code());
  const int64_t now = MonotonicNowNs();
  EXPECT_GE(now, deadline);
  EXPECT_LT(now, deadline + Slack());
}

bool Readable(int fd) {
  pollfd p{fd, POLLIN, 0};
  return poll(&p, 1, 0) == 1 && (p.revents & POLLIN) != 0;
}

struct Made {
  std::shared_ptr<FenceFile> file;
  int fd = -1;
};

Made Make(std::vector<FenceRef> fences) {
  Made m;
  auto file = FenceFile::Create(std::move(fences), &m.fd);
  EXPECT_TRUE(file.ok());
  if (file.ok()) m.file = std::move(file.value());
  return m;
}

TEST(FenceFileTest, PollInOnceEveryFenceHasSignalled) {
  auto a = std::make_shared<Fence>();
  auto b = std::make_shared<Fence>();
  Made m = Make({a, b, a, nullptr});
  ASSERT_GE(m.fd, 0);
  EXPECT_EQ(2u, m.file->fences().size());  // null dropped, duplicate merged
  EXPECT_NE(0, fcntl(m.fd, F_GETFD) & FD_CLOEXEC);
  Code error = Code::kOk;
  EXPECT_FALSE(Readable(m.fd));
  EXPECT_EQ(0, m.file->status(&error));
  EXPECT_EQ(0, m.file->timestamp_ns());
  a->Signal();
  EXPECT_FALSE(Readable(m.fd));
  EXPECT_FALSE(m.file->signaled());
  EXPECT_EQ(0, m.file->status(&error));
  b->Signal(Code::kIo);
  EXPECT_TRUE(Readable(m.fd));
  EXPECT_TRUE(m.file->signaled());
  EXPECT_EQ(-1, m.file->status(&error));
  EXPECT_EQ(Code::kIo, error);
  EXPECT_EQ(std::max(a->timestamp_ns(), b->timestamp_ns()), m.file->timestamp_ns());
  close(m.fd);
}

TEST(FenceFileTest, SignalledFencesGiveAReadableFdAtOnce) {
  Made m = Make({Fence::Signaled(), Fence::Signaled()});
  EXPECT_TRUE(Readable(m.fd));
  Code error = Code::kInvalidArgs;
  EXPECT_EQ(1, m.file->status(&error));
  EXPECT_EQ(Code::kOk, error);
  EXPECT_GT(m.file->timestamp_ns(), 0);
  close(m.fd);
  Made empty = Make({});
  EXPECT_TRUE(Readable(empty.fd));
  EXPECT_EQ(1, empty.file->status(&error));
  close(empty.fd);
}

TEST(FenceFileTest, TheClientsCloseNeverMakesTheSignalWriteElsewhere) {
  auto fence = std::make_shared<Fence>();
  Made m = Make({fence});
  const int number = m.fd;
  close(m.fd);
  // The number is free again; the next fd very likely reuses it.
  const int other = eventfd(0, EFD_CLOEXEC);
  ASSERT_GE(other, 0);
  fence->Signal();
  EXPECT_FALSE(Readable(other)) << "fd " << number << " reused as " << other;
  close(other);
}

TEST(FenceFileTest, LivesUntilItsFencesHaveSignalled) {
  auto fence = std::make_shared<Fence>();
  Made m = Make({fence});
  std::weak_ptr<FenceFile> weak = m.file;
  m.file.reset();
  EXPECT_FALSE(weak.expired());  // the fence's callback holds it
  fence->Signal();
  EXPECT_TRUE(weak.expired());
  EXPECT_TRUE(Readable(m.fd));
  close(m.fd);
}

TEST(WaitFenceFilesTest, AllAndAny) {
  auto a = std::make_shared<Fence>();
  auto b = std::make_shared<Fence>();
  Made fa = Make({a});
  Made fb = Make({b});
  std::vector<std::shared_ptr<FenceFile>> files = {fa.file, fb.file};
  uint32_t first = 99;
  EXPECT_EQ(Code::kTimedOut, WaitFenceFiles(files, false, 0, &first).code());
  b->Signal();
  EXPECT_TRUE(WaitFenceFiles(files, false, kNoDeadline, &first).ok());
  EXPECT_EQ(1u, first);
  EXPECT_EQ(Code::kTimedOut, WaitFenceFiles(files, true, MonotonicNowNs() + kMs, &first).code());
  a->Signal();
  EXPECT_TRUE(WaitFenceFiles(files, true, kNoDeadline, &first).ok());
  EXPECT_EQ(0u, first);
  EXPECT_TRUE(WaitFenceFiles(files, false, 0, &first).ok());
  EXPECT_EQ(0u, first);
  close(fa.fd);
  close(fb.fd);
}

TEST(WaitFenceFilesTest, ADeadlineInThePastOnlyPolls) {
  auto pending = std::make_shared<Fence>();
  Made m = Make({pending});
  std::vector<std::shared_ptr<FenceFile>> files = {m.file};
  uint32_t first = 0;
  for (int64_t deadline : {int64_t{0}, int64_t{-1}, INT64_MIN, MonotonicNowNs() - kMs}) {
    const int64_t start = MonotonicNowNs();
    EXPECT_EQ(Code::kTimedOut, WaitFenceFiles(files, true, deadline, &first).code());
    EXPECT_LT(MonotonicNowNs() - start, Slack());
  }
  pending->Signal();
  EXPECT_TRUE(WaitFenceFiles(files, true, 0, &first).ok());
  close(m.fd);
}

TEST(WaitFenceFilesTest, TheDeadlineIsHonoured) {
  auto pending = std::make_shared<Fence>();
  Made m = Make({pending});
  std::vector<std::shared_ptr<FenceFile>> files = {m.file};
  const int64_t deadline = MonotonicNowNs() + 20 * kMs;
  ExpectTimesOutAt(files, deadline);
  pending->Signal();  // a fence must signal: its callback holds the file
  close(m.fd);
}

TEST(WaitFenceFilesTest, WokenByAnotherThread) {
  auto fence = std::make_shared<Fence>();
  Made m = Make({fence});
  std::vector<std::shared_ptr<FenceFile>> files = {m.file};
  std::thread t([fence] {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
    fence->Signal();
  });
  uint32_t first = 7;
  EXPECT_TRUE(WaitFenceFiles(files, true, kNoDeadline, &first).ok());
  EXPECT_EQ(0u, first);
  t.join();
  close(m.fd);
}

TEST(WaitFenceFilesTest, SeveralWaitersOnOneFileAreAllWoken) {
  auto fence = std::make_shared<Fence>();
  Made m = Make({fence});
  std::atomic<int> woken{0};
  std::vector<std::thread> waiters;
  for (int i = 0; i < 4; ++i) {
    waiters.emplace_back([&] {
      std::vector<std::shared_ptr<FenceFile>> files = {m.file};
      uint32_t first = 0;
      if (WaitFenceFiles(files, true, MonotonicNowNs() + 10'000 * kMs, &first).ok()) ++woken;
    });
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(10));
  fence->Signal();
  for (auto& t : waiters) t.join();
  EXPECT_EQ(4, woken.load());
  close(m.fd);
}

// ---- Real signals during the wait ----------------------------------------------------------------

class SignalDuringWaitTest : public ::testing::Test {
 protected:
  void Install(bool restart) { timer_ = std::make_unique<ThreadSignalTimer>(SIGRTMIN, restart); }
  void Arm(long long first_ns, long long interval_ns) { timer_->Arm(first_ns, interval_ns); }
  int signals() const { return timer_->count(); }
  std::unique_ptr<ThreadSignalTimer> timer_;
};

TEST_F(SignalDuringWaitTest, WithSaRestartTheWaitGoesOnAndTheDeadlineIsNotExtended) {
  Install(/*restart=*/true);
  auto pending = std::make_shared<Fence>();
  Made m = Make({pending});
  std::vector<std::shared_ptr<FenceFile>> files = {m.file};
  const int64_t deadline = MonotonicNowNs() + 40 * kMs;
  Arm(2 * kMs, 2 * kMs);
  ExpectTimesOutAt(files, deadline);
  Arm(0, 0);
  // A timer's signals coalesce while one is pending (a loaded host, ThreadSanitizer's deferred
  // delivery): one delivery is all that can be asserted.
  EXPECT_GT(signals(), 0);
  pending->Signal();  // a fence must signal: its callback holds the file
  close(m.fd);
}

TEST_F(SignalDuringWaitTest, WithoutSaRestartTheWaitIsInterruptedAndARetryKeepsTheDeadline) {
  Install(/*restart=*/false);
  auto pending = std::make_shared<Fence>();
  Made m = Make({pending});
  std::vector<std::shared_ptr<FenceFile>> files = {m.file};
  uint32_t first = 0;
  // Interrupted late in the wait, so that a retry that restarted the full timeout would end 300 ms
  // past the deadline, beyond any scheduling slack.
  const int64_t deadline = MonotonicNowNs() + 400 * kMs;
  Arm(300 * kMs, 0);
  EXPECT_EQ(Code::kInterrupted, WaitFenceFiles(files, true, deadline, &first).code());
  EXPECT_EQ(1, signals());
  EXPECT_LT(MonotonicNowNs(), deadline);
  // The restarted call (same absolute deadline) ends at the deadline, not 400 ms after the restart.
  ExpectTimesOutAt(files, deadline);
  pending->Signal();  // a fence must signal: its callback holds the file
  close(m.fd);
}

TEST_F(SignalDuringWaitTest, ASignalOnceTheFencesAreDoneIsNotAnInterruption) {
  Install(/*restart=*/false);
  auto fence = std::make_shared<Fence>();
  Made m = Make({fence});
  std::vector<std::shared_ptr<FenceFile>> files = {m.file};
  fence->Signal();
  Arm(1 * kMs, 0);
  uint32_t first = 0;
  EXPECT_TRUE(WaitFenceFiles(files, true, kNoDeadline, &first).ok());
  close(m.fd);
}

// ---- No lost wake-ups ------------------------------------------------------------------------------

// Each round: fresh fences in a few files; a persistent signaller thread, released the moment the
// waiter enters WaitFenceFiles, spins for a random 0-20 us (the span of the waiter's registration,
// check and arming) and signals the fences in random order; the waiter waits with a 2 s deadline. A
// lost wake-up shows as a round that ends only at the deadline (a timeout, or success noticed late).
void Storm(bool all) {
  const int rounds = SanitizerScale() ? 400 : 4000;
  std::mt19937 rng(all ? 1 : 2);
  std::atomic<int> go{0};
  std::atomic<int> done{0};
  std::vector<FenceRef> fences;
  std::vector<size_t> order;
  int64_t delay_ns = 0;
  std::thread signaller([&] {
    for (int round = 1; round <= rounds; ++round) {
      while (go.load(std::memory_order_acquire) != round) std::this_thread::yield();
      const int64_t until = MonotonicNowNs() + delay_ns;
      while (MonotonicNowNs() < until) {
      }
      for (size_t i : order) fences[i]->Signal();
      done.store(round, std::memory_order_release);
    }
  });
  for (int round = 1; round <= rounds; ++round) {
    const size_t n = 1 + rng() % 3;
    fences.clear();
    std::vector<Made> made;
    std::vector<std::shared_ptr<FenceFile>> files;
    for (size_t i = 0; i < n; ++i) {
      fences.push_back(std::make_shared<Fence>());
      made.push_back(Make({fences.back()}));
      files.push_back(made.back().file);
    }
    order.resize(n);
    for (size_t i = 0; i < n; ++i) order[i] = i;
    std::shuffle(order.begin(), order.end(), rng);
    delay_ns = static_cast<int64_t>(rng() % 20'000);
    uint32_t first = 0;
    const int64_t start = MonotonicNowNs();
    go.store(round, std::memory_order_release);
    const Code code = WaitFenceFiles(files, all, start + 2'000 * kMs, &first).code();
    const int64_t took = MonotonicNowNs() - start;
    while (done.load(std::memory_order_acquire) != round) std::this_thread::yield();
    EXPECT_EQ(Code::kOk, code) << "round " << round;
    EXPECT_LT(took, 1'000 * kMs) << "round " << round << ": lost wake-up";
    if (code != Code::kOk || took >= 1'000 * kMs) break;
    EXPECT_TRUE(files[first]->signaled());
    for (Made& m : made) close(m.fd);
  }
  // Release the signaller from the rounds it still waits for, if the loop stopped early.
  for (int r = done.load() + 1; r <= rounds; ++r) {
    order.clear();
    go.store(r, std::memory_order_release);
    while (done.load(std::memory_order_acquire) != r) std::this_thread::yield();
  }
  signaller.join();
}

TEST(WaitFenceFilesTest, NoLostWakeupsWaitingForAll) { Storm(/*all=*/true); }
TEST(WaitFenceFilesTest, NoLostWakeupsWaitingForAny) { Storm(/*all=*/false); }

}  // namespace
}  // namespace vkfd::kfd

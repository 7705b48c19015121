// base/trace.h: records from several threads become whole JSON lines, one per event, in a file that
// stays a valid trace; a forked child records nothing into its parent's tracer; Stop writes the rest.
#include "base/trace.h"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "base/futex.h"
#include "base/trace_clock.h"

namespace vkfd::trace {
namespace {

class TraceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char path[] = "/tmp/vkfd-trace-test-XXXXXX";
    const int fd = mkstemp(path);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(2, write(fd, "[\n", 2));
    close(fd);
    path_ = path;
  }
  void TearDown() override {
    Stop();
    unlink(path_.c_str());
  }
  std::vector<std::string> Lines() {
    std::ifstream in(path_);
    std::vector<std::string> lines;
    std::string line;
    while (std::getline(in, line)) lines.push_back(line);
    return lines;
  }
  static size_t Count(const std::vector<std::string>& lines, const std::string& what) {
    size_t n = 0;
    for (const std::string& l : lines) n += l.find(what) != std::string::npos;
    return n;
  }
  std::string path_;
};

void Describe2(const void* data, std::string* out) {
  const int* v = static_cast<const int*>(data);
  *out = "first=" + std::to_string(v[0]) + " second=" + std::to_string(v[1]);
}

TEST_F(TraceTest, OffRecordsNothing) {
  EXPECT_FALSE(On());
  Complete(CurrentTid(), "test", "nothing", 1, 2);
  ASSERT_TRUE(Start(path_).ok());
  Stop();
  const auto lines = Lines();
  ASSERT_EQ(1u, lines.size());
  EXPECT_EQ("[", lines[0]);
}

TEST_F(TraceTest, ThreadsWriteWholeEventsAndStopWritesTheRest) {
  ASSERT_TRUE(Start(path_).ok());
  EXPECT_TRUE(On());
  const uint32_t track = NewTrack("test track");
  constexpr int kThreads = 4, kEach = 20000;  // more than one buffer: producers wait for the writer
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < kEach; ++i) {
        const int64_t now = NowNs();
        Complete(CurrentTid(), "test", "span", now, now + 1000, {{"i", uint64_t(i)}});
      }
    });
  }
  for (auto& t : threads) t.join();
  const int pair[2] = {7, -3};
  Ioctl("SOME_IOCTL", 0xc0104b01, NowNs(), NowNs() + 10, -4, Describe2, pair, sizeof(pair));
  Instant(track, "test", "mark", {Str("what", "a \"quoted\" word")}, "line\nbreak");
  Stop();
  EXPECT_FALSE(On());
  Complete(CurrentTid(), "test", "after stop", 1, 2);

  const auto lines = Lines();
  ASSERT_GT(lines.size(), 1u);
  EXPECT_EQ("[", lines[0]);
  for (size_t i = 1; i < lines.size(); ++i) {
    ASSERT_EQ('{', lines[i].front()) << lines[i];
    ASSERT_EQ("},", lines[i].substr(lines[i].size() - 2)) << lines[i];
  }
  EXPECT_EQ(size_t{kThreads} * kEach, Count(lines, "\"name\":\"span\""));
  EXPECT_EQ(0u, Count(lines, "after stop"));
  EXPECT_EQ(1u, Count(lines, "\"name\":\"SOME_IOCTL\""));
  EXPECT_EQ(1u, Count(lines, "\"first\":\"7\",\"second\":\"-3\",\"result\":-4,\"errno\":\"EINTR\""));
  EXPECT_EQ(1u, Count(lines, "\"what\":\"a \\\"quoted\\\" word\",\"detail\":\"line\\u000abreak\""));
  EXPECT_GE(Count(lines, "\"thread_name\""), 2u);  // the threads, the track
  EXPECT_EQ(1u, Count(lines, "\"name\":\"test track\""));
}

// Each thread's ring wraps many times over records of varied sizes (skip markers at its end): every
// event arrives once, whole, and in its thread's order; threads that ended before Stop are drained.
TEST_F(TraceTest, EachThreadsEventsArriveOnceAndInOrderAcrossRingWraps) {
  ASSERT_TRUE(Start(path_).ok());
  constexpr int kThreads = 3, kEach = 30000;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([t] {
      const std::string filler(size_t(40 + 37 * t), 'x');
      for (int i = 0; i < kEach; ++i) {
        const std::string_view detail(filler.data(), filler.size() - size_t(i % 29));
        Instant(CurrentTid(), "test", "step", {{"thread", uint64_t(t)}, {"i", uint64_t(i)}}, detail);
      }
    });
  }
  for (auto& t : threads) t.join();  // all gone before Stop: their rings are drained after exit
  Stop();
  std::vector<int> next(kThreads, 0);
  size_t steps = 0;
  for (const std::string& line : Lines()) {
    const size_t at = line.find("\"thread\":");
    if (line.find("\"name\":\"step\"") == std::string::npos || at == std::string::npos) continue;
    ++steps;
    const int thread = atoi(line.c_str() + at + 9);
    const size_t i_at = line.find("\"i\":");
    ASSERT_NE(std::string::npos, i_at) << line;
    ASSERT_GE(thread, 0);
    ASSERT_LT(thread, kThreads);
    ASSERT_EQ(next[size_t(thread)], atoi(line.c_str() + i_at + 4)) << line;
    ++next[size_t(thread)];
  }
  EXPECT_EQ(size_t{kThreads} * kEach, steps);
}

// A thread that records for one tracer and then for the next: the second file has only its events.
TEST_F(TraceTest, ALiveThreadRecordsForEachTracerInTurn) {
  ASSERT_TRUE(Start(path_).ok());
  Complete(CurrentTid(), "test", "first tracer", 1, 2);
  Stop();
  Complete(CurrentTid(), "test", "between tracers", 1, 2);
  char second[] = "/tmp/vkfd-trace-test-XXXXXX";
  const int fd = mkstemp(second);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(2, write(fd, "[\n", 2));
  close(fd);
  ASSERT_TRUE(Start(second).ok());
  Complete(CurrentTid(), "test", "second tracer", 1, 2);
  Stop();
  const auto first_lines = Lines();
  EXPECT_EQ(1u, Count(first_lines, "first tracer"));
  EXPECT_EQ(0u, Count(first_lines, "second tracer"));
  std::string original = path_;
  path_ = second;
  const auto second_lines = Lines();
  unlink(second);
  path_ = original;
  EXPECT_EQ(0u, Count(second_lines, "first tracer"));
  EXPECT_EQ(0u, Count(second_lines, "between tracers"));
  EXPECT_EQ(1u, Count(second_lines, "second tracer"));
}

TEST_F(TraceTest, AForkedChildRecordsNothingIntoItsParentsTrace) {
  ASSERT_TRUE(Start(path_).ok());
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    const bool on = On();
    Complete(CurrentTid(), "test", "in the child", 1, 2);
    _exit(on ? 1 : 0);
  }
  int status = 0;
  ASSERT_EQ(child, waitpid(child, &status, 0));
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  Complete(CurrentTid(), "test", "in the parent", 1, 2);
  Stop();
  const auto lines = Lines();
  EXPECT_EQ(0u, Count(lines, "in the child"));
  EXPECT_EQ(1u, Count(lines, "in the parent"));
}


// Flush returns once what was recorded before it is in the file, the tracer still running;
// SetRecording(false) records nothing until it is set again.
TEST_F(TraceTest, FlushWritesWhatCameBeforeItAndPausedRecordsNothing) {
  ASSERT_TRUE(Start(path_).ok());
  for (int i = 0; i < 1000; ++i) Complete(CurrentTid(), "test", "before flush", i, i + 1);
  Flush();
  EXPECT_EQ(1000u, Count(Lines(), "before flush"));
  SetRecording(false);
  EXPECT_FALSE(On());
  Complete(CurrentTid(), "test", "while paused", 1, 2);
  SetRecording(true);
  EXPECT_TRUE(On());
  Complete(CurrentTid(), "test", "resumed", 1, 2);
  Flush();
  const auto lines = Lines();
  EXPECT_EQ(0u, Count(lines, "while paused"));
  EXPECT_EQ(1u, Count(lines, "resumed"));
  Stop();
  SetRecording(true);  // no tracer: stays off
  EXPECT_FALSE(On());
}

// While tracing, NowNs() may read the TSC (base/trace_clock.h): it stays CLOCK_MONOTONIC — within
// 50 us of a clock_gettime pair around it — and never goes backwards in a thread across the
// writer's refreshes of the TSC map. Pairs that a preemption pulled apart are not judged.
TEST_F(TraceTest, NowNsStaysTheMonotonicClockAcrossCalibrations) {
  ASSERT_TRUE(Start(path_).ok());
  SetRecording(false);  // the writer runs and calibrates; nothing is recorded
  const int64_t start = MonotonicNowNs();
  // The map turns on after its first baseline where the kernel's clocksource is the TSC; elsewhere
  // NowNs() is clock_gettime and the checks below hold trivially.
  while (!clock::UsingTsc() && MonotonicNowNs() - start < 200'000'000) {
    Flush();
  }
  constexpr int64_t kTolerance = 50'000;
  int64_t previous = NowNs();
  int judged = 0;
  while (MonotonicNowNs() - start < 300'000'000) {
    const int64_t before = MonotonicNowNs();
    const int64_t now = NowNs();
    const int64_t after = MonotonicNowNs();
    ASSERT_GE(now, previous - 1) << "NowNs went backwards";  // 1 ns: the slope's rounding
    previous = now;
    if (after - before > 10'000) continue;
    ++judged;
    ASSERT_GE(now, before - kTolerance);
    ASSERT_LE(now, after + kTolerance);
  }
  EXPECT_GT(judged, 0);
  Stop();
  EXPECT_FALSE(clock::UsingTsc());  // nothing calibrates it once the writer has gone
}


// A page-table job is four events when its fence signalled after its writes (a latency model) and
// two fewer when the signal was the writes' end: the job then carries the fence's error, and the
// arrow ends inside it.
TEST_F(TraceTest, AJobSignalledAsItsWritesEndedCarriesItsSignal) {
  ASSERT_TRUE(Start(path_).ok());
  const uint32_t engine = NewTrack("gpu9 page tables");
  const uint32_t fences = NewTrack("gpu9 fences");
  DmaJob(engine, fences, 0x51, CurrentTid(), 1000, 2000, 3000, 3, 5000, 5100, "OK");
  DmaJob(engine, fences, 0x52, CurrentTid(), 4000, 6000, 8000, 3, 8000, 0, "EIO");
  Stop();
  const auto lines = Lines();
  EXPECT_EQ(1u, Count(lines, "\"ph\":\"f\",\"cat\":\"fence\",\"name\":\"fence\",\"pid\":" +
                                 std::to_string(getpid()) + ",\"tid\":" + std::to_string(fences) +
                                 ",\"ts\":5.000,\"id\":\"0x51\""));
  EXPECT_EQ(1u, Count(lines, "\"name\":\"fence signalled\""));
  EXPECT_EQ(1u, Count(lines, "\"ts\":6.000,\"dur\":2.000,\"args\":{\"entries\":3,\"fence\":82,\"error\":\"EIO\"}"));
  EXPECT_EQ(1u, Count(lines, "\"ph\":\"f\",\"cat\":\"fence\",\"name\":\"fence\",\"pid\":" +
                                 std::to_string(getpid()) + ",\"tid\":" + std::to_string(engine) +
                                 ",\"ts\":7.000,\"id\":\"0x52\""));
}

}  // namespace
}  // namespace vkfd::trace

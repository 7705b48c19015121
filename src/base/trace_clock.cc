#include "base/trace_clock.h"

#include <sys/prctl.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstring>

#if defined(__x86_64__)
#include <x86intrin.h>
#endif

#include "base/futex.h"

namespace vkfd::trace::clock {
namespace {

#if defined(__x86_64__)

// The map ns = anchor_ns + (tsc - anchor_tsc) * mult / 2^32, behind a seqlock (odd: being written).
std::atomic<uint32_t> g_seq{0};
std::atomic<uint64_t> g_anchor_tsc{0};
std::atomic<int64_t> g_anchor_ns{0};
std::atomic<uint64_t> g_mult{0};
std::atomic<bool> g_on{false};

// Calibration state: the writer's only (Calibrate and Disable are never concurrent).
struct Point {
  uint64_t tsc = 0;
  int64_t ns = 0;
};
bool g_checked = false;
bool g_eligible = false;
Point g_base;        // the first point: the slope's baseline
Point g_last;        // the last accepted point
int64_t g_next_check_ns = 0;

bool KernelClocksourceIsTsc() {
  FILE* f = fopen("/sys/devices/system/clocksource/clocksource0/current_clocksource", "re");
  if (f == nullptr) return false;
  char name[32] = {};
  const bool read = fgets(name, sizeof(name), f) != nullptr;
  fclose(f);
  return read && strcmp(name, "tsc\n") == 0;
}

bool Eligible() {
  int mode = 0;
  if (prctl(PR_GET_TSC, &mode, 0, 0, 0) != 0 || mode != PR_TSC_ENABLE) return false;
  return KernelClocksourceIsTsc();
}

// One calibration point: an RDTSC between two clock_gettime reads close enough together.
bool Sample(Point* p) {
  for (int attempt = 0; attempt < 5; ++attempt) {
    const int64_t before = MonotonicNowNs();
    const uint64_t tsc = __rdtsc();
    const int64_t after = MonotonicNowNs();
    if (after - before <= kMaxSampleSpreadNs) {
      *p = Point{tsc, before + (after - before) / 2};
      return true;
    }
  }
  return false;
}

int64_t MapAt(uint64_t tsc, uint64_t anchor_tsc, int64_t anchor_ns, uint64_t mult) {
  const __int128 delta = static_cast<__int128>(static_cast<int64_t>(tsc - anchor_tsc));
  return anchor_ns + static_cast<int64_t>((delta * static_cast<__int128>(mult)) >> 32);
}

void Publish(uint64_t anchor_tsc, int64_t anchor_ns, uint64_t mult) {
  const uint32_t seq = g_seq.load(std::memory_order_relaxed);
  g_seq.store(seq + 1, std::memory_order_relaxed);
  std::atomic_thread_fence(std::memory_order_release);
  g_anchor_tsc.store(anchor_tsc, std::memory_order_relaxed);
  g_anchor_ns.store(anchor_ns, std::memory_order_relaxed);
  g_mult.store(mult, std::memory_order_relaxed);
  g_seq.store(seq + 2, std::memory_order_release);
}

void Reset() {
  g_on.store(false, std::memory_order_relaxed);
  g_base = Point{};
  g_last = Point{};
}

#endif  // __x86_64__

}  // namespace

int64_t Now() {
#if defined(__x86_64__)
  if (g_on.load(std::memory_order_relaxed)) {
    for (;;) {
      const uint32_t seq = g_seq.load(std::memory_order_acquire);
      const uint64_t anchor_tsc = g_anchor_tsc.load(std::memory_order_relaxed);
      const int64_t anchor_ns = g_anchor_ns.load(std::memory_order_relaxed);
      const uint64_t mult = g_mult.load(std::memory_order_relaxed);
      std::atomic_thread_fence(std::memory_order_acquire);
      if ((seq & 1) == 0 && g_seq.load(std::memory_order_relaxed) == seq) {
        return MapAt(__rdtsc(), anchor_tsc, anchor_ns, mult);
      }
    }
  }
#endif
  return MonotonicNowNs();
}

void Calibrate() {
#if defined(__x86_64__)
  const int64_t now = MonotonicNowNs();
  if (!g_checked || now >= g_next_check_ns) {
    // Once a second: the kernel may have given up on the TSC (its watchdog) since.
    g_checked = true;
    g_next_check_ns = now + 1'000'000'000;
    g_eligible = Eligible();
    if (!g_eligible) Reset();
  }
  if (!g_eligible) return;
  if (g_base.ns != 0 && now - g_last.ns < kCalibrationPeriodNs) return;
  if (g_base.ns != 0 && !g_on.load(std::memory_order_relaxed) && now - g_base.ns < kFirstBaselineNs) {
    return;
  }
  Point p;
  if (!Sample(&p)) return;
  if (g_base.ns == 0 || p.tsc <= g_base.tsc) {
    g_base = p;
    g_last = p;
    return;
  }
  const Point previous = g_last;
  g_last = p;
  // ns per tick, from the longest baseline there is; 2^32 fixed point.
  const long double rate =
      static_cast<long double>(p.ns - g_base.ns) / static_cast<long double>(p.tsc - g_base.tsc);
  if (!(rate > 0)) {
    Reset();
    return;
  }
  if (!g_on.load(std::memory_order_relaxed)) {
    Publish(p.tsc, p.ns, static_cast<uint64_t>(rate * 4294967296.0L));
    g_on.store(true, std::memory_order_relaxed);
    return;
  }
  const uint64_t anchor_tsc = g_anchor_tsc.load(std::memory_order_relaxed);
  const int64_t anchor_ns = g_anchor_ns.load(std::memory_order_relaxed);
  const uint64_t mult = g_mult.load(std::memory_order_relaxed);
  const int64_t predicted = MapAt(p.tsc, anchor_tsc, anchor_ns, mult);
  const int64_t error = p.ns - predicted;
  if (error > kMaxSteeredErrorNs || error < -kMaxSteeredErrorNs) {
    // Paused VM, changed clocksource: start again from this point with a fresh baseline.
    Publish(p.tsc, p.ns, static_cast<uint64_t>(rate * 4294967296.0L));
    g_base = p;
    return;
  }
  // Continue from where the old line is now, steering half the error away by the next refresh —
  // assumed as far off as this one was from the last (the writer's period, longer when it is
  // starved). Half: a next refresh up to four times later still leaves less error than now.
  const long double since = static_cast<long double>(std::max(p.ns - previous.ns, kCalibrationPeriodNs));
  const long double steer = static_cast<long double>(error) / (2 * since);
  Publish(p.tsc, predicted, static_cast<uint64_t>(rate * (1.0L + steer) * 4294967296.0L));
#endif
}

void Disable() {
#if defined(__x86_64__)
  Reset();
  g_checked = false;
#endif
}

bool UsingTsc() {
#if defined(__x86_64__)
  return g_on.load(std::memory_order_relaxed);
#else
  return false;
#endif
}

}  // namespace vkfd::trace::clock

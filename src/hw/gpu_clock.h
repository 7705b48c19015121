// The emulated GPU's reference clock: a 100 MHz counter (as MI200's), derived from the host's
// CLOCK_MONOTONIC_RAW. GET_CLOCK_COUNTERS reports it, and the engines write it into signal and SDMA
// timestamps, so a runtime correlating the two sees one clock.
#pragma once

#include <time.h>

#include <cstdint>

namespace vkfd::hw {

inline constexpr uint64_t kGpuCounterHz = 100000000;

inline uint64_t HostRawNs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC_RAW, &ts);
  return uint64_t(ts.tv_sec) * 1000000000ull + uint64_t(ts.tv_nsec);
}

inline uint64_t GpuClockCounter() { return HostRawNs() / (1000000000ull / kGpuCounterHz); }

}  // namespace vkfd::hw

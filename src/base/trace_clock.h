// The trace's clock: CLOCK_MONOTONIC in nanoseconds, read on every traced ioctl (twice) and page-table
// job. No kernel counterpart: it does in user space what the vDSO's clock_gettime does — convert the
// CPU's time-stamp counter to nanoseconds — without the vDSO's ordered read and sequence checks,
// which cost ~25 ns a read on these VMs against ~10 ns for a plain RDTSC (docs/trace.md).
//
// Invariants:
// * Now() is CLOCK_MONOTONIC to within a few microseconds, always: while the TSC map is off it *is*
//   clock_gettime(CLOCK_MONOTONIC).
// * The TSC map is on only while a tracer's writer keeps it calibrated (Calibrate() every pass),
//   only on x86-64, only when the kernel's own clocksource is "tsc" (the kernel then keeps the TSC
//   synchronized across CPUs and derives CLOCK_MONOTONIC from it) and RDTSC is allowed (PR_GET_TSC).
// * The map is continuous and increasing: a refresh starts the new line where the old one is at that
//   moment and steers its slope so that half the error against CLOCK_MONOTONIC is gone by the next
//   refresh, so one thread's readings never go backwards across a refresh (beyond the sub-nanosecond
//   rounding of the slope). An error too large to steer (the VM was paused, the kernel changed
//   clocksource) restarts the map at the measured point.
// * Calibration points are accepted only when the two clock_gettime reads around the RDTSC are within
//   kMaxSampleSpreadNs: a thread preempted mid-sample never moves the map.
//
// Thread-safe: Now() from any thread (a seqlock read); Calibrate() and Disable() from one thread at a
// time (the writer; Stop).
#pragma once

#include <cstdint>

namespace vkfd::trace::clock {

inline constexpr int64_t kMaxSampleSpreadNs = 2'000;
// The baseline a first slope needs (its error is the samples' over this), and the least time
// between refreshes.
inline constexpr int64_t kFirstBaselineNs = 50'000'000;  // slope good to ~4e-5 at once
inline constexpr int64_t kCalibrationPeriodNs = 2'000'000;
// Errors beyond this are not steered away but restart the map.
inline constexpr int64_t kMaxSteeredErrorNs = 100'000;

int64_t Now();
// Takes a calibration point; turns the TSC map on once a slope is known, refreshes it after.
void Calibrate();
// Back to clock_gettime (the tracer stopped; a forked child).
void Disable();
// Whether Now() reads the TSC (tests, docs).
bool UsingTsc();

}  // namespace vkfd::trace::clock

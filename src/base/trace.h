// Trace: a timeline of what the emulated driver and hardware do, written as Chrome trace-event JSON
// (the "JSON Array Format": Perfetto's UI and chrome://tracing open it offline) — `vkfd run --trace`.
// No kernel counterpart: it plays the part of the amdgpu/kfd tracepoints and ftrace's ring buffer.
//
// Producers, in any layer, call the functions below. While tracing is off each costs one relaxed
// atomic load. While it is on, an event is a fixed-size binary record (plus, for an ioctl, a copy of
// its argument struct) appended to the calling thread's own ring buffer: no lock, no formatting, no
// system call on the caller's path. A writer thread drains every ring every kFlushMs milliseconds (at
// once when one is half full), formats the records as JSON — the ioctl arguments with the ioctl
// table's describers, as --log-ioctls prints them — and appends them with one write(2) per batch of
// complete events. Memory is bounded: kThreadBufferBytes per thread that records; a producer that
// finds its ring full waits for the writer (events are never dropped while the tracer runs). Events of
// one thread are written in their order; across threads by batch (the viewers order by timestamp).
//
// The file is "[" and then one event per line, each followed by ",". Both viewers accept the array
// without its closing "]" (and the trailing comma), so the file is a valid trace at every moment: a
// process killed with SIGKILL loses only the batch not yet written (at most kFlushMs of events); a
// normal exit writes everything (Stop() runs at exit). Several processes (fork, exec) append to one
// file: O_APPEND, whole batches per write.
//
// Tracks: an event carries the pid of the process and a tid — a real thread's, or a synthetic track's
// from NewTrack() ("gpu0 SDMA", "gpu 0x1000 queue 3 (AQL)"), which the writer names with a
// thread_name metadata event (real threads get theirs from /proc). Timestamps are CLOCK_MONOTONIC.
//
// The writer thread blocks the signals a program directs at the process (base/service_signals.h).
// Fork: the child's copy of a running tracer is switched off (its writer thread does not exist there);
// Start() in the child opens a new one (the shim does, when the child opens a device).
// Thread-safe. The buffer lock is a leaf: nothing is called while it is held.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>

#include "base/expected.h"

namespace vkfd::trace {

// Decodes an argument struct into "name=value name=value" (uapi/describe.h's describers).
using Describer = void (*)(const void* data, std::string* out);

struct Arg {
  enum class Kind : uint8_t { kUnsigned, kSigned, kHex, kString };
  const char* key;     // static
  uint64_t value;      // kString: a static `const char*`
  Kind kind = Kind::kUnsigned;
};
inline Arg Hex(const char* key, uint64_t value) { return Arg{key, value, Arg::Kind::kHex}; }
inline Arg Signed(const char* key, int64_t value) {
  return Arg{key, static_cast<uint64_t>(value), Arg::Kind::kSigned};
}
inline Arg Str(const char* key, const char* value) {
  return Arg{key, reinterpret_cast<uint64_t>(value), Arg::Kind::kString};
}

inline constexpr size_t kMaxArgs = 4;
inline constexpr size_t kThreadBufferBytes = 512 << 10;
inline constexpr int kFlushMs = 5;
// Synthetic track ids start here: above any Linux tid (pid_max <= 2^22).
inline constexpr uint32_t kFirstTrack = 0x40000000;

namespace detail {
extern std::atomic<bool> g_on;
}  // namespace detail

inline bool On() { return detail::g_on.load(std::memory_order_relaxed); }

// Opens `path` for appending (it must exist: `vkfd run` creates it with its "[") and starts the
// writer. Idempotent in one process; in a forked child it starts the child's own tracer.
Expected<void> Start(const std::string& path);
// Writes what is buffered and stops; later events are not recorded. Registered with atexit by Start.
void Stop();
// Returns once every event recorded before the call is in the file.
void Flush();
// Pauses recording (false) or resumes it (true), the tracer and its file staying as they are — what
// a benchmark needs to compare the trace off and on in one process. No effect without a tracer.
void SetRecording(bool recording);

int64_t NowNs();          // CLOCK_MONOTONIC; while tracing, from the TSC (base/trace_clock.h)
uint32_t CurrentTid();    // the calling thread's id (cached per thread)
uint64_t NewId();         // for flows and async spans
// A synthetic track named `name`; valid whether or not tracing is on (hardware creates its tracks
// when it is built). Tracks are ordered after the real threads, in creation order.
uint32_t NewTrack(std::string name);

// A span [start_ns, end_ns] on `track`. `name_text` (copied) replaces `name` when not empty;
// `detail` (copied) becomes the argument "detail".
void Complete(uint32_t track, const char* cat, const char* name, int64_t start_ns, int64_t end_ns,
              std::initializer_list<Arg> args = {}, std::string_view detail = {},
              std::string_view name_text = {});
// A moment on `track`.
void Instant(uint32_t track, const char* cat, const char* name, std::initializer_list<Arg> args = {},
             std::string_view detail = {});
// An arrow from the slice enclosing (track, ts) at the start to the one at the end.
void FlowStart(uint32_t track, uint64_t id, int64_t ts_ns);
void FlowEnd(uint32_t track, uint64_t id, int64_t ts_ns);
// A span of the process that may begin and end on different threads (evictions).
void AsyncBegin(const char* cat, const char* name, uint64_t id, std::initializer_list<Arg> args = {});
void AsyncEnd(const char* cat, const char* name, uint64_t id);
// One page-table job of a DMA engine, recorded once it has signalled: the flow arrow from the
// submitting thread (submit_ns) to the signal, the writes [start_ns, end_ns] on `engine_track`, the
// signal [signal_ns, signal_end_ns] on `fence_track` with its error's name (static). signal_end_ns 0:
// the fence signalled as the writes ended (no latency model) — the job carries the fence and its
// error and the arrow ends on it; nothing goes on the fences track (two events fewer per job).
void DmaJob(uint32_t engine_track, uint32_t fence_track, uint64_t id, uint32_t submit_tid,
            int64_t submit_ns, int64_t start_ns, int64_t end_ns, uint64_t entries,
            int64_t signal_ns, int64_t signal_end_ns, const char* error);
// One ioctl on the calling thread: `data` (the struct as copied back, `size` bytes) is copied and
// decoded by `describe` in the writer. `result` is 0 or -errno.
void Ioctl(const char* name, unsigned long cmd, int64_t start_ns, int64_t end_ns, int result,
           Describer describe, const void* data, size_t size);
// One ioctl refused before its handler ran, its arguments already decoded ("k=v k=v", copied).
void IoctlDescribed(const char* name, unsigned long cmd, int64_t start_ns, int64_t end_ns,
                    int result, std::string_view described);

}  // namespace vkfd::trace

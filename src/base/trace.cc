#include "base/trace.h"

#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstddef>
#include <cinttypes>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_set>
#include <vector>

#include "base/futex.h"
#include "base/process_identity.h"
#include "base/service_signals.h"
#include "base/trace_clock.h"
#include "base/trace_text.h"

namespace vkfd::trace {
namespace detail {
std::atomic<bool> g_on{false};
}  // namespace detail

namespace {

enum class Payload : uint8_t { kNone, kStruct, kDetail, kName, kJob, kDescribed };

// A DMA job's life in one record (DmaJob): the writer makes four events of it.
struct JobPayload {
  uint32_t fence_track;
  uint32_t submit_tid;
  int64_t submit_ns;
  int64_t signal_ns;
  int64_t signal_end_ns;
  uint64_t entries;
  const char* error;
};

// One event as producers append it; `payload_bytes` bytes follow, then padding to 8.
struct Record {
  uint32_t size;  // header + payload, rounded up to 8
  char phase;
  uint8_t nargs;
  Payload payload;
  uint8_t unused = 0;
  uint32_t tid;
  uint32_t payload_bytes;
  int32_t result;
  uint32_t unused2 = 0;
  int64_t ts;
  int64_t dur;
  const char* cat;
  const char* name;
  uint64_t id;
  Describer describe;
  Arg args[kMaxArgs];
};

// The writer reads a record's first 8 bytes to tell a record from a skip marker (at least 8 bytes:
// everything in a ring is a multiple of 8).
static_assert(offsetof(Record, phase) < 8 && offsetof(Record, nargs) < 8 && kThreadBufferBytes % 8 == 0);

constexpr size_t RoundUp8(size_t n) { return (n + 7) & ~size_t{7}; }
// What a record occupies before its payload: the header and only the arguments it has.
constexpr size_t HeaderBytes(size_t nargs) { return offsetof(Record, args) + nargs * sizeof(Arg); }

// The names of synthetic tracks (a process-wide registry, kept across Start/Stop).
std::mutex g_tracks_mu;
std::vector<std::string>& Tracks() {
  static auto* tracks = new std::vector<std::string>();
  return *tracks;
}

// One producer thread's records: a ring it appends to without a lock (single producer) and the
// writer drains (single consumer). head and tail count bytes ever appended and drained; a record never
// wraps (a skip marker — phase 0 — fills the end of the ring instead). The ring outlives tracers: the
// thread keeps it (ThreadSlot) and registers it with each tracer it records for; it is freed by
// whichever lets go last, the thread at its exit or the tracer that drained it (refs).
struct ThreadRing {
  static constexpr size_t kBytes = kThreadBufferBytes;
  std::atomic<uint64_t> head{0};  // written by the producer (release), read by the writer (acquire)
  std::atomic<bool> exited{false};  // the thread has gone: drain what is left, then let go
  std::atomic<int> refs{1};         // the thread's, plus one per tracer it is registered with
  alignas(64) std::atomic<uint64_t> tail{0};  // written by the writer (release)
  uint64_t cached_tail = 0;                   // producer only: tail as last read
  char* data = nullptr;

  ThreadRing() {
    data = new char[kBytes];
    memset(data, 0, kBytes);  // touched now: no page fault on the producer's path
  }
  ~ThreadRing() { delete[] data; }
  void Unref() {
    if (refs.fetch_sub(1, std::memory_order_acq_rel) == 1) delete this;
  }
};

class Tracer;

// The calling thread's ring and the tracer it is registered with. Plain thread-locals: the ring is let
// go by a pthread key's destructor, which runs when a thread exits but not for the main thread at
// exit() — whose events, recorded by atexit handlers until Stop, therefore still have their ring.
struct ThreadSlot {
  Tracer* tracer = nullptr;
  ThreadRing* ring = nullptr;
};
thread_local ThreadSlot t_slot;

void ReleaseThreadRing(void* ring) {
  t_slot = ThreadSlot{};
  static_cast<ThreadRing*>(ring)->exited.store(true, std::memory_order_release);
  static_cast<ThreadRing*>(ring)->Unref();
}

pthread_key_t RingKey() {
  static const pthread_key_t key = [] {
    pthread_key_t k;
    if (pthread_key_create(&k, ReleaseThreadRing) != 0) abort();
    return k;
  }();
  return key;
}

class Tracer {
 public:
  Tracer(int fd, int pid) : fd_(fd), pid_(pid), pid_text_(std::to_string(pid)) {
    // Process-directed signals go to the program's threads, never to the writer; faults still reach
    // their handler (base/service_signals.h).
    const sigset_t mask = ServiceThreadSignalMask();
    sigset_t old;
    pthread_sigmask(SIG_SETMASK, &mask, &old);
    writer_ = std::thread([this] { WriterLoop(); });
    pthread_sigmask(SIG_SETMASK, &old, nullptr);
  }

  int pid() const { return pid_; }

  // Appends one record with `payload` to the calling thread's ring; waits while it is full.
  void Append(const Record& header, const void* payload, size_t payload_bytes) {
    if (stopping_.load(std::memory_order_relaxed)) return;
    const size_t head_bytes = HeaderBytes(header.nargs);
    const size_t size = RoundUp8(head_bytes + payload_bytes);
    if (size > ThreadRing::kBytes / 8) return;  // never: payloads are small
    ThreadRing* ring = RingOfThisThread();
    if (ring == nullptr) return;
    uint64_t h = ring->head.load(std::memory_order_relaxed);
    const size_t at = h % ThreadRing::kBytes;
    const size_t contiguous = ThreadRing::kBytes - at;
    const size_t need = contiguous < size ? contiguous + size : size;
    if (!WaitForSpace(ring, h, need)) return;
    char* to = ring->data + at;
    if (contiguous < size) {  // a skip marker to the end, the record at the start
      Record skip{};
      skip.size = static_cast<uint32_t>(contiguous);
      memcpy(to, static_cast<const void*>(&skip), sizeof(uint32_t) + 1);
      h += contiguous;
      to = ring->data;
    }
    memcpy(to, static_cast<const void*>(&header), head_bytes);
    Record* r = reinterpret_cast<Record*>(to);
    r->size = static_cast<uint32_t>(size);
    r->payload_bytes = static_cast<uint32_t>(payload_bytes);
    if (payload_bytes != 0) memcpy(to + head_bytes, payload, payload_bytes);
    ring->head.store(h + size, std::memory_order_release);
    // Past half full: the writer drains now rather than at its next period (one wake-up per half).
    const uint64_t used_before = h - ring->cached_tail;
    if (used_before <= ThreadRing::kBytes / 2 && used_before + size > ThreadRing::kBytes / 2) {
      KickWriter();
    }
  }

  // Returns once a writer pass that began after the call has written its batch: every record
  // appended before the call is then in the file. Bounded: it also returns once the tracer stops.
  void Flush() {
    const uint32_t target = kick_.fetch_add(1, std::memory_order_acq_rel) + 1;
    FutexWakeAll(&kick_);
    flush_waiters_.fetch_add(1, std::memory_order_seq_cst);
    for (;;) {
      const uint32_t written = written_.load(std::memory_order_seq_cst);
      if (static_cast<int32_t>(written - target) >= 0 || stopping_.load(std::memory_order_acquire)) {
        break;
      }
      FutexWait(&written_, written, MonotonicNowNs() + int64_t{kFlushMs} * 1'000'000);
    }
    flush_waiters_.fetch_sub(1, std::memory_order_relaxed);
  }

  // Drains every ring, writes, and joins the writer. Later Append()s are dropped.
  void Shutdown() {
    {
      std::lock_guard<std::mutex> lock(rings_mu_);  // orders it with registrations
      if (stopping_.exchange(true)) return;
    }
    KickWriter();
    if (writer_.joinable()) writer_.join();
    close(fd_);
  }

 private:
  // The calling thread's ring, registered with this tracer (made and registered at its first record).
  ThreadRing* RingOfThisThread() {
    ThreadSlot& slot = t_slot;
    if (slot.tracer == this) return slot.ring;
    if (slot.ring == nullptr) {
      slot.ring = new ThreadRing();
      pthread_setspecific(RingKey(), slot.ring);
    }
    ThreadRing* ring = slot.ring;
    // Whatever an earlier tracer left in it (records after its end) is not this tracer's: start
    // empty. The earlier tracer's writer has stopped (Stop joins it before a new Start).
    const uint64_t h = ring->head.load(std::memory_order_relaxed);
    ring->tail.store(h, std::memory_order_relaxed);
    ring->cached_tail = h;
    {
      std::lock_guard<std::mutex> lock(rings_mu_);
      if (stopping_.load(std::memory_order_relaxed)) return nullptr;  // the writer's last pass began
      ring->refs.fetch_add(1, std::memory_order_relaxed);
      rings_.push_back(ring);
    }
    slot.tracer = this;
    return ring;
  }

  // True once [head, head + need) is free; false if the tracer stops meanwhile (the record is
  // dropped). The writer drains within its period, at once when kicked.
  bool WaitForSpace(ThreadRing* ring, uint64_t head, size_t need) {
    for (;;) {
      if (head + need - ring->cached_tail <= ThreadRing::kBytes) return true;
      ring->cached_tail = ring->tail.load(std::memory_order_acquire);
      if (head + need - ring->cached_tail <= ThreadRing::kBytes) return true;
      if (stopping_.load(std::memory_order_acquire)) return false;
      KickWriter();
      const timespec pause{0, 50'000};
      nanosleep(&pause, nullptr);
    }
  }

  void KickWriter() {
    kick_.fetch_add(1, std::memory_order_release);
    FutexWakeAll(&kick_);
  }

  void WriterLoop() {
    std::vector<ThreadRing*> rings;
    for (;;) {
      const uint32_t seen = kick_.load(std::memory_order_acquire);
      const bool stop = stopping_.load(std::memory_order_acquire);
      clock::Calibrate();  // keeps NowNs()'s TSC map in step (base/trace_clock.h)
      {
        std::lock_guard<std::mutex> lock(rings_mu_);
        rings = rings_;
      }
      out_.Clear();
      for (ThreadRing* ring : rings) Drain(ring, stop);
      WriteOut();
      written_.store(seen, std::memory_order_seq_cst);
      if (flush_waiters_.load(std::memory_order_seq_cst) != 0) FutexWakeAll(&written_);
      if (stop) {
        // Rings registered after the last pass copied the list hold nothing of this tracer's.
        std::lock_guard<std::mutex> lock(rings_mu_);
        for (ThreadRing* ring : rings_) ring->Unref();
        rings_.clear();
        return;
      }
      // Asleep until the period ends or a producer's ring passes half full.
      FutexWait(&kick_, seen, MonotonicNowNs() + int64_t{kFlushMs} * 1'000'000);
    }
  }

  // Formats what `ring` holds; lets go of it when its thread has gone (or the tracer stops).
  void Drain(ThreadRing* ring, bool stopping) {
    const bool exited = ring->exited.load(std::memory_order_acquire);
    const uint64_t head = ring->head.load(std::memory_order_acquire);
    uint64_t tail = ring->tail.load(std::memory_order_relaxed);
    while (tail < head) {
      const char* at = ring->data + tail % ThreadRing::kBytes;
      // Size and phase first: a skip marker may be all that is left before the ring's end.
      Record r{};
      memcpy(static_cast<void*>(&r), at, 8);
      if (r.phase != 0) {
        memcpy(static_cast<void*>(&r), at, HeaderBytes(r.nargs));
        Format(r, at + HeaderBytes(r.nargs), &out_);
      }
      tail += r.size;
    }
    ring->tail.store(tail, std::memory_order_release);
    if (exited || stopping) {
      {
        std::lock_guard<std::mutex> lock(rings_mu_);
        rings_.erase(std::find(rings_.begin(), rings_.end(), ring));
      }
      ring->Unref();
    }
  }

  void WriteOut() {
    if (out_.size() == 0) return;  // an idle pass: no system call
    size_t done = 0;
    while (done < out_.size()) {
      const ssize_t n = write(fd_, out_.data() + done, out_.size() - done);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return;  // disk full or the like: the trace ends here
      done += static_cast<size_t>(n);
    }
    DropWrittenPages();
  }

  // The trace is written once and read after the run: what was written a few batches ago is asked
  // out of the page cache (its writeback starts; clean pages go), so a long trace does not fill
  // memory with its text and the next batches reuse pages the kernel just freed. Asking is cheap;
  // the kernel keeps pages still dirty or under writeback until a later pass asks again.
  void DropWrittenPages() {
    const off_t end = lseek(fd_, 0, SEEK_CUR);  // O_APPEND: the end of the file, after our write
    if (end < 0) return;
    const off_t upto = end > kKeepCachedBytes ? end - kKeepCachedBytes : 0;
    if (upto - drop_from_ < kDropBatchBytes) return;
    posix_fadvise(fd_, drop_from_, upto - drop_from_, POSIX_FADV_DONTNEED);
    // Pages still dirty stay; a range is retried until it is a window behind the end.
    drop_from_ = upto > kRetryBytes ? upto - kRetryBytes : 0;
  }

  void Metadata(TraceText* out, const char* what, uint32_t tid, const char* key,
                const std::string& value, bool quoted) {
    out->Append("{\"ph\":\"M\",\"name\":\"");
    out->Append(what);
    out->Append("\",\"pid\":");
    out->Append(pid_text_);
    out->Append(",\"tid\":");
    out->Unsigned(tid);
    out->Append(",\"args\":{\"");
    out->Append(key);
    out->Append("\":");
    if (quoted) {
      out->Quoted(value);
    } else {
      out->Append(value);
    }
    out->Append("}},\n");
  }

  // The first event of a track names it (and the first event of all names the process).
  void Announce(uint32_t tid, TraceText* out) {
    // Most events are on a track seen a moment ago: a look at the last few before the set.
    for (uint32_t seen : recent_) {
      if (seen == tid) return;
    }
    recent_[recent_next_++ % kRecent] = tid;
    if (!announced_.insert(tid).second) return;
    if (announced_.size() == 1) {
      char comm[64] = {};
      FILE* f = fopen("/proc/self/comm", "re");
      if (f != nullptr) {
        if (fgets(comm, sizeof(comm), f) == nullptr) comm[0] = '\0';
        fclose(f);
      }
      comm[strcspn(comm, "\n")] = '\0';
      Metadata(out, "process_name", 0, "name", std::string(comm) + " (vkfd)", true);
    }
    if (tid >= kFirstTrack) {
      std::string name;
      {
        std::lock_guard<std::mutex> lock(g_tracks_mu);
        const size_t index = tid - kFirstTrack;
        if (index < Tracks().size()) name = Tracks()[index];
      }
      Metadata(out, "thread_name", tid, "name", name, true);
      Metadata(out, "thread_sort_index", tid, "sort_index",
               std::to_string(1000 + (tid - kFirstTrack)), false);
      return;
    }
    char path[64];
    snprintf(path, sizeof(path), "/proc/self/task/%u/comm", tid);
    char comm[64] = {};
    FILE* f = fopen(path, "re");
    if (f == nullptr) return;  // the thread has gone
    if (fgets(comm, sizeof(comm), f) == nullptr) comm[0] = '\0';
    fclose(f);
    comm[strcspn(comm, "\n")] = '\0';
    Metadata(out, "thread_name", tid, "name", std::string(comm) + " " + std::to_string(tid), true);
  }

  void FormatArg(const Arg& a, TraceText* out) {
    out->Quoted(a.key);
    out->Append(':');
    switch (a.kind) {
      case Arg::Kind::kUnsigned:
        out->Unsigned(a.value);
        break;
      case Arg::Kind::kSigned:
        out->Signed(static_cast<int64_t>(a.value));
        break;
      case Arg::Kind::kHex:
        out->Append("\"0x");
        out->Hex(a.value);
        out->Append('"');
        break;
      case Arg::Kind::kString:
        out->Quoted(reinterpret_cast<const char*>(a.value));
        break;
    }
  }

  // What every event starts with: {"ph":"X","cat":"..","name":"..","pid":..,"tid":..,"ts":..
  // Up to the timestamp it depends only on the phase, the category, the name and the track, which
  // repeat: with a static name (`name_is_static`: its pointer identifies it), it is kept in a small
  // direct-mapped cache and copied whole.
  void Head(char phase, const char* cat, std::string_view name, uint32_t tid, int64_t ts,
            TraceText* out, bool name_is_static = true) {
    if (name_is_static) {
      const uintptr_t key = reinterpret_cast<uintptr_t>(name.data()) ^
                            (reinterpret_cast<uintptr_t>(cat) << 7) ^ (uintptr_t{tid} * 0x9e3779b1u) ^
                            static_cast<unsigned char>(phase);
      HeadPrefix& entry = head_cache_[(key ^ (key >> 11) ^ (key >> 23)) % kHeadCache];
      if (entry.name != name.data() || entry.cat != cat || entry.tid != tid ||
          entry.phase != phase) {
        TraceText text;
        HeadPrefixText(phase, cat, name, tid, &text);
        entry = HeadPrefix{name.data(), cat, tid, phase, std::string(text.data(), text.size())};
      }
      out->Append(entry.text);
    } else {
      HeadPrefixText(phase, cat, name, tid, out);
    }
    out->Micros(ts);
  }

  void HeadPrefixText(char phase, const char* cat, std::string_view name, uint32_t tid,
                      TraceText* out) {
    out->Append("{\"ph\":\"");
    out->Append(phase);
    out->Append("\",\"cat\":\"");
    out->Append(cat);
    out->Append("\",\"name\":");
    out->Quoted(name);
    out->Append(",\"pid\":");
    out->Append(pid_text_);
    out->Append(",\"tid\":");
    out->Unsigned(tid);
    out->Append(",\"ts\":");
  }

  // A flow end or start: {"ph":"s","cat":"fence","name":"fence","pid":..,"tid":..,"ts":..,"id":..}
  void Flow(char phase, uint32_t tid, int64_t ts, uint64_t id, TraceText* out) {
    Head(phase, "fence", "fence", tid, ts, out);
    out->Append(",\"id\":\"0x");
    out->Hex(id);
    out->Append(phase == 'f' ? std::string_view("\",\"bp\":\"e\"},\n") : std::string_view("\"},\n"));
  }

  // One DMA job: the arrow from the submitter to the signal, the writes on the engine's track, the
  // fence's signal on the fences track.
  void FormatJob(const Record& r, const JobPayload& j, TraceText* out) {
    const bool signal_is_end = j.signal_end_ns == 0;
    Announce(j.submit_tid, out);
    Announce(r.tid, out);
    if (!signal_is_end) Announce(j.fence_track, out);
    Flow('s', j.submit_tid, j.submit_ns, r.id, out);
    Head('X', "dma", "page-table job", r.tid, r.ts, out);
    out->Append(",\"dur\":");
    out->Micros(r.dur);
    out->Append(",\"args\":{\"entries\":");
    out->Unsigned(j.entries);
    out->Append(",\"fence\":");
    out->Unsigned(r.id);
    if (signal_is_end) {
      // The arrow ends inside the job (mid-way: inside for either viewer's idea of a slice's ends).
      out->Append(",\"error\":");
      out->Quoted(j.error);
      out->Append("}},\n");
      Flow('f', r.tid, r.ts + r.dur / 2, r.id, out);
      return;
    }
    out->Append("}},\n");
    Flow('f', j.fence_track, j.signal_ns, r.id, out);
    Head('X', "fence", "fence signalled", j.fence_track, j.signal_ns, out);
    out->Append(",\"dur\":");
    out->Micros(j.signal_end_ns - j.signal_ns);
    out->Append(",\"args\":{\"fence\":");
    out->Unsigned(r.id);
    out->Append(",\"error\":");
    out->Quoted(j.error);
    out->Append("}},\n");
  }

  // The comma before each member of an object but its first.
  static void Separate(bool* first, TraceText* out) {
    if (!*first) out->Append(',');
    *first = false;
  }

  // An ioctl's decoded struct, "handle=0x1 n_devices=4", as "handle":"0x1","n_devices":"4" in the
  // describer's order.
  static void DescribedFields(std::string_view text, bool* first, TraceText* out) {
    size_t at = 0;
    while (at < text.size()) {
      size_t end = text.find(' ', at);
      if (end == std::string_view::npos) end = text.size();
      const std::string_view field = text.substr(at, end - at);
      const size_t eq = field.find('=');
      if (eq != std::string_view::npos) {
        Separate(first, out);
        out->Quoted(field.substr(0, eq));
        out->Append(':');
        out->Quoted(field.substr(eq + 1));
      }
      at = end + 1;
    }
  }

  void Format(const Record& r, const char* payload, TraceText* out) {
    if (r.payload == Payload::kJob) {
      JobPayload j;
      memcpy(&j, payload, sizeof(j));
      FormatJob(r, j, out);
      return;
    }
    Announce(r.tid, out);
    if (r.payload == Payload::kName) {
      Head(r.phase, r.cat, std::string_view(payload, r.payload_bytes), r.tid, r.ts, out, false);
    } else {
      Head(r.phase, r.cat, r.name, r.tid, r.ts, out);
    }
    switch (r.phase) {
      case 'X':
        out->Append(",\"dur\":");
        out->Micros(r.dur);
        break;
      case 'i':
        out->Append(",\"s\":\"t\"");
        break;
      case 's':
      case 'f':
      case 'b':
      case 'e':
        out->Append(",\"id\":\"0x");
        out->Hex(r.id);
        out->Append('"');
        if (r.phase == 'f') out->Append(",\"bp\":\"e\"");
        break;
      default:
        break;
    }
    const bool ioctl = r.payload == Payload::kStruct || r.payload == Payload::kDescribed ||
                       r.cat == std::string_view("ioctl");
    if (r.nargs != 0 || r.payload == Payload::kDetail || ioctl) {
      out->Append(",\"args\":{");
      bool first = true;
      if (ioctl) {
        if (r.payload == Payload::kStruct && r.describe != nullptr) {
          described_.clear();
          r.describe(payload, &described_);
          DescribedFields(described_, &first, out);
        } else if (r.payload == Payload::kDescribed) {
          DescribedFields(std::string_view(payload, r.payload_bytes), &first, out);
        }
        Separate(&first, out);
        out->Append("\"result\":");
        out->Signed(r.result);
        if (r.result < 0) {
          const char* ename = strerrorname_np(-r.result);
          out->Append(",\"errno\":");
          out->Quoted(ename != nullptr ? ename : "?");
        }
      }
      for (size_t i = 0; i < r.nargs; ++i) {
        Separate(&first, out);
        FormatArg(r.args[i], out);
      }
      if (r.payload == Payload::kDetail) {
        Separate(&first, out);
        out->Append("\"detail\":");
        out->Quoted(std::string_view(payload, r.payload_bytes));
      }
      out->Append('}');
    }
    out->Append("},\n");
  }

  struct HeadPrefix {
    const char* name = nullptr;
    const char* cat = nullptr;
    uint32_t tid = 0;
    char phase = 0;
    std::string text;
  };
  static constexpr size_t kHeadCache = 64;
  HeadPrefix head_cache_[kHeadCache];  // writer thread only

  const int fd_;
  const int pid_;
  const std::string pid_text_;
  static constexpr off_t kKeepCachedBytes = 4 << 20;
  static constexpr off_t kDropBatchBytes = 1 << 20;
  static constexpr off_t kRetryBytes = 16 << 20;
  off_t drop_from_ = 0;  // writer thread only
  std::atomic<bool> stopping_{false};
  std::atomic<uint32_t> kick_{0};  // bumped to wake the writer early (futex word)
  std::atomic<uint32_t> written_{0};  // the kick_ value the last finished pass began with (futex word)
  std::atomic<int> flush_waiters_{0};  // threads in Flush()
  std::mutex rings_mu_;            // leaf: guards rings_ only
  std::vector<ThreadRing*> rings_;  // one per thread that recorded (each holds a ref)
  std::unordered_set<uint32_t> announced_;  // writer thread only
  static constexpr size_t kRecent = 8;
  uint32_t recent_[kRecent] = {};  // writer thread only: announced tracks seen last (0: none)
  size_t recent_next_ = 0;         // writer thread only
  TraceText out_;                           // writer thread only: the batch's JSON
  std::string described_;                   // writer thread only: one ioctl's decoded struct
  std::thread writer_;
};

std::mutex g_start_mu;
// Never destroyed: a producer that loaded g_on just before Stop() may still append (and is dropped).
std::atomic<Tracer*> g_tracer{nullptr};

// Tracers that were stopped or abandoned stay reachable from here: never destroyed (a producer may
// still be looking at one), and not a leak to LeakSanitizer.
Tracer* g_retired[16];
std::atomic<size_t> g_retired_count{0};
void Retire(Tracer* tracer) {
  const size_t i = g_retired_count.fetch_add(1, std::memory_order_relaxed);
  if (i < sizeof(g_retired) / sizeof(g_retired[0])) g_retired[i] = tracer;
}

// In a forked child the writer thread does not exist and the buffer lock may be held by a thread
// that does not exist either: leave the parent's tracer alone and record nothing.
void AtForkChild() {
  Tracer* tracer = g_tracer.exchange(nullptr);
  detail::g_on.store(false, std::memory_order_relaxed);
  if (tracer != nullptr) Retire(tracer);
  clock::Disable();  // nothing calibrates it here
}

void Emit(Record& r, const void* payload, size_t bytes) {
  Tracer* tracer = g_tracer.load(std::memory_order_acquire);
  if (tracer == nullptr) return;
  tracer->Append(r, payload, bytes);
}

Record MakeRecord(char phase, uint32_t tid, const char* cat, const char* name, int64_t ts,
                  std::initializer_list<Arg> args) {
  // Every header field set, the arguments only as far as used: only those are copied to the ring
  // (HeaderBytes), and zeroing all four was a good part of a record's cost on the caller's path.
  Record r;
  r.size = 0;
  r.nargs = 0;
  r.payload = Payload::kNone;
  r.payload_bytes = 0;
  r.result = 0;
  r.dur = 0;
  r.id = 0;
  r.describe = nullptr;
  r.phase = phase;
  r.tid = tid;
  r.cat = cat;
  r.name = name;
  r.ts = ts;
  for (const Arg& a : args) {
    if (r.nargs == kMaxArgs) break;
    r.args[r.nargs++] = a;
  }
  return r;
}

}  // namespace

int64_t NowNs() { return clock::Now(); }

uint32_t CurrentTid() {
  // Cached with the pid it belongs to: a forked child's thread has a new id.
  thread_local int cached_pid = 0;
  thread_local uint32_t cached_tid = 0;
  const int pid = CurrentPid();
  if (cached_pid != pid) {
    cached_tid = static_cast<uint32_t>(syscall(SYS_gettid));
    cached_pid = pid;
  }
  return cached_tid;
}

uint64_t NewId() {
  static std::atomic<uint64_t> next{1};
  return next.fetch_add(1, std::memory_order_relaxed);
}

uint32_t NewTrack(std::string name) {
  std::lock_guard<std::mutex> lock(g_tracks_mu);
  Tracks().push_back(std::move(name));
  return kFirstTrack + static_cast<uint32_t>(Tracks().size() - 1);
}

Expected<void> Start(const std::string& path) {
  std::lock_guard<std::mutex> lock(g_start_mu);
  Tracer* current = g_tracer.load();
  if (current != nullptr && current->pid() == CurrentPid()) return {};
  int fd = open(path.c_str(), O_WRONLY | O_APPEND | O_CLOEXEC);
  if (fd < 0) return Fail("cannot open the trace file " + path + ": " + strerror(errno));
  // Out of the low fd numbers the program may expect to get.
  const int high = fcntl(fd, F_DUPFD_CLOEXEC, 100);
  if (high >= 0) {
    close(fd);
    fd = high;
  }
  static bool registered = false;
  if (!registered) {
    registered = true;
    pthread_atfork(nullptr, nullptr, AtForkChild);
    atexit(Stop);
  }
  g_tracer.store(new Tracer(fd, CurrentPid()), std::memory_order_release);
  detail::g_on.store(true, std::memory_order_relaxed);
  return {};
}

void Stop() {
  std::lock_guard<std::mutex> lock(g_start_mu);
  detail::g_on.store(false, std::memory_order_relaxed);
  Tracer* tracer = g_tracer.exchange(nullptr);
  if (tracer == nullptr) return;
  if (tracer->pid() == CurrentPid()) tracer->Shutdown();
  clock::Disable();  // its writer calibrated it
  Retire(tracer);
}

void Flush() {
  Tracer* tracer = g_tracer.load(std::memory_order_acquire);
  if (tracer != nullptr && tracer->pid() == CurrentPid()) tracer->Flush();
}

void SetRecording(bool recording) {
  std::lock_guard<std::mutex> lock(g_start_mu);
  Tracer* tracer = g_tracer.load(std::memory_order_acquire);
  detail::g_on.store(recording && tracer != nullptr && tracer->pid() == CurrentPid(),
                     std::memory_order_relaxed);
}

void Complete(uint32_t track, const char* cat, const char* name, int64_t start_ns, int64_t end_ns,
              std::initializer_list<Arg> args, std::string_view detail,
              std::string_view name_text) {
  if (!On()) return;
  Record r = MakeRecord('X', track, cat, name, start_ns, args);
  r.dur = end_ns > start_ns ? end_ns - start_ns : 0;
  if (!name_text.empty()) {
    r.payload = Payload::kName;
    Emit(r, name_text.data(), name_text.size());
  } else if (!detail.empty()) {
    r.payload = Payload::kDetail;
    Emit(r, detail.data(), detail.size());
  } else {
    Emit(r, nullptr, 0);
  }
}

void Instant(uint32_t track, const char* cat, const char* name, std::initializer_list<Arg> args,
             std::string_view detail) {
  if (!On()) return;
  Record r = MakeRecord('i', track, cat, name, NowNs(), args);
  if (!detail.empty()) r.payload = Payload::kDetail;
  Emit(r, detail.data(), detail.size());
}

void FlowStart(uint32_t track, uint64_t id, int64_t ts_ns) {
  if (!On()) return;
  Record r = MakeRecord('s', track, "fence", "fence", ts_ns, {});
  r.id = id;
  Emit(r, nullptr, 0);
}

void FlowEnd(uint32_t track, uint64_t id, int64_t ts_ns) {
  if (!On()) return;
  Record r = MakeRecord('f', track, "fence", "fence", ts_ns, {});
  r.id = id;
  Emit(r, nullptr, 0);
}

void AsyncBegin(const char* cat, const char* name, uint64_t id, std::initializer_list<Arg> args) {
  if (!On()) return;
  Record r = MakeRecord('b', CurrentTid(), cat, name, NowNs(), args);
  r.id = id;
  Emit(r, nullptr, 0);
}

void AsyncEnd(const char* cat, const char* name, uint64_t id) {
  if (!On()) return;
  Record r = MakeRecord('e', CurrentTid(), cat, name, NowNs(), {});
  r.id = id;
  Emit(r, nullptr, 0);
}

void DmaJob(uint32_t engine_track, uint32_t fence_track, uint64_t id, uint32_t submit_tid,
            int64_t submit_ns, int64_t start_ns, int64_t end_ns, uint64_t entries,
            int64_t signal_ns, int64_t signal_end_ns, const char* error) {
  if (!On()) return;
  Record r = MakeRecord('J', engine_track, "dma", "page-table job", start_ns, {});
  r.dur = end_ns > start_ns ? end_ns - start_ns : 0;
  r.id = id;
  r.payload = Payload::kJob;
  const JobPayload j{fence_track, submit_tid, submit_ns, signal_ns, signal_end_ns, entries, error};
  Emit(r, &j, sizeof(j));
}

void IoctlDescribed(const char* name, unsigned long cmd, int64_t start_ns, int64_t end_ns,
                    int result, std::string_view described) {
  if (!On()) return;
  Record r = MakeRecord('X', CurrentTid(), "ioctl", name, start_ns, {Hex("cmd", cmd)});
  r.dur = end_ns > start_ns ? end_ns - start_ns : 0;
  r.result = result;
  r.payload = Payload::kDescribed;
  Emit(r, described.data(), described.size());
}

void Ioctl(const char* name, unsigned long cmd, int64_t start_ns, int64_t end_ns, int result,
           Describer describe, const void* data, size_t size) {
  if (!On()) return;
  // The command's number only when the table does not know it (the name says it otherwise).
  Record r = MakeRecord('X', CurrentTid(), "ioctl", name, start_ns, {});
  if (describe == nullptr) r.args[r.nargs++] = Hex("cmd", cmd);
  r.dur = end_ns > start_ns ? end_ns - start_ns : 0;
  r.result = result;
  constexpr size_t kMaxStruct = 4096;
  if (describe != nullptr && data != nullptr && size <= kMaxStruct) {
    r.describe = describe;
    r.payload = Payload::kStruct;
    Emit(r, data, size);
  } else {
    Emit(r, nullptr, 0);
  }
}

}  // namespace vkfd::trace

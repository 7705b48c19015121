#include "uapi/file_table.h"

#include <pthread.h>
#include <sched.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>

namespace vkfd::uapi {
namespace {

// One fd's record, packed into words written and read atomically under a sequence lock: the
// sequence is odd while a writer changes the words; a reader retries when it saw it odd or changed.
struct Slot {
  std::atomic<uint32_t> seq{0};
  // kind | gpu_index << 8 | readable << 16 | writable << 17 | opener_pid << 32
  std::atomic<uint64_t> head{0};
  std::atomic<uint64_t> file_id{0};
  std::atomic<KfdDevice*> device{nullptr};
  std::atomic<kfd::Process*> process{nullptr};
  std::atomic<uint64_t> dev{0};
  std::atomic<uint64_t> ino{0};
};

Slot g_slots[FileTable::kMaxFds];
// Slots being written now; a forked child repairs its copies of them (RepairAfterFork).
std::atomic<int> g_writers{0};
// Set in a forked child whose parent had writers at fork time.
std::atomic<bool> g_needs_repair{false};

uint64_t PackHead(const FileRecord& r) {
  return uint64_t(r.kind) | (uint64_t(uint8_t(r.gpu_index)) << 8) | (uint64_t(r.readable) << 16) |
         (uint64_t(r.writable) << 17) | (uint64_t(uint32_t(r.opener_pid)) << 32);
}

bool InRange(int fd) { return fd >= 0 && fd < FileTable::kMaxFds; }

void LockSlot(Slot& s) {
  g_writers.fetch_add(1, std::memory_order_acquire);
  for (;;) {
    uint32_t seq = s.seq.load(std::memory_order_relaxed);
    if ((seq & 1) == 0 &&
        s.seq.compare_exchange_weak(seq, seq + 1, std::memory_order_acquire)) {
      return;
    }
    sched_yield();  // another writer on the same fd number: a race in the program itself
  }
}

void UnlockSlot(Slot& s) {
  s.seq.fetch_add(1, std::memory_order_release);
  g_writers.fetch_sub(1, std::memory_order_release);
}

// In the child only one thread exists, so an odd sequence is a writer that is gone: clear the slot.
void RepairAfterFork() {
  if (!g_needs_repair.exchange(false)) return;
  for (Slot& s : g_slots) {
    const uint32_t seq = s.seq.load(std::memory_order_relaxed);
    if ((seq & 1) == 0) continue;
    s.head.store(0, std::memory_order_relaxed);
    s.seq.store(seq + 1, std::memory_order_release);
  }
  g_writers.store(0, std::memory_order_relaxed);
}

void ChildAfterFork() {
  if (g_writers.load(std::memory_order_relaxed) != 0) g_needs_repair.store(true);
}

[[maybe_unused]] const bool g_atfork_registered = [] {
  pthread_atfork(nullptr, nullptr, ChildAfterFork);
  return true;
}();

void Write(Slot& s, const FileRecord& r) {
  s.head.store(PackHead(r), std::memory_order_relaxed);
  s.file_id.store(r.file_id, std::memory_order_relaxed);
  s.device.store(r.device, std::memory_order_relaxed);
  s.process.store(r.process, std::memory_order_relaxed);
  s.dev.store(r.dev, std::memory_order_relaxed);
  s.ino.store(r.ino, std::memory_order_relaxed);
}

FileRecord Read(const Slot& s) {
  FileRecord r;
  const uint64_t head = s.head.load(std::memory_order_relaxed);
  r.kind = static_cast<FileRecord::Kind>(head & 0xff);
  r.gpu_index = static_cast<int8_t>((head >> 8) & 0xff);
  r.readable = (head >> 16) & 1;
  r.writable = (head >> 17) & 1;
  r.opener_pid = static_cast<int32_t>(head >> 32);
  r.file_id = s.file_id.load(std::memory_order_relaxed);
  r.device = s.device.load(std::memory_order_relaxed);
  r.process = s.process.load(std::memory_order_relaxed);
  r.dev = s.dev.load(std::memory_order_relaxed);
  r.ino = s.ino.load(std::memory_order_relaxed);
  return r;
}

}  // namespace

bool FileTable::IsEmulated(int fd) {
  return InRange(fd) && (g_slots[fd].head.load(std::memory_order_relaxed) & 0xff) != 0;
}

std::optional<FileRecord> FileTable::Find(int fd) {
  if (!IsEmulated(fd)) return std::nullopt;
  if (g_needs_repair.load(std::memory_order_relaxed)) RepairAfterFork();
  const Slot& s = g_slots[fd];
  for (;;) {
    const uint32_t before = s.seq.load(std::memory_order_acquire);
    if ((before & 1) != 0) {
      sched_yield();
      continue;
    }
    const FileRecord r = Read(s);
    std::atomic_thread_fence(std::memory_order_acquire);
    if (s.seq.load(std::memory_order_relaxed) != before) continue;
    if (r.kind == FileRecord::Kind::kNone) return std::nullopt;
    return r;
  }
}

bool FileTable::Install(int fd, const FileRecord& record) {
  if (!InRange(fd)) return false;
  if (g_needs_repair.load(std::memory_order_relaxed)) RepairAfterFork();
  Slot& s = g_slots[fd];
  LockSlot(s);
  Write(s, record);
  UnlockSlot(s);
  return true;
}

std::optional<FileRecord> FileTable::Forget(int fd) {
  if (!IsEmulated(fd)) return std::nullopt;
  if (g_needs_repair.load(std::memory_order_relaxed)) RepairAfterFork();
  Slot& s = g_slots[fd];
  LockSlot(s);
  const FileRecord old = Read(s);
  Write(s, FileRecord{});
  UnlockSlot(s);
  if (old.kind == FileRecord::Kind::kNone) return std::nullopt;
  return old;
}

std::optional<FileRecord> FileTable::Dup(int oldfd, int newfd) {
  const std::optional<FileRecord> record = Find(oldfd);
  if (!record) {
    Forget(newfd);
    return std::nullopt;
  }
  if (!Install(newfd, *record)) return std::nullopt;
  return record;
}

bool FileTable::Identify(int fd, FileRecord* record) {
  struct stat st;
  if (syscall(SYS_fstat, fd, &st) != 0) return false;
  record->dev = st.st_dev;
  record->ino = st.st_ino;
  return true;
}

std::optional<FileRecord> FileTable::FindLive(int fd, std::optional<FileRecord>* stale) {
  std::optional<FileRecord> record = Find(fd);
  if (!record) return std::nullopt;
  FileRecord now;
  if (Identify(fd, &now) && now.dev == record->dev && now.ino == record->ino) return record;
  *stale = record;
  return std::nullopt;
}

void FileTable::ForgetDevice(const KfdDevice* device) {
  for (int fd = 0; fd < kMaxFds; ++fd) {
    if (!IsEmulated(fd)) continue;
    Slot& s = g_slots[fd];
    LockSlot(s);
    if (s.device.load(std::memory_order_relaxed) == device) Write(s, FileRecord{});
    UnlockSlot(s);
  }
}

}  // namespace vkfd::uapi

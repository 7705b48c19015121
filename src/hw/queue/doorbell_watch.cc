#include "hw/queue/doorbell_watch.h"

#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <cinttypes>
#include <cstdio>
#include <fstream>
#include <string>

#include "base/futex.h"
#include "base/process_identity.h"
#include "base/signal_path.h"
#include "base/user_memory.h"

namespace vkfd::hw {
namespace {

constexpr uintptr_t kPage = 4096;

VKFD_SIGNAL_PATH bool Contains(uintptr_t start, size_t length, uintptr_t addr) {
  return addr - start < length;
}

struct MapsLine {
  uintptr_t start = 0, end = 0;
  unsigned major = 0, minor = 0;
  uint64_t inode = 0;
};

// Every mapping of the process, as /proc/self/maps lists it.
std::vector<MapsLine> ReadMaps() {
  std::vector<MapsLine> lines;
  std::ifstream in("/proc/self/maps");
  std::string text;
  while (std::getline(in, text)) {
    MapsLine l;
    unsigned long long start, end, offset, inode;
    char perms[8];
    if (sscanf(text.c_str(), "%llx-%llx %7s %llx %x:%x %llu", &start, &end, perms, &offset, &l.major,
               &l.minor, &inode) == 7) {
      l.start = static_cast<uintptr_t>(start);
      l.end = static_cast<uintptr_t>(end);
      l.inode = inode;
      lines.push_back(l);
    }
  }
  return lines;
}

}  // namespace

VKFD_SIGNAL_PATH DoorbellWatch& DoorbellWatch::Global() {
  static DoorbellWatch* watch = new DoorbellWatch();  // never destroyed: the handler may run at exit
  return *watch;
}

void DoorbellWatch::Register(void* addr, size_t length, std::atomic<uint32_t>* kick) {
  MutexLock lock(&mu_);
  const uint64_t incarnation = ProcessIncarnation();
  if (incarnation_.load(std::memory_order_relaxed) != incarnation) {
    // A forked child's inherited registry describes the parent's mappings: start afresh.
    for (Slot& s : slots_) s.state.store(kFree, std::memory_order_relaxed);
    incarnation_.store(incarnation, std::memory_order_release);
  }
  InstallFaultRecovery();
  SetWriteFaultHook(&DoorbellWatch::OnWriteFault);
  for (Slot& s : slots_) {
    if (s.state.load(std::memory_order_relaxed) != kFree) continue;
    s.addr.store(reinterpret_cast<uintptr_t>(addr), std::memory_order_relaxed);
    s.length.store(length, std::memory_order_relaxed);
    s.kick.store(kick, std::memory_order_relaxed);
    s.state.store(kRegistered, std::memory_order_release);
    return;
  }
  // No slot: this mapping cannot be watched; Arm will find it unregistered and refuse, so the
  // command processor keeps polling — slower when idle, never wrong.
}

void DoorbellWatch::Forget(const void* addr, size_t length) {
  MutexLock lock(&mu_);
  const uintptr_t lo = reinterpret_cast<uintptr_t>(addr);
  for (Slot& s : slots_) {
    if (s.state.load(std::memory_order_relaxed) == kFree) continue;
    const uintptr_t start = s.addr.load(std::memory_order_relaxed);
    const size_t len = s.length.load(std::memory_order_relaxed);
    if (start < lo + length && lo < start + len) s.state.store(kFree, std::memory_order_release);
  }
}

size_t DoorbellWatch::RegisteredCount() {
  MutexLock lock(&mu_);
  size_t n = 0;
  for (const Slot& s : slots_) n += s.state.load(std::memory_order_relaxed) != kFree;
  return n;
}

void DoorbellWatch::ForgetBeforeMove(const void* addr, size_t length) {
  MutexLock lock(&mu_);
  const uintptr_t lo = reinterpret_cast<uintptr_t>(addr);
  for (Slot& s : slots_) {
    const int state = s.state.load(std::memory_order_relaxed);
    if (state == kFree) continue;
    const uintptr_t start = s.addr.load(std::memory_order_relaxed);
    const size_t len = s.length.load(std::memory_order_relaxed);
    if (!(start < lo + length && lo < start + len)) continue;
    if (state == kArmed) mprotect(reinterpret_cast<void*>(start), len, PROT_READ | PROT_WRITE);
    s.state.store(kFree, std::memory_order_release);
  }
}

void DoorbellWatch::ForgetTarget(const std::atomic<uint32_t>* kick) {
  MutexLock lock(&mu_);
  for (Slot& s : slots_) {
    if (s.state.load(std::memory_order_relaxed) == kFree || s.kick.load() != kick) continue;
    if (s.state.load(std::memory_order_relaxed) == kArmed) {
      mprotect(reinterpret_cast<void*>(s.addr.load()), s.length.load(), PROT_READ | PROT_WRITE);
    }
    s.state.store(kFree, std::memory_order_release);
  }
}

bool DoorbellWatch::Arm(const std::atomic<uint32_t>* kick, const std::vector<WatchedFile>& files) {
  MutexLock lock(&mu_);
  if (incarnation_.load(std::memory_order_relaxed) != ProcessIncarnation()) return false;
  const std::vector<MapsLine> maps = ReadMaps();
  const auto is_doorbell_file = [&](const MapsLine& m) {
    for (const WatchedFile& f : files) {
      if (f.inode == m.inode && major(f.dev) == m.major && minor(f.dev) == m.minor) return true;
    }
    return false;
  };
  // A registered range that is no longer a doorbell mapping was unmapped behind the interposer's
  // back: forget it (protecting it now could hit someone else's memory).
  for (Slot& s : slots_) {
    if (s.state.load(std::memory_order_relaxed) == kFree) continue;
    const uintptr_t start = s.addr.load(std::memory_order_relaxed);
    const uintptr_t end = start + s.length.load(std::memory_order_relaxed);
    bool still = false;
    for (const MapsLine& m : maps) {
      if (m.start <= start && end <= m.end && is_doorbell_file(m)) still = true;
    }
    if (!still) s.state.store(kFree, std::memory_order_release);
  }
  // Every mapping of a doorbell file must be vkfd's own or a registered one of this scheduler.
  for (const MapsLine& m : maps) {
    const WatchedFile* file = nullptr;
    for (const WatchedFile& f : files) {
      if (f.inode == m.inode && major(f.dev) == m.major && minor(f.dev) == m.minor) file = &f;
    }
    if (file == nullptr) continue;
    const uintptr_t own = reinterpret_cast<uintptr_t>(file->own_mapping);
    if (m.start >= own && m.end <= own + file->own_length) continue;
    bool known = false;
    for (const Slot& s : slots_) {
      if (s.state.load(std::memory_order_relaxed) == kFree || s.kick.load() != kick) continue;
      const uintptr_t start = s.addr.load(std::memory_order_relaxed);
      if (m.start >= start && m.end <= start + s.length.load(std::memory_order_relaxed)) known = true;
    }
    if (!known) return false;
  }
  bool ok = true;
  for (Slot& s : slots_) {
    if (s.state.load(std::memory_order_relaxed) != kRegistered || s.kick.load() != kick) continue;
    void* addr = reinterpret_cast<void*>(s.addr.load(std::memory_order_relaxed));
    s.state.store(kArmed, std::memory_order_release);  // before the protection: a trap must find it
    if (mprotect(addr, s.length.load(std::memory_order_relaxed), PROT_READ) != 0) {
      s.state.store(kFree, std::memory_order_release);  // gone behind our back: forget it
      ok = false;
    }
  }
  if (!ok) {
    for (Slot& s : slots_) {
      if (s.state.load(std::memory_order_relaxed) == kArmed && s.kick.load() == kick) {
        mprotect(reinterpret_cast<void*>(s.addr.load()), s.length.load(), PROT_READ | PROT_WRITE);
        s.state.store(kRegistered, std::memory_order_release);
      }
    }
  }
  return ok;
}

void DoorbellWatch::Disarm(const std::atomic<uint32_t>* kick) {
  MutexLock lock(&mu_);
  for (Slot& s : slots_) {
    if (s.state.load(std::memory_order_relaxed) != kArmed || s.kick.load() != kick) continue;
    mprotect(reinterpret_cast<void*>(s.addr.load()), s.length.load(), PROT_READ | PROT_WRITE);
    s.state.store(kRegistered, std::memory_order_release);
  }
}

VKFD_SIGNAL_PATH bool DoorbellWatch::OnWriteFault(void* addr) { return Global().HandleFault(addr); }

VKFD_SIGNAL_PATH bool DoorbellWatch::HandleFault(void* addr) {
  if (incarnation_.load(std::memory_order_acquire) != ProcessIncarnation()) return false;
  const uintptr_t a = reinterpret_cast<uintptr_t>(addr);
  for (Slot& s : slots_) {
    if (s.state.load(std::memory_order_acquire) == kFree) continue;
    const uintptr_t start = s.addr.load(std::memory_order_relaxed);
    const size_t length = s.length.load(std::memory_order_relaxed);
    if (!Contains(start, length, a)) continue;
    // A watched page (armed, or being disarmed by the command processor right now): writable again
    // — idempotent if several threads trap at once — then the wake-up. The slot stays armed; the
    // woken thread disarms the rest and sets the state.
    // The raw system call: sanitizer runtimes intercept mprotect (base/signal_path.h).
    syscall(SYS_mprotect, a & ~(kPage - 1), kPage, PROT_READ | PROT_WRITE);
    if (std::atomic<uint32_t>* kick = s.kick.load(std::memory_order_relaxed); kick != nullptr) {
      kick->fetch_add(1, std::memory_order_seq_cst);
      FutexWakeAll(kick);
    }
    traps_.fetch_add(1, std::memory_order_relaxed);
    return true;
  }
  return false;
}

}  // namespace vkfd::hw

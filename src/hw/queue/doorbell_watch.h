// DoorbellWatch: how the command processor notices a doorbell write while it sleeps.
//
// A doorbell is memory the client writes with a plain store; nothing traps. The command-processor
// thread (hw/queue/queue_scheduler.h) therefore polls while queues are busy, backing off to 2 ms
// sleeps. When every queue has been idle for a while it goes further: it write-protects the client's
// mappings of the doorbell pages and sleeps without a deadline. The next doorbell write faults; the
// SIGSEGV handler (base/user_memory.h's write-fault hook) recognises a watched page, makes it writable
// again, wakes the thread and returns, so the store is retried and lands. An idle process's queues then
// cost no CPU at all, and the first write after idleness pays one trap (docs/gpu-side.md measures it).
//
// Safety: a page is protected only if it is, at arming time, a client mapping of a doorbell aperture
// memfd that vkfd made (KfdMmap registers each) — /proc/self/maps is read to check every mapping of
// those files is one vkfd knows; a mapping it does not know (moved by mremap behind the interposer, a
// raw mmap) means it cannot watch every doorbell, and the thread keeps polling instead. The
// interposer forgets mappings that munmap, mremap or a MAP_FIXED mmap replace. A forked child
// inherits no doorbell mappings (MADV_DONTFORK, as the kernel's VM_DONTCOPY) and ignores the
// registry it inherited (it is stamped with the process incarnation).
//
// Process-wide: the signal handler needs one place to look. Register/Forget/Arm/Disarm take mu_;
// the fault handler takes no lock (slots are published with release stores).
#pragma once

#include <sys/types.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "base/thread_annotations.h"

namespace vkfd::hw {

class DoorbellWatch {
 public:
  // A file whose client mappings are watched (a GPU's doorbell aperture) and vkfd's own mapping of
  // it, which is not the client's (the engines read the doorbells there).
  struct WatchedFile {
    uint64_t dev = 0;
    uint64_t inode = 0;
    const void* own_mapping = nullptr;
    size_t own_length = 0;
  };

  static DoorbellWatch& Global();

  // [addr, addr + length) maps a watched file; a write there wakes whoever sleeps on `kick`.
  void Register(void* addr, size_t length, std::atomic<uint32_t>* kick) EXCLUDES(mu_);
  // Mappings inside [addr, addr + length) are gone (munmap, MAP_FIXED): call after the host call.
  void Forget(const void* addr, size_t length) EXCLUDES(mu_);
  // Mappings inside [addr, addr + length) are about to move or shrink (mremap): call before the
  // host call, while the range is still theirs — a write-protected one is made writable again, so
  // the moved pages do not trap where nobody watches them.
  void ForgetBeforeMove(const void* addr, size_t length) EXCLUDES(mu_);
  // Every mapping that wakes `kick` (its scheduler is going away).
  void ForgetTarget(const std::atomic<uint32_t>* kick) EXCLUDES(mu_);

  // Write-protects every registered mapping that wakes `kick`. False (nothing left protected) if a
  // mapping of `files` exists that is not registered, or protecting failed: the caller polls then.
  bool Arm(const std::atomic<uint32_t>* kick, const std::vector<WatchedFile>& files) EXCLUDES(mu_);
  // Makes them writable again.
  void Disarm(const std::atomic<uint32_t>* kick) EXCLUDES(mu_);

  // The SIGSEGV hook (async-signal-safe): true if `addr` is in a watched mapping of this process —
  // it is writable again and its scheduler was woken; the faulting store is retried.
  static bool OnWriteFault(void* addr);

  // Mappings registered now (tests).
  size_t RegisteredCount() EXCLUDES(mu_);
  // Traps taken (tests, docs).
  uint64_t traps() const { return traps_.load(std::memory_order_relaxed); }

 private:
  static constexpr int kSlots = 256;
  enum State : int { kFree = 0, kRegistered = 1, kArmed = 2 };
  struct Slot {
    std::atomic<int> state{kFree};
    std::atomic<uintptr_t> addr{0};
    std::atomic<size_t> length{0};
    std::atomic<std::atomic<uint32_t>*> kick{nullptr};
  };

  DoorbellWatch() = default;
  bool HandleFault(void* addr);

  Mutex mu_;
  Slot slots_[kSlots];
  std::atomic<uint64_t> incarnation_{0};  // of the process that registered (0: none yet)
  std::atomic<uint64_t> traps_{0};
};

}  // namespace vkfd::hw

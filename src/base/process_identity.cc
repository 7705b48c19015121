#include "base/process_identity.h"

#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>

#include "base/signal_path.h"

namespace vkfd {
namespace {

struct Identity {
  std::atomic<int32_t> pid;
  std::atomic<uint64_t> incarnation;
};

std::atomic<uint64_t> g_incarnations{0};

VKFD_SIGNAL_PATH Identity* Page() {
  // Made once, before main or at the first call; never unmapped.
  static Identity* page = [] {
    void* p = mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) abort();
    // Linux >= 4.14. Without it (older hosts) the page survives fork and children would see the
    // parent's pid: fail loudly rather than answer for the wrong process.
    if (madvise(p, 4096, MADV_WIPEONFORK) != 0) abort();
    return static_cast<Identity*>(p);
  }();
  return page;
}

}  // namespace

VKFD_SIGNAL_PATH int CurrentPid() {
  Identity* id = Page();
  int32_t pid = id->pid.load(std::memory_order_relaxed);
  if (pid == 0) {
    pid = static_cast<int32_t>(getpid());
    id->incarnation.store(g_incarnations.fetch_add(1, std::memory_order_relaxed) + 1,
                          std::memory_order_relaxed);
    id->pid.store(pid, std::memory_order_relaxed);
  }
  return pid;
}

VKFD_SIGNAL_PATH uint64_t ProcessIncarnation() {
  CurrentPid();
  return Page()->incarnation.load(std::memory_order_relaxed);
}

}  // namespace vkfd

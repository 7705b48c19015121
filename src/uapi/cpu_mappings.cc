#include "uapi/cpu_mappings.h"

#include <pthread.h>
#include <sys/mman.h>

#include <atomic>
#include <cerrno>
#include <cstdint>
#include <map>
#include <vector>

#include "base/thread_annotations.h"
#include "hw/queue/doorbell_watch.h"
#include "kfd/driver.h"
#include "uapi/errno_table.h"
#include "uapi/file_table.h"
#include "uapi/kfd_device.h"

namespace vkfd::uapi {
namespace {

constexpr uint64_t kPage = 4096;
uint64_t PageAlign(uint64_t v) { return (v + kPage - 1) & ~(kPage - 1); }

// One host VMA (or piece of one) mapping a GEM object: it holds one reference to the object.
struct Mapping {
  uint64_t end = 0;
  const KfdDevice* device = nullptr;
  kfd::Driver* driver = nullptr;
  size_t gpu = 0;
  uint64_t object = 0;  // the object's offset on the render node
};

struct Ref {
  kfd::Driver* driver;
  size_t gpu;
  uint64_t object;
};

// References to take (drm_gem_vm_open) and to drop (drm_gem_vm_close) once the lock is released;
// takes first, so no object passes through zero on the way.
struct RefChanges {
  std::vector<Ref> gets;
  std::vector<Ref> puts;
  void Apply() {
    for (const Ref& r : gets) r.driver->gem(r.gpu).Get(r.object);
    for (const Ref& r : puts) r.driver->PutGem(r.gpu, r.object);
  }
};

Mutex g_mu;
std::map<uint64_t, Mapping>& Table() REQUIRES(g_mu) {
  // Never destroyed: munmap may run during exit, after static destructors.
  static auto* table = new std::map<uint64_t, Mapping>();
  return *table;
}
std::atomic<size_t> g_count{0};        // entries in the table
std::atomic<bool> g_doorbells{false};  // a doorbell mapping was ever registered

// fork(2) while another thread holds g_mu would leave the child's copy locked for good: the table
// is taken around fork, as glibc does for malloc's arenas.
void LockForFork() NO_THREAD_SAFETY_ANALYSIS { g_mu.Lock(); }
void UnlockAfterFork() NO_THREAD_SAFETY_ANALYSIS { g_mu.Unlock(); }
[[maybe_unused]] const int g_atfork = pthread_atfork(&LockForFork, &UnlockAfterFork, &UnlockAfterFork);

bool Quiet() {
  return g_count.load(std::memory_order_acquire) == 0 &&
         !g_doorbells.load(std::memory_order_acquire);
}

// [lo, hi) is no longer mapped as the table says: pieces of mappings outside it stay (a mapping cut
// in two holds a second reference, one removed whole drops its own).
void CutLocked(uint64_t lo, uint64_t hi, RefChanges* changes) REQUIRES(g_mu) {
  if (hi <= lo) return;
  auto& table = Table();
  auto it = table.lower_bound(lo);
  if (it != table.begin() && std::prev(it)->second.end > lo) --it;
  while (it != table.end() && it->first < hi) {
    const uint64_t start = it->first;
    const Mapping m = it->second;
    it = table.erase(it);
    int pieces = 0;
    if (start < lo) {
      Mapping left = m;
      left.end = lo;
      table.emplace(start, left);
      ++pieces;
    }
    if (m.end > hi) {
      table.emplace(hi, m);
      ++pieces;
      it = table.upper_bound(hi);
    }
    const Ref ref{m.driver, m.gpu, m.object};
    if (pieces == 0) changes->puts.push_back(ref);
    if (pieces == 2) changes->gets.push_back(ref);
  }
  g_count.store(table.size(), std::memory_order_release);
}

void InsertLocked(uint64_t start, const Mapping& m) REQUIRES(g_mu) {
  Table()[start] = m;
  g_count.store(Table().size(), std::memory_order_release);
}

}  // namespace

HostMm LibcMm() { return HostMm{&::mmap, &::munmap, &::mremap}; }

void NoteDoorbellMapping() { g_doorbells.store(true, std::memory_order_release); }

int MmapAccessError(const FileRecord& file, int prot, int flags) {
  const int type = flags & MAP_TYPE;
  const bool shared = type == MAP_SHARED || type == MAP_SHARED_VALIDATE;
  if (shared && (prot & PROT_WRITE) && !file.writable) return EACCES;
  if (!file.readable) return EACCES;
  return 0;
}

void* RenderMmap(KfdDevice& device, const FileRecord& file, void* addr, size_t length, int prot,
                 int flags, off_t offset, const HostMm& host) {
  // What mmap(2) itself checks first.
  if (length == 0 || (static_cast<uint64_t>(offset) & (kPage - 1)) != 0) {
    errno = EINVAL;
    return MAP_FAILED;
  }
  if (const int error = MmapAccessError(file, prot, flags); error != 0) {
    errno = error;
    return MAP_FAILED;
  }
  kfd::Driver& driver = device.driver();
  const size_t gpu = static_cast<size_t>(file.gpu_index);
  const uint64_t object = static_cast<uint64_t>(offset);
  // drm_gem_mmap: the object at exactly this offset, long enough, allowed for this file, not a
  // userptr BO; it takes the VMA's reference.
  auto target = driver.gem(gpu).Open(object, length, file.file_id);
  if (!target.ok()) {
    errno = ErrnoFor(target.code());
    return MAP_FAILED;
  }
  int host_flags = flags;
  // A mapping that may never become writable (VM_MAYWRITE clear) is made through a read-only file,
  // so the host refuses mprotect(PROT_WRITE) on it with EACCES as the kernel does: a shared mapping
  // of a file not open for writing (do_mmap), the debugger's PROT_NONE private one (below).
  bool may_write = file.writable;
  if ((flags & MAP_TYPE) == MAP_PRIVATE) {
    // ttm_bo_mmap_obj refuses copy-on-write mappings; amdgpu_gem_object_mmap lets the thunk's
    // PROT_NONE MAP_PRIVATE one through by clearing VM_MAYWRITE. Made shared here, so a debugger's
    // reads see the VRAM and its writes fail instead of landing in a private copy.
    if (prot != PROT_NONE) {
      driver.PutGem(gpu, object);
      errno = EINVAL;
      return MAP_FAILED;
    }
    host_flags = (flags & ~MAP_TYPE) | MAP_SHARED;
    may_write = false;
  }
  const hw::GpuMemory& memory = *driver.node().gpu(gpu).memory;
  const int memory_fd = may_write || memory.read_only_fd() < 0 ? memory.fd() : memory.read_only_fd();
  RefChanges changes;
  void* mapped;
  {
    MutexLock lock(&g_mu);
    mapped = host.mmap(addr, length, prot, host_flags, memory_fd,
                       static_cast<off_t>(target->memfd_offset));
    if (mapped != MAP_FAILED) {
      const uint64_t start = reinterpret_cast<uint64_t>(mapped);
      const uint64_t end = start + PageAlign(length);
      if (flags & MAP_FIXED) {
        CutLocked(start, end, &changes);  // what it replaced
        if (g_doorbells.load(std::memory_order_relaxed)) {
          hw::DoorbellWatch::Global().Forget(mapped, length);
        }
      }
      InsertLocked(start, Mapping{end, &device, &driver, gpu, object});
    }
  }
  const int saved = errno;
  if (mapped == MAP_FAILED) driver.PutGem(gpu, object);
  changes.Apply();
  errno = saved;
  return mapped;
}

int CpuMunmap(void* addr, size_t length, const HostMm& host) {
  if (Quiet()) return host.munmap(addr, length);
  RefChanges changes;
  int r;
  {
    MutexLock lock(&g_mu);
    r = host.munmap(addr, length);
    if (r == 0) {
      const uint64_t lo = reinterpret_cast<uint64_t>(addr);
      CutLocked(lo, lo + PageAlign(length), &changes);
      if (g_doorbells.load(std::memory_order_relaxed)) {
        hw::DoorbellWatch::Global().Forget(addr, length);
      }
    }
  }
  const int saved = errno;
  changes.Apply();
  errno = saved;
  return r;
}

void* CpuMremap(void* old_addr, size_t old_length, size_t new_length, int flags, void* new_addr,
                const HostMm& host) {
  if (Quiet()) return host.mremap(old_addr, old_length, new_length, flags, new_addr);
  RefChanges changes;
  void* moved;
  {
    MutexLock lock(&g_mu);
    const uint64_t lo = reinterpret_cast<uint64_t>(old_addr);
    auto& table = Table();
    auto it = table.upper_bound(lo);
    const Mapping* found = nullptr;
    if (it != table.begin() && std::prev(it)->second.end > lo) found = &std::prev(it)->second;
    if (found != nullptr) {
      // vma_to_resize on a VM_DONTEXPAND | VM_PFNMAP mapping.
      if (flags & MREMAP_DONTUNMAP) {
        errno = EINVAL;
        return MAP_FAILED;
      }
      if (PageAlign(old_length) > found->end - lo || PageAlign(new_length) > PageAlign(old_length)) {
        errno = EFAULT;
        return MAP_FAILED;
      }
    }
    if (g_doorbells.load(std::memory_order_relaxed)) {
      hw::DoorbellWatch::Global().ForgetBeforeMove(old_addr, old_length);
    }
    const Mapping moving = found != nullptr ? *found : Mapping{};
    moved = host.mremap(old_addr, old_length, new_length, flags, new_addr);
    if (moved != MAP_FAILED) {
      const uint64_t to = reinterpret_cast<uint64_t>(moved);
      if (flags & MREMAP_FIXED) CutLocked(to, to + PageAlign(new_length), &changes);
      if (found != nullptr && to != lo) {
        // The moved piece is a mapping of its own now: one more reference, and the old range is cut.
        changes.gets.push_back(Ref{moving.driver, moving.gpu, moving.object});
      }
      CutLocked(lo, lo + PageAlign(old_length), &changes);
      if (found != nullptr) {
        Mapping m = moving;
        m.end = to + PageAlign(new_length);
        InsertLocked(to, m);
        if (to == lo) changes.gets.push_back(Ref{moving.driver, moving.gpu, moving.object});
      }
    }
  }
  const int saved = errno;
  changes.Apply();
  errno = saved;
  return moved;
}

void* CpuMmapOther(void* addr, size_t length, int prot, int flags, int fd, off_t offset,
                   const HostMm& host) {
  if (!(flags & MAP_FIXED) || Quiet()) return host.mmap(addr, length, prot, flags, fd, offset);
  RefChanges changes;
  void* mapped;
  {
    MutexLock lock(&g_mu);
    mapped = host.mmap(addr, length, prot, flags, fd, offset);
    if (mapped != MAP_FAILED) {
      const uint64_t lo = reinterpret_cast<uint64_t>(mapped);
      CutLocked(lo, lo + PageAlign(length), &changes);
      if (g_doorbells.load(std::memory_order_relaxed)) {
        hw::DoorbellWatch::Global().Forget(mapped, length);
      }
    }
  }
  const int saved = errno;
  changes.Apply();
  errno = saved;
  return mapped;
}

void ForgetDeviceMappings(const KfdDevice* device) {
  MutexLock lock(&g_mu);
  auto& table = Table();
  for (auto it = table.begin(); it != table.end();) {
    it = it->second.device == device ? table.erase(it) : std::next(it);
  }
  g_count.store(table.size(), std::memory_order_release);
}

size_t RenderMappingCount() { return g_count.load(std::memory_order_acquire); }

}  // namespace vkfd::uapi

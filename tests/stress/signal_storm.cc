#include "stress/signal_storm.h"

#include <errno.h>
#include <linux/kfd_ioctl.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <sstream>

namespace vkfd::stress {
namespace {

constexpr int kMaxSignal = 65;
std::atomic<uint64_t> g_handled[kMaxSignal];

void CountingHandler(int signo) {
  if (signo > 0 && signo < kMaxSignal) g_handled[signo].fetch_add(1, std::memory_order_relaxed);
}

bool InstallCountingHandler(int signo, Restart restart, struct sigaction* old) {
  struct sigaction sa {};
  sa.sa_handler = CountingHandler;
  sa.sa_flags = restart == Restart::kYes ? SA_RESTART : 0;
  sigemptyset(&sa.sa_mask);
  return sigaction(signo, &sa, old) == 0;
}

// splitmix64: the same sequence for the same seed with every compiler and standard library.
class Rng {
 public:
  explicit Rng(uint64_t seed) : state_(seed) {}
  uint64_t Next() {
    uint64_t z = (state_ += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }
  uint64_t Below(uint64_t n) { return Next() % n; }

 private:
  uint64_t state_;
};

constexpr uint64_t kVaBase = 0x100000000000ull;
constexpr uint64_t kSlotSpan = 16ull << 20;
constexpr uint64_t kSizes[] = {4096, 3 * 4096, 64 << 10, 2 << 20, 4 << 20, (2 << 20) + 8192};

struct Bo {
  bool live = false;
  uint64_t handle = 0;
  uint64_t va = 0;
  uint64_t size = 0;
  uint32_t mask = 0;  // GPUs (by index) the driver side expects it to be mapped on
};

struct Range {
  uint64_t start, end;
};

std::vector<Range> ParseRanges(const std::string& text) {
  std::vector<Range> ranges;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    Range r{};
    if (sscanf(line.c_str(), "0x%" SCNx64 "-0x%" SCNx64, &r.start, &r.end) == 2) ranges.push_back(r);
  }
  return ranges;
}

// Is [start, end) entirely covered by the (sorted, possibly adjacent) ranges?
bool Covered(const std::vector<Range>& ranges, uint64_t start, uint64_t end) {
  uint64_t at = start;
  for (const Range& r : ranges) {
    if (r.end <= at) continue;
    if (r.start > at) return false;
    at = r.end;
    if (at >= end) return true;
  }
  return at >= end;
}
bool Touched(const std::vector<Range>& ranges, uint64_t start, uint64_t end) {
  for (const Range& r : ranges) {
    if (r.start < end && start < r.end) return true;
  }
  return false;
}

class Runner {
 public:
  Runner(conformance::Backend& backend, const StormOptions& options, StormResult* result)
      : backend_(backend), options_(options), result_(*result), rng_(options.seed) {}

  void Run() {
    if (!Setup()) return;
    result_.available_before = Available();
    bos_.resize(options_.max_live_bos);
    while (result_.ops < options_.ops && result_.error.empty()) {
      Step();
      if (options_.check_every != 0 && result_.ops % options_.check_every == 0) CheckInvariant();
    }
    if (result_.error.empty()) CheckInvariant();
    if (result_.error.empty()) Snapshot();
    // Unmap and free everything (also after an error, so the accounting can be reported).
    const StormResult counts = result_;
    for (size_t slot = 0; slot < bos_.size() && result_.error.empty(); ++slot) {
      if (!bos_[slot].live) continue;
      if (bos_[slot].mask != 0) Unmap(slot, MaskToList(bos_[slot].mask));
      if (result_.error.empty()) Free(slot);
    }
    if (result_.error.empty()) CheckInvariant();
    // Report the random phase's counts only.
    result_.ops = counts.ops;
    result_.allocs = counts.allocs;
    result_.maps = counts.maps;
    result_.unmaps = counts.unmaps;
    result_.frees = counts.frees;
    result_.available_after = Available();
    result_.host_bytes_after_free = HostBytes();
    // Process exit: the VMs and their page tables go; host memory is back where it started.
    if (kfd_ > 0) backend_.Close(kfd_);
    kfd_ = -1;
    result_.process_ended = backend_.EndProcess();
    result_.host_bytes_after = HostBytes();
    for (int fd : render_) backend_.Close(fd);
  }

 private:
  int Ioctl(unsigned long request, void* arg) {
    return KmtIoctl(backend_, kfd_, request, arg, &result_.eintr, &result_.eagain);
  }
  void Fail(const std::string& what) {
    if (result_.error.empty()) {
      result_.error = "op " + std::to_string(result_.ops) + ": " + what;
    }
  }

  bool Setup() {
    kfd_ = backend_.OpenKfd();
    if (kfd_ < 0) {
      Fail("open kfd");
      return false;
    }
    gpus_ = backend_.GpuIds();
    const std::vector<int> minors = backend_.RenderMinors();
    for (size_t i = 0; i < gpus_.size(); ++i) {
      const int fd = backend_.OpenRender(minors[i]);
      if (fd < 0) {
        Fail("open render node");
        return false;
      }
      render_.push_back(fd);
    }
    // Before ACQUIRE_VM the process holds no memory at all: the baseline of invariant 3.
    result_.host_bytes_before = HostBytes();
    for (size_t i = 0; i < gpus_.size(); ++i) {
      kfd_ioctl_acquire_vm_args acquire{};
      acquire.drm_fd = static_cast<uint32_t>(render_[i]);
      acquire.gpu_id = gpus_[i];
      if (Ioctl(AMDKFD_IOC_ACQUIRE_VM, &acquire) != 0) {
        Fail(std::string("ACQUIRE_VM: ") + strerror(errno));
        return false;
      }
    }
    return true;
  }

  std::vector<uint64_t> Available() {
    std::vector<uint64_t> available;
    for (uint32_t id : gpus_) {
      kfd_ioctl_get_available_memory_args args{};
      args.gpu_id = id;
      if (Ioctl(AMDKFD_IOC_AVAILABLE_MEMORY, &args) != 0) Fail("AVAILABLE_MEMORY");
      available.push_back(args.available);
    }
    return available;
  }

  // Host memory behind the emulated GPUs: every render fd is an open file description of its GPU's memfd.
  uint64_t HostBytes() {
    uint64_t bytes = 0;
    for (int fd : render_) {
      struct stat st {};
      if (fstat(fd, &st) != 0) Fail("fstat render fd");
      bytes += uint64_t(st.st_blocks) * 512;
    }
    return bytes;
  }

  void CheckInvariant() {
    ++result_.invariant_checks;
    const std::string broken = backend_.CheckInvariant();
    if (!broken.empty()) Fail("invariant 1: " + broken);
  }

  std::vector<uint32_t> MaskToList(uint32_t mask) {
    std::vector<uint32_t> ids;
    for (size_t g = 0; g < gpus_.size(); ++g) {
      if (mask & (1u << g)) ids.push_back(gpus_[g]);
    }
    // A random order, so restarts resume in the middle of arbitrary lists.
    for (size_t i = ids.size(); i > 1; --i) std::swap(ids[i - 1], ids[rng_.Below(i)]);
    return ids;
  }

  size_t PickLive(bool need_mapped) {
    std::vector<size_t> candidates;
    for (size_t s = 0; s < bos_.size(); ++s) {
      if (bos_[s].live && (!need_mapped || bos_[s].mask != 0)) candidates.push_back(s);
    }
    if (candidates.empty()) return SIZE_MAX;
    return candidates[rng_.Below(candidates.size())];
  }

  void Step() {
    const uint64_t dice = rng_.Below(100);
    if (dice < 25) {
      size_t free_slot = SIZE_MAX;
      for (size_t s = 0; s < bos_.size(); ++s) {
        if (!bos_[s].live) {
          free_slot = s;
          break;
        }
      }
      if (free_slot != SIZE_MAX) return Alloc(free_slot);
      const size_t victim = PickLive(false);
      if (bos_[victim].mask != 0) return Unmap(victim, MaskToList(bos_[victim].mask));
      return Free(victim);
    }
    if (dice < 60) {
      const size_t slot = PickLive(false);
      if (slot == SIZE_MAX) return Alloc(0);
      // 1..all GPUs, a random subset in a random order (possibly already mapped ones: a no-op).
      const size_t n = 1 + rng_.Below(gpus_.size());
      std::vector<uint32_t> all = MaskToList((1u << gpus_.size()) - 1);
      all.resize(n);
      return Map(slot, all);
    }
    if (dice < 85) {
      const size_t slot = PickLive(true);
      if (slot == SIZE_MAX) return Step();
      uint32_t subset = bos_[slot].mask & static_cast<uint32_t>(rng_.Next());
      if (subset == 0) subset = bos_[slot].mask;
      return Unmap(slot, MaskToList(subset));
    }
    const size_t slot = PickLive(false);
    if (slot == SIZE_MAX) return Alloc(0);
    if (bos_[slot].mask != 0) return Unmap(slot, MaskToList(bos_[slot].mask));
    return Free(slot);
  }

  void Alloc(size_t slot) {
    ++result_.ops;
    ++result_.allocs;
    Bo& bo = bos_[slot];
    const size_t gpu = rng_.Below(gpus_.size());
    kfd_ioctl_alloc_memory_of_gpu_args args{};
    args.va_addr = kVaBase + slot * kSlotSpan;
    args.size = kSizes[rng_.Below(std::size(kSizes))];
    args.gpu_id = gpus_[gpu];
    args.flags = (rng_.Below(3) == 0 ? KFD_IOC_ALLOC_MEM_FLAGS_GTT : KFD_IOC_ALLOC_MEM_FLAGS_VRAM) |
                 KFD_IOC_ALLOC_MEM_FLAGS_WRITABLE |
                 (rng_.Below(2) ? KFD_IOC_ALLOC_MEM_FLAGS_EXECUTABLE : 0u);
    if (Ioctl(AMDKFD_IOC_ALLOC_MEMORY_OF_GPU, &args) != 0) {
      return Fail(std::string("ALLOC: ") + strerror(errno));
    }
    bo = Bo{true, args.handle, args.va_addr, args.size, 0};
  }

  void Map(size_t slot, std::vector<uint32_t> ids, bool unmap = false) {
    ++result_.ops;
    ++(unmap ? result_.unmaps : result_.maps);
    kfd_ioctl_map_memory_to_gpu_args args{};
    args.handle = bos_[slot].handle;
    args.device_ids_array_ptr = reinterpret_cast<uint64_t>(ids.data());
    args.n_devices = static_cast<uint32_t>(ids.size());
    const unsigned long request =
        unmap ? AMDKFD_IOC_UNMAP_MEMORY_FROM_GPU : AMDKFD_IOC_MAP_MEMORY_TO_GPU;
    if (Ioctl(request, &args) != 0) {
      return Fail(std::string(unmap ? "UNMAP: " : "MAP: ") + strerror(errno) +
                  " n_success=" + std::to_string(args.n_success));
    }
    if (args.n_success != ids.size()) return Fail("n_success != n_devices after success");
    for (uint32_t id : ids) {
      for (size_t g = 0; g < gpus_.size(); ++g) {
        if (gpus_[g] != id) continue;
        if (unmap) bos_[slot].mask &= ~(1u << g);
        else bos_[slot].mask |= 1u << g;
      }
    }
  }
  void Unmap(size_t slot, std::vector<uint32_t> ids) { Map(slot, std::move(ids), /*unmap=*/true); }

  void Free(size_t slot) {
    ++result_.ops;
    ++result_.frees;
    kfd_ioctl_free_memory_of_gpu_args args{};
    args.handle = bos_[slot].handle;
    if (Ioctl(AMDKFD_IOC_FREE_MEMORY_OF_GPU, &args) != 0) {
      return Fail(std::string("FREE: ") + strerror(errno));
    }
    bos_[slot] = Bo{};
  }

  // The state the tests compare between runs, read from the page tables.
  void Snapshot() {
    std::vector<std::vector<Range>> ranges;
    for (uint32_t id : gpus_) {
      result_.vm_dumps.push_back(backend_.DumpVm(id));
      ranges.push_back(ParseRanges(result_.vm_dumps.back()));
    }
    char line[128];
    for (size_t slot = 0; slot < bos_.size(); ++slot) {
      const Bo& bo = bos_[slot];
      if (!bo.live) continue;
      uint32_t walked = 0;
      for (size_t g = 0; g < gpus_.size(); ++g) {
        if (Covered(ranges[g], bo.va, bo.va + bo.size)) {
          walked |= 1u << g;
        } else if (Touched(ranges[g], bo.va, bo.va + bo.size)) {
          Fail("BO in slot " + std::to_string(slot) + " is partly mapped on GPU " + std::to_string(g));
        }
      }
      if (walked != bo.mask) {
        Fail("BO in slot " + std::to_string(slot) + ": page tables map it on mask " +
             std::to_string(walked) + ", the ioctl results say " + std::to_string(bo.mask));
      }
      snprintf(line, sizeof(line), "%zu 0x%" PRIx64 " 0x%" PRIx64 " 0x%x\n", slot, bo.va, bo.size,
               walked);
      result_.mapping_sets += line;
    }
  }

  conformance::Backend& backend_;
  const StormOptions& options_;
  StormResult& result_;
  Rng rng_;
  int kfd_ = -1;
  std::vector<uint32_t> gpus_;
  std::vector<int> render_;
  std::vector<Bo> bos_;
};

}  // namespace

uint64_t HandledSignals(int signo) {
  return signo > 0 && signo < kMaxSignal ? g_handled[signo].load(std::memory_order_relaxed) : 0;
}

ThreadSignalStorm::ThreadSignalStorm(int signo, Restart restart, uint64_t period_ns)
    : signo_(signo), period_ns_(period_ns) {
  if (!InstallCountingHandler(signo, restart, &old_)) return;
  sigevent sev{};
  sev.sigev_notify = SIGEV_THREAD_ID;
  sev.sigev_signo = signo;
  sev._sigev_un._tid = gettid();
  ok_ = timer_create(CLOCK_MONOTONIC, &sev, &timer_) == 0;
  if (!ok_) sigaction(signo_, &old_, nullptr);
}

ThreadSignalStorm::~ThreadSignalStorm() {
  if (!ok_) return;
  Stop();
  timer_delete(timer_);
  sigaction(signo_, &old_, nullptr);
}

void ThreadSignalStorm::Start() {
  if (!ok_) return;
  handled_at_start_ = HandledSignals(signo_);
  itimerspec its{};
  its.it_value.tv_sec = static_cast<time_t>(period_ns_ / 1000000000);
  its.it_value.tv_nsec = static_cast<long>(period_ns_ % 1000000000);
  its.it_interval = its.it_value;
  timer_settime(timer_, 0, &its, nullptr);
}

void ThreadSignalStorm::Stop() {
  if (!ok_) return;
  itimerspec its{};
  timer_settime(timer_, 0, &its, nullptr);
}

ProcessGroupSignalHelper::ProcessGroupSignalHelper(int signo, unsigned hz) : signo_(signo) {
  if (!InstallCountingHandler(signo, Restart::kYes, &old_)) return;
  handled_at_start_ = HandledSignals(signo);
  const pid_t parent = getpid();
  // A group of our own, so that the storm reaches this test's processes only (see the header).
  const pid_t previous = getpgrp();
  if (previous != parent && setpgid(0, 0) == 0) old_group_ = previous;
  const pid_t group = getpgrp();
  const long period_ns = 1000000000L / long(hz == 0 ? 1 : hz);
  child_ = fork();
  if (child_ == 0) {
    // Only async-signal-safe calls from here on: the parent has threads.
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    while (getppid() == parent) {
      timespec ts{0, period_ns};
      nanosleep(&ts, nullptr);
      if (kill(-group, signo) != 0) break;
    }
    _exit(0);
  }
  if (child_ < 0) {
    sigaction(signo_, &old_, nullptr);
    if (old_group_ > 0) setpgid(0, old_group_);
  }
}

ProcessGroupSignalHelper::~ProcessGroupSignalHelper() {
  if (child_ <= 0) return;
  kill(child_, SIGKILL);
  int status = 0;
  while (waitpid(child_, &status, 0) < 0 && errno == EINTR) {
  }
  sigaction(signo_, &old_, nullptr);
  if (old_group_ > 0) setpgid(0, old_group_);
}

int KmtIoctl(conformance::Backend& backend, int fd, unsigned long request, void* arg,
             uint64_t* eintr, uint64_t* eagain) {
  int ret;
  do {
    ret = backend.Ioctl(fd, request, arg);
    if (ret == -1 && errno == EINTR) ++*eintr;
    if (ret == -1 && errno == EAGAIN) ++*eagain;
  } while (ret == -1 && (errno == EINTR || errno == EAGAIN));
  return ret;
}

StormResult RunRandomOps(conformance::Backend& backend, const StormOptions& options) {
  StormResult result;
  Runner(backend, options, &result).Run();
  return result;
}

uint64_t StressOpsFromEnvironment(uint64_t ci_default, uint64_t sanitizer_divisor) {
  if (const char* ops = getenv("VKFD_STRESS_OPS"); ops != nullptr && *ops != '\0') {
    return strtoull(ops, nullptr, 10);
  }
  const char* scale = getenv("VKFD_TEST_SCALE");
  if (scale != nullptr && strcmp(scale, "sanitizer") == 0 && sanitizer_divisor > 1) {
    return ci_default / sanitizer_divisor;
  }
  return ci_default;
}

}  // namespace vkfd::stress

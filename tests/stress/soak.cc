// The robustness soak (issue 9): N mixed operations (default 10^6) on 8 threads of a real program under
// `vkfd run`, while a controller forks children that use KFD themselves (and the inherited fence and
// kfd fds), execs a program that probes an inherited kfd fd, signals the workers with and without
// SA_RESTART, cancels threads blocked in WAIT_EVENTS and MAP, and exhausts the fd table now and then.
// Afterwards every BO and event is released and the process must be back where it started: RSS within
// a small bound, the same open fds, AVAILABLE_MEMORY at its baseline on every GPU.
//
//   vkfd run --topology mi210x2 -- soak [OPS]        (prints the figures; exit 0 when everything holds)
//
// Every operation's result is checked against what the driver may answer under these conditions (an
// fd-making call may be EMFILE while the table is full, an interrupted wait EINTR); anything else is a
// failure with a message. Uses only libc, the KFD ABI header and vkfd's extension header.
#include <dirent.h>
#include <fcntl.h>
#include <linux/kfd_ioctl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "vkfd/vkfd_ioctl.h"
#include "testing/event_wait.h"

namespace {

constexpr uint32_t kGpus[] = {0x1000, 0x1111};  // mi210x2
constexpr int kThreads = 8;
constexpr int kBosPerThread = 4;

std::atomic<long> g_failures{0};
std::mutex g_report_mu;

void Failure(const char* what, int err) {
  if (g_failures.fetch_add(1) < 20) {
    std::lock_guard<std::mutex> lock(g_report_mu);
    fprintf(stderr, "soak: %s: %s\n", what, strerror(err));
  }
}

int64_t NowMs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return int64_t{ts.tv_sec} * 1000 + ts.tv_nsec / 1000000;
}

long RssKiB() {
  FILE* f = fopen("/proc/self/statm", "r");
  long pages = 0, rss = 0;
  if (f != nullptr) {
    if (fscanf(f, "%ld %ld", &pages, &rss) != 2) rss = 0;
    fclose(f);
  }
  return rss * (sysconf(_SC_PAGESIZE) / 1024);
}

int OpenFds() {
  int n = 0;
  DIR* d = opendir("/proc/self/fd");
  if (d == nullptr) return -1;
  while (dirent* e = readdir(d)) n += e->d_name[0] != '.';
  closedir(d);
  return n - 1;  // the directory's own fd
}

int g_kfd = -1;
int g_render[2] = {-1, -1};
std::atomic<bool> g_stop{false};
std::atomic<bool> g_fds_exhausted{false};
std::atomic<long> g_ops{0};
std::atomic<int> g_workers_done{0};
std::atomic<int> g_cycles{0};  // complete rounds of the controller
bool g_sanitizer = false;  // VKFD_TEST_SCALE=sanitizer
std::atomic<long> g_eintr{0}, g_emfile{0}, g_forks{0}, g_execs{0}, g_cancels{0}, g_signals{0};

// libhsakmt's kmtIoctl: the same struct again after EINTR/EAGAIN.
int Ioctl(unsigned long cmd, void* args) {
  for (;;) {
    if (ioctl(g_kfd, cmd, args) == 0) return 0;
    if (errno != EINTR && errno != EAGAIN) return errno;
    g_eintr++;
  }
}

uint64_t GetAvailable(uint32_t gpu) {
  kfd_ioctl_get_available_memory_args a{};
  a.gpu_id = gpu;
  return Ioctl(AMDKFD_IOC_AVAILABLE_MEMORY, &a) == 0 ? a.available : 0;
}

struct Bo {
  uint64_t handle = 0;
  uint64_t va = 0;
  bool mapped = false;
};

int MapOrUnmap(Bo& bo, bool map) {
  kfd_ioctl_map_memory_to_gpu_args m{};
  m.handle = bo.handle;
  m.device_ids_array_ptr = reinterpret_cast<uint64_t>(kGpus);
  m.n_devices = 2;
  return Ioctl(map ? AMDKFD_IOC_MAP_MEMORY_TO_GPU : AMDKFD_IOC_UNMAP_MEMORY_FROM_GPU, &m);
}

bool AllowedFdError(int err) {
  if (err == EMFILE || err == ENFILE) {
    g_emfile++;
    return true;
  }
  return false;
}

void Worker(int index, long ops, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<Bo> bos(kBosPerThread);
  for (int i = 0; i < kBosPerThread; ++i) {
    bos[i].va = 0x7f0000000000ull + (uint64_t(index) << 32) + (uint64_t(i) << 24);
  }
  kfd_ioctl_create_event_args ce{};
  ce.event_type = KFD_IOC_EVENT_SIGNAL;
  if (Ioctl(AMDKFD_IOC_CREATE_EVENT, &ce) != 0) Failure("CREATE_EVENT", errno);
  const uint32_t event = ce.event_id;
  // At least `ops`, and on until the controller has been round once (forks, exec, signals,
  // cancellation and exhaustion all happened while the workers ran).
  for (long n = 0; n < ops || (index < kThreads && g_cycles.load() == 0); ++n) {
    Bo& bo = bos[rng() % kBosPerThread];
    const int op = static_cast<int>(rng() % 12);
    int err = 0;
    switch (op) {
      case 0:
      case 1: {  // ALLOC or FREE
        if (bo.handle == 0) {
          kfd_ioctl_alloc_memory_of_gpu_args a{};
          a.gpu_id = kGpus[rng() % 2];
          a.size = 65536 << (rng() % 3);
          a.va_addr = bo.va;
          a.flags = KFD_IOC_ALLOC_MEM_FLAGS_VRAM | KFD_IOC_ALLOC_MEM_FLAGS_WRITABLE;
          if ((err = Ioctl(AMDKFD_IOC_ALLOC_MEMORY_OF_GPU, &a)) == 0) bo.handle = a.handle;
          else Failure("ALLOC", err);
        } else {
          if (bo.mapped && (err = MapOrUnmap(bo, false)) != 0) Failure("UNMAP before FREE", err);
          bo.mapped = false;
          kfd_ioctl_free_memory_of_gpu_args f{};
          f.handle = bo.handle;
          if ((err = Ioctl(AMDKFD_IOC_FREE_MEMORY_OF_GPU, &f)) != 0) Failure("FREE", err);
          bo.handle = 0;
        }
        break;
      }
      case 2:
      case 3:
      case 4: {  // MAP or UNMAP
        if (bo.handle == 0) break;
        if ((err = MapOrUnmap(bo, !bo.mapped)) != 0) Failure(bo.mapped ? "UNMAP" : "MAP", err);
        else bo.mapped = !bo.mapped;
        break;
      }
      case 5: {  // async map: a fence fd, its state, dup and close
        if (bo.handle == 0 || bo.mapped) break;
        vkfd_map_async_args m{};
        m.handle = bo.handle;
        m.device_ids_array_ptr = reinterpret_cast<uint64_t>(kGpus);
        m.n_devices = 2;
        err = Ioctl(VKFD_IOC_MAP_ASYNC, &m);
        if (err == 0) {
          bo.mapped = true;
          vkfd_fence_info_args info{};
          if (ioctl(m.fence_fd, VKFD_IOC_FENCE_INFO, &info) != 0) Failure("FENCE_INFO", errno);
          const int d = dup(m.fence_fd);
          close(m.fence_fd);
          if (d >= 0) {
            pollfd p{d, POLLIN, 0};
            poll(&p, 1, 1000);
            close(d);
          } else if (!AllowedFdError(errno)) {
            Failure("dup of a fence fd", errno);
          }
        } else if (m.n_success == 2 && AllowedFdError(err)) {
          bo.mapped = true;  // mapped; only the fence fd could not be made
        } else if (!AllowedFdError(err)) {
          Failure("MAP_ASYNC", err);
        }
        break;
      }
      case 6: {  // events: set then a short wait, or a timed wait that times out
        kfd_ioctl_set_event_args s{};
        s.event_id = event;
        if (rng() % 2 && (err = Ioctl(AMDKFD_IOC_SET_EVENT, &s)) != 0) Failure("SET_EVENT", err);
        vkfd::testing::OneEventWait w(event, 1);
        if ((err = Ioctl(AMDKFD_IOC_WAIT_EVENTS, &w.args)) != 0) Failure("WAIT_EVENTS", err);
        break;
      }
      case 7: {  // create and destroy an event of another kind
        kfd_ioctl_create_event_args e{};
        e.event_type = KFD_IOC_EVENT_MEMORY;
        if ((err = Ioctl(AMDKFD_IOC_CREATE_EVENT, &e)) != 0) {
          Failure("CREATE_EVENT(memory)", err);
          break;
        }
        kfd_ioctl_destroy_event_args d{};
        d.event_id = e.event_id;
        if ((err = Ioctl(AMDKFD_IOC_DESTROY_EVENT, &d)) != 0) Failure("DESTROY_EVENT", err);
        break;
      }
      case 8: {  // the fd table: dup the kfd fd and use the duplicate, open and close a render node
        const int d = dup(g_kfd);
        if (d < 0) {
          if (!AllowedFdError(errno)) Failure("dup of the kfd fd", errno);
          break;
        }
        kfd_ioctl_get_version_args v{};
        if (ioctl(d, AMDKFD_IOC_GET_VERSION, &v) != 0) Failure("GET_VERSION on a dup", errno);
        close(d);
        const int r = open("/dev/dri/renderD128", O_RDWR | O_CLOEXEC);
        if (r >= 0) close(r);
        else if (!AllowedFdError(errno)) Failure("open render", errno);
        break;
      }
      case 9: {  // a bad pointer
        if (ioctl(g_kfd, AMDKFD_IOC_GET_VERSION, reinterpret_cast<void*>(8)) != -1 || errno != EFAULT) {
          Failure("GET_VERSION with a bad pointer", errno);
        }
        break;
      }
      default: {
        kfd_ioctl_get_version_args v{};
        if ((err = Ioctl(AMDKFD_IOC_GET_VERSION, &v)) != 0) Failure("GET_VERSION", err);
        break;
      }
    }
    g_ops++;
  }
  for (Bo& bo : bos) {
    int err;
    if (bo.mapped && (err = MapOrUnmap(bo, false)) != 0) Failure("final UNMAP", err);
    if (bo.handle != 0) {
      kfd_ioctl_free_memory_of_gpu_args f{};
      f.handle = bo.handle;
      if ((err = Ioctl(AMDKFD_IOC_FREE_MEMORY_OF_GPU, &f)) != 0) Failure("final FREE", err);
    }
  }
  kfd_ioctl_destroy_event_args d{};
  d.event_id = event;
  if (Ioctl(AMDKFD_IOC_DESTROY_EVENT, &d) != 0) Failure("final DESTROY_EVENT", errno);
  if (index < kThreads) g_workers_done++;
}

void Counted(int) { g_signals++; }

// A forked child: the inherited kfd fd is EBADF, an inherited fence fd answers, and its own KFD
// process maps and frees.
int ChildUsesKfd(int fence_fd) {
  kfd_ioctl_get_version_args v{};
  if (ioctl(g_kfd, AMDKFD_IOC_GET_VERSION, &v) != -1 || errno != EBADF) return 2;
  if (fence_fd >= 0) {
    vkfd_fence_info_args info{};
    if (ioctl(fence_fd, VKFD_IOC_FENCE_INFO, &info) != 0) return 3;
  }
  const int kfd = open("/dev/kfd", O_RDWR | O_CLOEXEC);
  const int render = open("/dev/dri/renderD129", O_RDWR | O_CLOEXEC);
  if (kfd < 0 || render < 0) return 4;
  kfd_ioctl_acquire_vm_args acq{};
  acq.drm_fd = static_cast<uint32_t>(render);
  acq.gpu_id = kGpus[1];
  if (ioctl(kfd, AMDKFD_IOC_ACQUIRE_VM, &acq) != 0) return 5;
  kfd_ioctl_alloc_memory_of_gpu_args a{};
  a.gpu_id = kGpus[1];
  a.size = 1 << 20;
  a.va_addr = 0x7e0000000000ull;
  a.flags = KFD_IOC_ALLOC_MEM_FLAGS_VRAM | KFD_IOC_ALLOC_MEM_FLAGS_WRITABLE;
  if (ioctl(kfd, AMDKFD_IOC_ALLOC_MEMORY_OF_GPU, &a) != 0) return 6;
  uint32_t id = kGpus[1];
  kfd_ioctl_map_memory_to_gpu_args m{};
  m.handle = a.handle;
  m.device_ids_array_ptr = reinterpret_cast<uint64_t>(&id);
  m.n_devices = 1;
  if (ioctl(kfd, AMDKFD_IOC_MAP_MEMORY_TO_GPU, &m) != 0) return 7;
  m.n_success = 0;
  if (ioctl(kfd, AMDKFD_IOC_UNMAP_MEMORY_FROM_GPU, &m) != 0) return 8;
  kfd_ioctl_free_memory_of_gpu_args f{};
  f.handle = a.handle;
  if (ioctl(kfd, AMDKFD_IOC_FREE_MEMORY_OF_GPU, &f) != 0) return 9;
  return 0;
}

bool WaitChild(pid_t pid, int deadline_ms, const char* what) {
  const int64_t end = NowMs() + deadline_ms;
  int status = 0;
  while (waitpid(pid, &status, WNOHANG) != pid) {
    if (NowMs() > end) {
      kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
      Failure(what, ETIMEDOUT);
      return false;
    }
    usleep(1000);
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    Failure(what, WIFEXITED(status) ? WEXITSTATUS(status) : EIO);
    return false;
  }
  return true;
}

void* BlockedWaiter(void* arg) {
  const uint32_t event = *static_cast<uint32_t*>(arg);
  kfd_event_data data{};
  data.event_id = event;
  kfd_ioctl_wait_events_args w{};
  w.events_ptr = reinterpret_cast<uint64_t>(&data);
  w.num_events = 1;
  w.timeout = 5;
  for (;;) {
    ioctl(g_kfd, AMDKFD_IOC_WAIT_EVENTS, &w);
    pthread_testcancel();
  }
  return nullptr;
}

// Forks, execs, signals, cancellation and fd exhaustion, round-robin, until the workers are done.
void Controller(const std::vector<pthread_t>& workers, const char* self) {
  kfd_ioctl_create_event_args ce{};
  ce.event_type = KFD_IOC_EVENT_SIGNAL;
  if (Ioctl(AMDKFD_IOC_CREATE_EVENT, &ce) != 0) Failure("controller CREATE_EVENT", errno);
  std::mt19937_64 rng(7);
  for (int round = 0; !g_stop.load(); ++round) {
    switch (round % 5) {
      case 0: {  // fork: the child uses KFD
        const pid_t pid = fork();
        if (pid == 0) {
          // LLVM 14's ASan allocator is not fork-safe (a parent thread may hold its lock): under a
          // sanitizer the child execs first and does the same in a fresh image.
          if (g_sanitizer) {
            const std::string fd = std::to_string(g_kfd);
            execl(self, self, "--child", fd.c_str(), nullptr);
            _exit(127);
          }
          _exit(ChildUsesKfd(-1));
        }
        if (pid > 0 && WaitChild(pid, 20000, "forked child")) g_forks++;
        break;
      }
      case 1: {  // exec: an inherited kfd fd is EBADF in the new program
        const int inherited = dup(g_kfd);  // no close-on-exec
        if (inherited < 0) break;
        const pid_t pid = fork();
        if (pid == 0) {
          const std::string fd = std::to_string(inherited);
          execl(self, self, "--probe", fd.c_str(), nullptr);
          _exit(127);
        }
        close(inherited);
        if (pid > 0 && WaitChild(pid, 20000, "exec'd probe")) g_execs++;
        break;
      }
      case 2: {  // signals, with and without SA_RESTART, to random workers
        for (int i = 0; i < 20; ++i) {
          pthread_kill(workers[rng() % workers.size()], (i % 2) ? SIGUSR1 : SIGUSR2);
          usleep(200);
        }
        break;
      }
      case 3: {  // cancellation of a thread blocked in WAIT_EVENTS
        pthread_t t;
        uint32_t event = ce.event_id;
        if (pthread_create(&t, nullptr, BlockedWaiter, &event) != 0) break;
        usleep(2000 + rng() % 3000);
        pthread_cancel(t);
        void* ret;
        pthread_join(t, &ret);
        if (ret == PTHREAD_CANCELED) g_cancels++;
        break;
      }
      case 4: {  // fd exhaustion for a few ms: everyone sees EMFILE on fd-making calls
        // (Not under UBSan: its vptr check needs a free fd and reports every virtual call at EMFILE.)
        if (g_sanitizer) break;
        std::vector<int> hog;
        for (;;) {
          const int f = open("/dev/null", O_RDONLY | O_CLOEXEC);
          if (f < 0) break;
          hog.push_back(f);
        }
        g_fds_exhausted = true;
        usleep(3000);
        for (int f : hog) close(f);
        g_fds_exhausted = false;
        break;
      }
    }
    if (round % 5 == 4) g_cycles++;
    usleep(1000);
  }
  kfd_ioctl_destroy_event_args d{};
  d.event_id = ce.event_id;
  if (Ioctl(AMDKFD_IOC_DESTROY_EVENT, &d) != 0) Failure("controller DESTROY_EVENT", errno);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc == 3 && strcmp(argv[1], "--child") == 0) {
    g_kfd = atoi(argv[2]);  // closed by exec (O_CLOEXEC): EBADF all the same
    return ChildUsesKfd(-1);
  }
  if (argc == 3 && strcmp(argv[1], "--probe") == 0) {
    kfd_ioctl_get_version_args v{};
    return ioctl(atoi(argv[2]), AMDKFD_IOC_GET_VERSION, &v) == -1 && errno == EBADF ? 0 : 1;
  }
  long ops = argc > 1 ? atol(argv[1]) : 1000000;
  // Sanitizer builds run a fifth (scripts/test.sh sets VKFD_TEST_SCALE=sanitizer).
  if (const char* scale = getenv("VKFD_TEST_SCALE"); scale != nullptr && strcmp(scale, "sanitizer") == 0) {
    ops /= 5;
    g_sanitizer = true;
  }
  // A low fd limit keeps the exhaustion rounds cheap.
  rlimit lim{512, 512};
  setrlimit(RLIMIT_NOFILE, &lim);
  struct sigaction sa {};
  sa.sa_handler = Counted;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  sigaction(SIGUSR1, &sa, nullptr);
  sa.sa_flags = 0;
  sigaction(SIGUSR2, &sa, nullptr);

  g_kfd = open("/dev/kfd", O_RDWR | O_CLOEXEC);
  for (int i = 0; i < 2; ++i) {
    g_render[i] = open(i == 0 ? "/dev/dri/renderD128" : "/dev/dri/renderD129", O_RDWR | O_CLOEXEC);
    kfd_ioctl_acquire_vm_args acq{};
    acq.drm_fd = static_cast<uint32_t>(g_render[i]);
    acq.gpu_id = kGpus[i];
    if (Ioctl(AMDKFD_IOC_ACQUIRE_VM, &acq) != 0) {
      fprintf(stderr, "soak: ACQUIRE_VM: %s (run under vkfd run --topology mi210x2)\n", strerror(errno));
      return 2;
    }
  }
  // Warm-up: one of everything, so that what is made once (threads, pools) is in the baseline.
  {
    std::thread warm(Worker, 99, 2000, 1);
    warm.join();
    const pid_t pid = fork();
    if (pid == 0) _exit(ChildUsesKfd(-1));
    WaitChild(pid, 20000, "warm-up child");
  }
  g_ops = 0;
  const long rss0 = RssKiB();
  const int fds0 = OpenFds();
  const uint64_t avail0[2] = {GetAvailable(kGpus[0]), GetAvailable(kGpus[1])};
  const int64_t start = NowMs();

  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) threads.emplace_back(Worker, t, ops / kThreads, 1000 + t);
  std::vector<pthread_t> handles;
  for (auto& t : threads) handles.push_back(t.native_handle());
  std::thread controller(Controller, handles, argv[0]);
  // The controller signals the workers' handles: they are joined only once it has stopped.
  while (g_workers_done.load() < kThreads) usleep(1000);
  g_stop = true;
  controller.join();
  for (auto& t : threads) t.join();

  const double seconds = double(NowMs() - start) / 1000;
  const long rss1 = RssKiB();
  const int fds1 = OpenFds();
  const uint64_t avail1[2] = {GetAvailable(kGpus[0]), GetAvailable(kGpus[1])};
  printf("soak: %ld operations on %d threads in %.1f s; %ld forks, %ld execs, %ld signals handled, "
         "%ld cancellations, %ld EINTR retries, %ld EMFILE\n",
         g_ops.load(), kThreads, seconds, g_forks.load(), g_execs.load(), g_signals.load(),
         g_cancels.load(), g_eintr.load(), g_emfile.load());
  printf("soak: RSS %ld -> %ld KiB (%+ld), open fds %d -> %d, available %llu/%llu -> %llu/%llu\n",
         rss0, rss1, rss1 - rss0, fds0, fds1, (unsigned long long)avail0[0],
         (unsigned long long)avail0[1], (unsigned long long)avail1[0], (unsigned long long)avail1[1]);
  bool ok = g_failures.load() == 0;
  // ASan keeps freed memory in quarantine (256 MiB by default): RSS is not bounded there.
  if (!g_sanitizer && rss1 - rss0 > 16 * 1024) {
    fprintf(stderr, "soak: RSS grew by %ld KiB\n", rss1 - rss0);
    ok = false;
  }
  if (fds1 != fds0) {
    fprintf(stderr, "soak: %d fds open at the end, %d at the start\n", fds1, fds0);
    ok = false;
  }
  if (avail1[0] != avail0[0] || avail1[1] != avail0[1]) {
    fprintf(stderr, "soak: AVAILABLE_MEMORY is not back at its baseline\n");
    ok = false;
  }
  if (g_forks.load() == 0 || g_execs.load() == 0 || g_cancels.load() == 0) {
    fprintf(stderr, "soak: too short to fork, exec and cancel at least once\n");
    ok = false;
  }
  printf("soak: %s (%ld failures)\n", ok ? "PASS" : "FAIL", g_failures.load());
  return ok ? 0 : 1;
}

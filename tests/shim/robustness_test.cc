// Issue 9: the interposer survives what real programs do — fork, exec, signals, cancellation and fd
// tricks. One test (or a few) per item of the issue, each run as a real program under `vkfd run
// --topology mi210x2 --dma-latency 2ms` in a fresh process (testing/fresh_process_main.cc), using only
// libc, the KFD ABI header and the extension header. Each test fails on the code before its fix.
//
// Tests that could hang on a regression run the risky part in a child with a deadline
// (RunWithDeadline), so a hang is a failure with a message, not a ctest timeout.
#include <dirent.h>
#include <fcntl.h>
#include <linux/kfd_ioctl.h>
#include <malloc.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "vkfd/vkfd_ioctl.h"
#include "testing/event_wait.h"

extern "C" pid_t _Fork(void);  // glibc 2.34
extern "C" sighandler_t bsd_signal(int, sighandler_t);  // declared only for old X/Open levels

namespace {

constexpr uint32_t kGpu0 = 0x1000;  // mi210x2: gpu_ids 0x1000, 0x1111; render minors 128, 129
constexpr uint32_t kGpu1 = 0x1111;

// VKFD_TEST_SCALE=sanitizer (scripts/test.sh, ASan and TSan runs).
bool UnderSanitizer() {
  const char* scale = getenv("VKFD_TEST_SCALE");
  return scale != nullptr && strcmp(scale, "sanitizer") == 0;
}

int64_t NowMs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return int64_t{ts.tv_sec} * 1000 + ts.tv_nsec / 1000000;
}

// Runs `body` in a forked child; the child's exit code is body's return value. Fails (and kills the
// child) if it has not finished after `deadline_ms`. Returns the exit code, or -1 after a signal
// (*signal_out gets it), or -2 after the deadline.
int RunWithDeadline(const std::function<int()>& body, int deadline_ms, int* signal_out = nullptr) {
  const pid_t pid = fork();
  if (pid == 0) _exit(body());
  const int64_t end = NowMs() + deadline_ms;
  int status = 0;
  for (;;) {
    const pid_t r = waitpid(pid, &status, WNOHANG);
    if (r == pid) break;
    if (NowMs() > end) {
      kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
      return -2;
    }
    usleep(2000);
  }
  if (WIFSIGNALED(status)) {
    if (signal_out != nullptr) *signal_out = WTERMSIG(status);
    return -1;
  }
  return WEXITSTATUS(status);
}

// A KFD process with both VMs acquired and BO helpers: the common set-up.
class Client {
 public:
  Client() {
    kfd = open("/dev/kfd", O_RDWR | O_CLOEXEC);
    for (int i = 0; i < 2; ++i) {
      const std::string path = "/dev/dri/renderD" + std::to_string(128 + i);
      render[i] = open(path.c_str(), O_RDWR | O_CLOEXEC);
    }
  }
  ~Client() {
    for (int fd : render) {
      if (fd >= 0) close(fd);
    }
    if (kfd >= 0) close(kfd);
  }
  bool AcquireVms() {
    const uint32_t ids[] = {kGpu0, kGpu1};
    for (int i = 0; i < 2; ++i) {
      kfd_ioctl_acquire_vm_args args{};
      args.drm_fd = static_cast<uint32_t>(render[i]);
      args.gpu_id = ids[i];
      if (ioctl(kfd, AMDKFD_IOC_ACQUIRE_VM, &args) != 0) return false;
    }
    return true;
  }
  // A 64 KiB VRAM BO on GPU 0 at `va`; 0 on failure.
  uint64_t Alloc(uint64_t va, uint64_t size = 65536) {
    kfd_ioctl_alloc_memory_of_gpu_args a{};
    a.gpu_id = kGpu0;
    a.size = size;
    a.va_addr = va;
    a.flags = KFD_IOC_ALLOC_MEM_FLAGS_VRAM | KFD_IOC_ALLOC_MEM_FLAGS_WRITABLE;
    if (ioctl(kfd, AMDKFD_IOC_ALLOC_MEMORY_OF_GPU, &a) != 0) return 0;
    return a.handle;
  }
  int Map(uint64_t handle, bool unmap = false) {
    uint32_t ids[] = {kGpu0};
    kfd_ioctl_map_memory_to_gpu_args m{};
    m.handle = handle;
    m.device_ids_array_ptr = reinterpret_cast<uint64_t>(ids);
    m.n_devices = 1;
    for (;;) {
      const int r = ioctl(kfd, unmap ? AMDKFD_IOC_UNMAP_MEMORY_FROM_GPU : AMDKFD_IOC_MAP_MEMORY_TO_GPU,
                          &m);
      if (r == 0 || errno != EINTR) return r == 0 ? 0 : errno;
    }
  }
  int Free(uint64_t handle) {
    kfd_ioctl_free_memory_of_gpu_args f{};
    f.handle = handle;
    return ioctl(kfd, AMDKFD_IOC_FREE_MEMORY_OF_GPU, &f) == 0 ? 0 : errno;
  }
  uint32_t CreateEvent(uint32_t type = KFD_IOC_EVENT_SIGNAL) {
    kfd_ioctl_create_event_args e{};
    e.event_type = type;
    if (ioctl(kfd, AMDKFD_IOC_CREATE_EVENT, &e) != 0) return 0;
    return e.event_id;
  }
  int SetEvent(uint32_t id) {
    kfd_ioctl_set_event_args s{};
    s.event_id = id;
    return ioctl(kfd, AMDKFD_IOC_SET_EVENT, &s) == 0 ? 0 : errno;
  }
  // An async map's fence fd (GPU 0), or -1.
  int MapAsync(uint64_t handle) {
    uint32_t ids[] = {kGpu0};
    vkfd_map_async_args m{};
    m.handle = handle;
    m.device_ids_array_ptr = reinterpret_cast<uint64_t>(ids);
    m.n_devices = 1;
    if (ioctl(kfd, VKFD_IOC_MAP_ASYNC, &m) != 0) return -1;
    return m.fence_fd;
  }

  int kfd = -1;
  int render[2] = {-1, -1};
};

int FenceStatus(int fence_fd) {
  vkfd_fence_info_args info{};
  if (ioctl(fence_fd, VKFD_IOC_FENCE_INFO, &info) != 0) return -1000 - errno;
  return info.status;
}

// FENCE_INFO until the fence is no longer pending, at most `ms`.
int FenceStatusAfter(int fence_fd, int ms) {
  const int64_t end = NowMs() + ms;
  int s;
  while ((s = FenceStatus(fence_fd)) == 0 && NowMs() < end) usleep(1000);
  return s;
}

// ---- 1. EFAULT whatever the program did to SIGSEGV ------------------------------------------------

int BadPointerIoctl(int kfd) {
  kfd_ioctl_get_version_args* bad = reinterpret_cast<kfd_ioctl_get_version_args*>(16);
  if (ioctl(kfd, AMDKFD_IOC_GET_VERSION, bad) != -1) return 10;
  if (errno != EFAULT) return 11;
  // A write of the result to a read-only page: EFAULT too.
  void* ro = mmap(nullptr, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (ioctl(kfd, AMDKFD_IOC_GET_VERSION, ro) != -1 || errno != EFAULT) return 12;
  munmap(ro, 4096);
  return 0;
}

TEST(Item1BadPointers, EfaultWithSigsegvBlockedByPthreadSigmask) {
  const int r = RunWithDeadline([] {
    Client c;
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGSEGV);
    sigaddset(&set, SIGBUS);
    if (pthread_sigmask(SIG_BLOCK, &set, nullptr) != 0) return 2;
    return BadPointerIoctl(c.kfd);
  }, 10000);
  EXPECT_EQ(0, r);
}

TEST(Item1BadPointers, EfaultWithSigsegvBlockedBySigprocmaskOrInheritedAcrossExec) {
  EXPECT_EQ(0, RunWithDeadline([] {
    Client c;
    sigset_t set;
    sigfillset(&set);
    if (sigprocmask(SIG_BLOCK, &set, nullptr) != 0) return 2;
    // The program's view is kept: it sees SIGSEGV blocked.
    sigset_t now;
    if (sigprocmask(SIG_BLOCK, nullptr, &now) != 0 || sigismember(&now, SIGSEGV) != 1) return 3;
    return BadPointerIoctl(c.kfd);
  }, 10000));
  // A mask inherited across exec (set here with the raw system call, which vkfd cannot see).
  const std::string self = "/proc/" + std::to_string(getpid()) + "/exe";
  EXPECT_EQ(0, RunWithDeadline([&self] {
    uint64_t mask = (1ull << (SIGSEGV - 1)) | (1ull << (SIGBUS - 1));
    if (syscall(SYS_rt_sigprocmask, SIG_BLOCK, &mask, nullptr, 8) != 0) return 2;
    execl(self.c_str(), self.c_str(), "--probe-efault", nullptr);
    return 127;
  }, 10000));
}

// A program fault while the program blocks SIGSEGV still kills it, as the kernel's forced signal does.
TEST(Item1BadPointers, ProgramFaultWithSigsegvBlockedStillKills) {
  int sig = 0;
  EXPECT_EQ(-1, RunWithDeadline([] {
    Client c;
    signal(SIGSEGV, [](int) { _exit(9); });
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGSEGV);
    pthread_sigmask(SIG_BLOCK, &set, nullptr);
    *static_cast<volatile int*>(mmap(nullptr, 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)) =
        1;
    return 0;
  }, 10000, &sig));
  EXPECT_EQ(SIGSEGV, sig);
}

std::atomic<int> g_program_segv{0};
sigjmp_buf g_segv_jump;
void ProgramSegv(int) {
  g_program_segv++;
  siglongjmp(g_segv_jump, 1);
}

// Installs ProgramSegv with one of libc's ways, then checks EFAULT and that a real fault of the
// program still reaches the program's handler.
int HandlerThenBadPointer(int how) {
  Client c;
  switch (how) {
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
    case 0: sigset(SIGSEGV, ProgramSegv); break;
#pragma GCC diagnostic pop
    case 1: signal(SIGSEGV, ProgramSegv); break;
    case 2: sysv_signal(SIGSEGV, ProgramSegv); break;
    case 3: bsd_signal(SIGSEGV, ProgramSegv); break;
    default: {
      struct sigaction sa {};
      sa.sa_handler = ProgramSegv;
      sigfillset(&sa.sa_mask);
      sigaction(SIGSEGV, &sa, nullptr);
    }
  }
  if (const int r = BadPointerIoctl(c.kfd); r != 0) return r;
  if (g_program_segv.load() != 0) return 20;  // our fault went to the program
  if (sigsetjmp(g_segv_jump, 1) == 0) {
    *static_cast<volatile int*>(mmap(nullptr, 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)) =
        1;
  }
  if (g_program_segv.load() != 1) return 21;
  return 0;
}

TEST(Item1BadPointers, EfaultWithHandlersFromSigsetSignalSysvBsdAndSigaction) {
  for (int how = 0; how < 5; ++how) {
    EXPECT_EQ(0, RunWithDeadline([how] { return HandlerThenBadPointer(how); }, 10000)) << "way " << how;
  }
}

// A handler whose sa_mask blocks everything calls an ioctl with a bad pointer.
int g_handler_kfd = -1;
std::atomic<int> g_handler_result{-1};
void BadPointerInHandler(int) { g_handler_result = BadPointerIoctl(g_handler_kfd); }

TEST(Item1BadPointers, EfaultInsideAHandlerThatBlocksEverything) {
  EXPECT_EQ(0, RunWithDeadline([] {
    Client c;
    g_handler_kfd = c.kfd;
    struct sigaction sa {};
    sa.sa_handler = BadPointerInHandler;
    sigfillset(&sa.sa_mask);
    sigaction(SIGUSR1, &sa, nullptr);
    raise(SIGUSR1);
    return g_handler_result.load();
  }, 10000));
}

// ---- 2. Parent and forked child both using KFD --------------------------------------------------

TEST(Item2Fork, ParentAndChildBothMapInALoop) {
  Client c;
  ASSERT_TRUE(c.AcquireVms());
  const uint64_t bo = c.Alloc(0x7f0000000000ull);
  ASSERT_NE(0u, bo);
  const pid_t pid = fork();
  if (pid == 0) {
    alarm(20);
    Client own;
    if (!own.AcquireVms()) _exit(2);
    const uint64_t b = own.Alloc(0x7f0000000000ull);
    if (b == 0) _exit(3);
    for (int i = 0; i < 40; ++i) {
      if (own.Map(b) != 0 || own.Map(b, true) != 0) _exit(4);
    }
    _exit(0);
  }
  for (int i = 0; i < 40; ++i) {
    ASSERT_EQ(0, c.Map(bo));
    ASSERT_EQ(0, c.Map(bo, true));
  }
  int status = 0;
  ASSERT_EQ(pid, waitpid(pid, &status, 0));
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
}

// ---- 3. Fork while other threads hold vkfd's locks -----------------------------------------------

TEST(Item3ForkSafety, ChildrenNeverDeadlockOnLocksHeldAtFork) {
  Client c;
  ASSERT_TRUE(c.AcquireVms());
  const uint64_t bo = c.Alloc(0x7f0000000000ull);
  ASSERT_NE(0u, bo);
  std::atomic<bool> stop{false};
  std::vector<std::thread> churn;
  const int kept = c.MapAsync(bo);  // a fence fd the churn duplicates and closes without pause
  ASSERT_GE(kept, 0);
  for (int t = 0; t < 4; ++t) {
    churn.emplace_back([&, t] {
      while (!stop.load()) {
        if (t == 0) {
          const int f = c.MapAsync(bo);
          if (f >= 0) {
            FenceStatus(f);
            close(f);
          }
          c.Map(bo, true);
          const int k = open("/dev/kfd", O_RDWR | O_CLOEXEC);
          if (k >= 0) close(k);
        } else {
          const int d = dup(kept);
          FenceStatus(d);
          if (d >= 0) close(d);
        }
      }
    });
  }
  int hung = 0, failed = 0;
  for (int i = 0; i < 60; ++i) {
    const int fence = c.MapAsync(bo);
    const int r = RunWithDeadline([&] {
      // Touch everything a child may touch: the inherited fence fd, the parent's kfd fd, a new device.
      if (fence >= 0 && FenceStatus(fence) < -1000) return 5;
      kfd_ioctl_get_version_args v{};
      if (ioctl(c.kfd, AMDKFD_IOC_GET_VERSION, &v) != -1 || errno != EBADF) return 6;
      // A device of its own allocates: LLVM 14's ASan allocator is not fork-safe (its lock may be
      // held by a parent thread), so sanitizer runs stop here.
      if (UnderSanitizer()) return 0;
      const int own = open("/dev/kfd", O_RDWR);
      if (own < 0 || ioctl(own, AMDKFD_IOC_GET_VERSION, &v) != 0) return 7;
      close(own);
      return 0;
    }, 5000);
    if (fence >= 0) close(fence);
    c.Map(bo, true);
    if (r == -2) ++hung;
    else if (r != 0) ++failed;
  }
  stop = true;
  for (auto& t : churn) t.join();
  close(kept);
  EXPECT_EQ(0, hung);
  EXPECT_EQ(0, failed);
}

// ---- 4. Cancellation of a thread blocked in MAP or WAIT_EVENTS -----------------------------------

struct CancelArgs {
  Client* client;
  uint64_t bo;
  uint32_t event;
  std::atomic<int> started{0};
};

void* BlockInWait(void* p) {
  auto* a = static_cast<CancelArgs*>(p);
  kfd_event_data data{};
  data.event_id = a->event;
  kfd_ioctl_wait_events_args w{};
  w.events_ptr = reinterpret_cast<uint64_t>(&data);
  w.num_events = 1;
  w.timeout = 100;
  a->started = 1;
  ioctl(a->client->kfd, AMDKFD_IOC_WAIT_EVENTS, &w);
  for (;;) pthread_testcancel();
  return nullptr;
}

void* BlockInMap(void* p) {
  auto* a = static_cast<CancelArgs*>(p);
  a->started = 1;
  for (;;) {
    a->client->Map(a->bo);
    a->client->Map(a->bo, true);
    pthread_testcancel();
  }
  return nullptr;
}

TEST(Item4Cancel, CancelledWaitersLeaveNothingBehind) {
  Client c;
  ASSERT_TRUE(c.AcquireVms());
  const uint64_t bo = c.Alloc(0x7f0000000000ull);
  ASSERT_NE(0u, bo);
  const uint32_t ev = c.CreateEvent();
  ASSERT_NE(0u, ev);
  for (int round = 0; round < 20; ++round) {
    CancelArgs args{&c, bo, ev};
    pthread_t t;
    ASSERT_EQ(0, pthread_create(&t, nullptr, round % 2 ? BlockInMap : BlockInWait, &args));
    while (args.started.load() == 0) usleep(100);
    usleep(3000);
    ASSERT_EQ(0, pthread_cancel(t));
    void* ret = nullptr;
    ASSERT_EQ(0, pthread_join(t, &ret));
    EXPECT_EQ(PTHREAD_CANCELED, ret);
    // Files reusing any fd number a cancelled wait could have held are left alone.
    int pipes[2];
    ASSERT_EQ(0, pipe(pipes));
    // The event still works: a SET wakes the next wait at once (no stale waiter on its list).
    EXPECT_EQ(0, c.SetEvent(ev));
    vkfd::testing::OneEventWait w(ev, 1000);
    EXPECT_EQ(0, ioctl(c.kfd, AMDKFD_IOC_WAIT_EVENTS, &w.args));
    EXPECT_EQ(uint32_t{KFD_IOC_WAIT_RESULT_COMPLETE}, w.args.wait_result);
    char byte;
    EXPECT_EQ(-1, fcntl(pipes[0], F_SETFL, O_NONBLOCK) == 0 ? read(pipes[0], &byte, 1) : 0);
    close(pipes[0]);
    close(pipes[1]);
  }
  // The BO can still be unmapped and freed: no map was left half done.
  c.Map(bo, true);
  EXPECT_EQ(0, c.Free(bo));
}

// ---- 5. _Fork children and exec ---------------------------------------------------------------------

TEST(Item5Fork, UnderscoreForkChildIsRefusedLikeAForkChild) {
  Client c;
  ASSERT_TRUE(c.AcquireVms());
  const uint64_t bo = c.Alloc(0x7f0000000000ull);
  ASSERT_NE(0u, bo);
  const pid_t pid = _Fork();
  if (pid == 0) {
    alarm(10);
    kfd_ioctl_get_version_args v{};
    if (ioctl(c.kfd, AMDKFD_IOC_GET_VERSION, &v) != -1 || errno != EBADF) _exit(1);
    uint32_t ids[] = {kGpu0};
    kfd_ioctl_map_memory_to_gpu_args m{};
    m.handle = bo;
    m.device_ids_array_ptr = reinterpret_cast<uint64_t>(ids);
    m.n_devices = 1;
    if (ioctl(c.kfd, AMDKFD_IOC_MAP_MEMORY_TO_GPU, &m) != -1 || errno != EBADF) _exit(2);
    _exit(0);
  }
  int status = 0;
  ASSERT_EQ(pid, waitpid(pid, &status, 0));
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
}

TEST(Item5Fork, InheritedKfdFdAfterExecIsEbadf) {
  const int kfd = open("/dev/kfd", O_RDWR);  // no O_CLOEXEC: the exec'd program inherits it
  ASSERT_GT(kfd, 0);
  kfd_ioctl_get_version_args v{};
  ASSERT_EQ(0, ioctl(kfd, AMDKFD_IOC_GET_VERSION, &v));
  const std::string self = "/proc/" + std::to_string(getpid()) + "/exe";
  const pid_t pid = fork();
  if (pid == 0) {
    const std::string fd = std::to_string(kfd);
    execl(self.c_str(), self.c_str(), "--probe-inherited-kfd", fd.c_str(), nullptr);
    _exit(127);
  }
  int status = 0;
  ASSERT_EQ(pid, waitpid(pid, &status, 0));
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(EBADF, WEXITSTATUS(status)) << "errno of GET_VERSION on the inherited fd";
}

// ---- 6. A timed WAIT_EVENTS retried after EINTR keeps its deadline ----------------------------------

void Nothing(int) {}

TEST(Item6Timeout, RetriedWaitKeepsItsDeadlineUnderFrequentSignals) {
  Client c;
  const uint32_t ev = c.CreateEvent();
  ASSERT_NE(0u, ev);
  struct sigaction sa {};
  sa.sa_handler = Nothing;  // no SA_RESTART: every signal interrupts the wait
  sigemptyset(&sa.sa_mask);
  sigaction(SIGUSR2, &sa, nullptr);
  std::atomic<bool> done{false};
  const pthread_t self = pthread_self();
  std::thread storm([&] {
    while (!done.load()) {
      pthread_kill(self, SIGUSR2);
      usleep(2000);
    }
  });
  kfd_event_data data{};
  data.event_id = ev;
  kfd_ioctl_wait_events_args w{};
  w.events_ptr = reinterpret_cast<uint64_t>(&data);
  w.num_events = 1;
  w.timeout = 200;
  const int64_t start = NowMs();
  int r, interrupted = 0;
  // libhsakmt's loop: the same struct again after EINTR.
  while ((r = ioctl(c.kfd, AMDKFD_IOC_WAIT_EVENTS, &w)) == -1 && errno == EINTR) ++interrupted;
  const int64_t took = NowMs() - start;
  done = true;
  storm.join();
  EXPECT_EQ(0, r) << strerror(errno);
  EXPECT_EQ(uint32_t{KFD_IOC_WAIT_RESULT_TIMEOUT}, w.wait_result);
  EXPECT_GT(interrupted, 5);
  EXPECT_GE(took, 190);
  EXPECT_LT(took, 600) << "the deadline was lost over " << interrupted << " retries";
}

// ---- 7. At the fd limit ------------------------------------------------------------------------------

TEST(Item7Emfile, MapUnmapAndWaitWorkAtTheFdLimitAndAfter) {
  // UBSan's vptr check makes a pipe to test a vtable's address (IsAccessibleMemoryRange): at EMFILE it
  // reports every virtual call, vkfd's included, as a bad vptr.
  if (UnderSanitizer()) GTEST_SKIP() << "UBSan's vptr check needs a free fd";
  Client c;
  ASSERT_TRUE(c.AcquireVms());
  const uint64_t bo = c.Alloc(0x7f0000000000ull);
  ASSERT_NE(0u, bo);
  const uint32_t ev = c.CreateEvent();
  rlimit lim{256, 256};
  ASSERT_EQ(0, setrlimit(RLIMIT_NOFILE, &lim));
  std::vector<int> hog;
  // The thread exists before the table is full (a sanitizer's runtime checks need fds of their own).
  std::thread worker([&] {
    for (;;) {
      const int f = open("/dev/null", O_RDONLY);
      if (f < 0) break;
      hog.push_back(f);
    }
    ASSERT_EQ(EMFILE, errno);
    for (int i = 0; i < 5; ++i) {
      EXPECT_EQ(0, c.Map(bo));
      EXPECT_EQ(0, c.Map(bo, true));
    }
    kfd_event_data data{};
    data.event_id = ev;
    kfd_ioctl_wait_events_args w{};
    w.events_ptr = reinterpret_cast<uint64_t>(&data);
    w.num_events = 1;
    w.timeout = 20;
    EXPECT_EQ(0, ioctl(c.kfd, AMDKFD_IOC_WAIT_EVENTS, &w)) << strerror(errno);
    EXPECT_EQ(uint32_t{KFD_IOC_WAIT_RESULT_TIMEOUT}, w.wait_result);
    // A fence fd needs an fd number: EMFILE, as sync_file's get_unused_fd_flags.
    EXPECT_EQ(-1, c.MapAsync(bo));
    EXPECT_EQ(EMFILE, errno);
    // Freed fds: the same thread works again.
    for (int i = 0; i < 8; ++i) {
      close(hog.back());
      hog.pop_back();
    }
    const int f = c.MapAsync(bo);
    EXPECT_GE(f, 0) << strerror(errno);
    if (f >= 0) {
      EXPECT_EQ(1, FenceStatusAfter(f, 2000));
      close(f);
    }
    EXPECT_EQ(0, c.Map(bo, true));
    EXPECT_EQ(0, c.Map(bo));
  });
  worker.join();
  for (int f : hog) close(f);
}

// ---- 8. closefrom, close_range, fdopen + fclose --------------------------------------------------------

TEST(Item8FdIdentity, ReopenAfterClosefromAndCloseRangeWorks) {
  for (int how = 0; how < 2; ++how) {
    EXPECT_EQ(0, RunWithDeadline([how] {
      {
        Client first;
        if (!first.AcquireVms()) return 2;
        if (how == 0) {
          closefrom(3);
        } else {
          close_range(3, ~0u, 0);
        }
        first.kfd = first.render[0] = first.render[1] = -1;
      }
      // Reopen: the same numbers come back, and vkfd's own files (GPU memory, doorbells) survived.
      const int kfd = open("/dev/kfd", O_RDWR | O_CLOEXEC);
      const int render = open("/dev/dri/renderD128", O_RDWR | O_CLOEXEC);
      if (render < 0) return 6;
      kfd_ioctl_get_version_args v{};
      if (ioctl(kfd, AMDKFD_IOC_GET_VERSION, &v) != 0) return 3;
      kfd_ioctl_alloc_memory_of_gpu_args a{};
      a.gpu_id = kGpu0;
      a.size = 65536;
      a.va_addr = 0x7f0000000000ull;
      a.flags = KFD_IOC_ALLOC_MEM_FLAGS_VRAM | KFD_IOC_ALLOC_MEM_FLAGS_WRITABLE |
                KFD_IOC_ALLOC_MEM_FLAGS_PUBLIC;
      if (ioctl(kfd, AMDKFD_IOC_ALLOC_MEMORY_OF_GPU, &a) != 0) return 4;
      // The KFD process (same address space) keeps the render file it acquired its VM with, so its
      // BOs map only through that file: a new open of the node is EACCES (drm_vma_node_is_allowed),
      // not a failure of vkfd's memory file.
      void* p = mmap(nullptr, 65536, PROT_READ | PROT_WRITE, MAP_SHARED, render,
                     static_cast<off_t>(a.mmap_offset));
      if (p != MAP_FAILED || errno != EACCES) return 5;
      // The doorbell aperture, another private file, maps through the new kfd fd.
      p = mmap(nullptr, 8192, PROT_READ | PROT_WRITE, MAP_SHARED, kfd,
               static_cast<off_t>((3ull << 62) | (uint64_t{kGpu0} << 46)));
      if (p == MAP_FAILED) return 7;
      static_cast<volatile uint64_t*>(p)[0] = 1;
      munmap(p, 8192);
      return 0;
    }, 10000)) << (how == 0 ? "closefrom" : "close_range");
  }
}

TEST(Item8FdIdentity, FdopenFcloseOfTheKfdFdFreesItsNumber) {
  const int kfd = open("/dev/kfd", O_RDWR | O_CLOEXEC);
  ASSERT_GT(kfd, 0);
  FILE* f = fdopen(kfd, "r+");
  ASSERT_NE(nullptr, f);
  ASSERT_EQ(0, fclose(f));  // closes kfd inside libc, not through close()
  // The program's next file gets the number; it is a pipe, not vkfd's.
  int p[2];
  ASSERT_EQ(0, pipe(p));
  const int reused = p[0] == kfd ? p[0] : p[1];
  ASSERT_EQ(kfd, reused) << "the number was not reused; the test needs it";
  int avail = -1;
  EXPECT_EQ(0, ioctl(p[0], FIONREAD, &avail)) << strerror(errno);
  EXPECT_EQ(0, avail);
  kfd_ioctl_get_version_args v{};
  EXPECT_EQ(-1, ioctl(reused, AMDKFD_IOC_GET_VERSION, &v));
  EXPECT_EQ(ENOTTY, errno);
  EXPECT_EQ(MAP_FAILED, mmap(nullptr, 4096, PROT_READ, MAP_SHARED, reused, 0));
  EXPECT_EQ(ENODEV, errno);  // a pipe cannot be mapped: the host's answer, not vkfd's
  close(p[0]);
  close(p[1]);
}

// ---- 9. Fence fds across fork and SCM_RIGHTS ---------------------------------------------------------

TEST(Item9FenceFds, ForkedChildSeesTheFenceSignalAndItsMergeSignals) {
  Client c;
  ASSERT_TRUE(c.AcquireVms());
  const uint64_t bo = c.Alloc(0x7f0000000000ull, 8 << 20);
  const uint64_t bo2 = c.Alloc(0x7f0001000000ull, 8 << 20);
  ASSERT_NE(0u, bo);
  const int f1 = c.MapAsync(bo);
  const int f2 = c.MapAsync(bo2);
  ASSERT_GE(f1, 0);
  ASSERT_GE(f2, 0);
  const pid_t pid = fork();
  if (pid == 0) {
    alarm(10);
    vkfd_fence_merge_args m{};
    m.fd2 = f2;
    if (ioctl(f1, VKFD_IOC_FENCE_MERGE, &m) != 0) _exit(10 + errno % 100);
    if (FenceStatusAfter(f1, 3000) != 1) _exit(2);
    if (FenceStatusAfter(m.fence, 3000) != 1) _exit(3);
    pollfd pf{m.fence, POLLIN, 0};
    if (poll(&pf, 1, 3000) != 1) _exit(4);
    _exit(0);
  }
  int status = 0;
  ASSERT_EQ(pid, waitpid(pid, &status, 0));
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << WEXITSTATUS(status);
  EXPECT_EQ(1, FenceStatusAfter(f1, 3000));
  close(f1);
  close(f2);
}

TEST(Item9FenceFds, FenceFdReceivedOverAUnixSocketAnswers) {
  Client c;
  ASSERT_TRUE(c.AcquireVms());
  const uint64_t bo = c.Alloc(0x7f0000000000ull);
  const int fence = c.MapAsync(bo);
  ASSERT_GE(fence, 0);
  int sv[2];
  ASSERT_EQ(0, socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
  char byte = 'x';
  iovec iov{&byte, 1};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof(control);
  cmsghdr* cm = CMSG_FIRSTHDR(&msg);
  cm->cmsg_level = SOL_SOCKET;
  cm->cmsg_type = SCM_RIGHTS;
  cm->cmsg_len = CMSG_LEN(sizeof(int));
  memcpy(CMSG_DATA(cm), &fence, sizeof(int));
  ASSERT_EQ(1, sendmsg(sv[0], &msg, 0));
  char got = 0;
  iovec riov{&got, 1};
  alignas(cmsghdr) char rcontrol[CMSG_SPACE(sizeof(int))] = {};
  msghdr rmsg{};
  rmsg.msg_iov = &riov;
  rmsg.msg_iovlen = 1;
  rmsg.msg_control = rcontrol;
  rmsg.msg_controllen = sizeof(rcontrol);
  ASSERT_EQ(1, recvmsg(sv[1], &rmsg, 0));
  int received = -1;
  memcpy(&received, CMSG_DATA(CMSG_FIRSTHDR(&rmsg)), sizeof(int));
  ASSERT_NE(fence, received);
  EXPECT_EQ(1, FenceStatusAfter(received, 3000));
  vkfd_fence_merge_args m{};
  m.fd2 = fence;
  ASSERT_EQ(0, ioctl(received, VKFD_IOC_FENCE_MERGE, &m)) << strerror(errno);
  EXPECT_EQ(1, FenceStatusAfter(m.fence, 3000));
  close(m.fence);
  close(received);
  close(fence);
  close(sv[0]);
  close(sv[1]);
}

// ---- 10. No per-open leak -----------------------------------------------------------------------------

size_t HeapInUse() { return mallinfo2().uordblks; }

TEST(Item10Leaks, OpenCloseAndDupCloseCostNoMemory) {
  const int keep = open("/dev/kfd", O_RDWR | O_CLOEXEC);  // the device exists before measuring
  ASSERT_GT(keep, 0);
  for (int i = 0; i < 200; ++i) {  // warm-up: whatever grows once
    close(open("/dev/kfd", O_RDWR | O_CLOEXEC));
    close(open("/dev/dri/renderD128", O_RDWR | O_CLOEXEC));
    close(dup(keep));
  }
  const size_t before = HeapInUse();
  for (int i = 0; i < 20000; ++i) {
    close(open("/dev/kfd", O_RDWR | O_CLOEXEC));
    close(open("/dev/dri/renderD128", O_RDWR | O_CLOEXEC));
    close(dup(keep));
  }
  const size_t after = HeapInUse();
  EXPECT_LT(after, before + 16384) << "grew by " << (after - before) << " bytes over 20000 cycles";
  close(keep);
}

// ---- 11. Ioctls from signal handlers --------------------------------------------------------------

Client* g_signal_client = nullptr;
uint32_t g_signal_event = 0;
std::atomic<int> g_set_from_handler{0};
std::atomic<int> g_set_failures{0};
void SetEventFromHandler(int) {
  if (g_signal_client->SetEvent(g_signal_event) == 0) {
    g_set_from_handler++;
  } else {
    g_set_failures++;
  }
}

TEST(Item11SignalHandlers, SetEventFromSigalrmNeverDeadlocks) {
  const int r = RunWithDeadline([] {
    Client c;
    if (!c.AcquireVms()) return 2;
    g_signal_client = &c;
    g_signal_event = c.CreateEvent();
    const uint64_t bo = c.Alloc(0x7f0000000000ull);
    struct sigaction sa {};
    sa.sa_handler = SetEventFromHandler;
    sa.sa_flags = SA_RESTART;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGALRM, &sa, nullptr);
    itimerval it{{0, 200}, {0, 200}};  // every 200 us, while this thread works the same locks
    setitimer(ITIMER_REAL, &it, nullptr);
    const int64_t end = NowMs() + 1500;
    while (NowMs() < end) {
      c.Map(bo);
      c.Map(bo, true);
      const uint32_t e = c.CreateEvent();
      kfd_ioctl_destroy_event_args d{};
      d.event_id = e;
      ioctl(c.kfd, AMDKFD_IOC_DESTROY_EVENT, &d);
      c.SetEvent(g_signal_event);
    }
    itimerval off{};
    setitimer(ITIMER_REAL, &off, nullptr);
    if (g_set_failures.load() != 0) return 3;
    return g_set_from_handler.load() > 10 ? 0 : 4;
  }, 20000);
  EXPECT_EQ(0, r) << (r == -2 ? "deadlocked" : "");
}

// ---- 12. Non-signal events are not quadratic --------------------------------------------------------

TEST(Item12Events, NonSignalEventIdsAreLowestFreeAndCheap) {
  Client c;
  std::vector<uint32_t> ids;
  const int64_t start_ns = std::chrono::steady_clock::now().time_since_epoch().count();
  for (int i = 0; i < 500; ++i) ids.push_back(c.CreateEvent(KFD_IOC_EVENT_MEMORY));
  const int64_t mid_ns = std::chrono::steady_clock::now().time_since_epoch().count();
  for (int i = 0; i < 4000; ++i) ids.push_back(c.CreateEvent(KFD_IOC_EVENT_MEMORY));
  const int64_t end_ns = std::chrono::steady_clock::now().time_since_epoch().count();
  for (size_t i = 0; i < ids.size(); ++i) ASSERT_EQ(4096u + i, ids[i]);
  const double first = double(mid_ns - start_ns) / 500, rest = double(end_ns - mid_ns) / 4000;
  EXPECT_LT(rest, 4 * first + 20000) << first << " ns each for the first 500, " << rest
                                     << " for the next 4000";
  // idr_alloc hands out the lowest free id again.
  kfd_ioctl_destroy_event_args d{};
  d.event_id = 4100;
  ASSERT_EQ(0, ioctl(c.kfd, AMDKFD_IOC_DESTROY_EVENT, &d));
  d.event_id = 4098;
  ASSERT_EQ(0, ioctl(c.kfd, AMDKFD_IOC_DESTROY_EVENT, &d));
  EXPECT_EQ(4098u, c.CreateEvent(KFD_IOC_EVENT_MEMORY));
  EXPECT_EQ(4100u, c.CreateEvent(KFD_IOC_EVENT_MEMORY));
  EXPECT_EQ(4096u + 4500, c.CreateEvent(KFD_IOC_EVENT_MEMORY));
  // Signal events keep theirs: lowest free from 1.
  EXPECT_EQ(1u, c.CreateEvent());
  EXPECT_EQ(2u, c.CreateEvent());
}

// ---- 13. Event page mmaps ----------------------------------------------------------------------------

TEST(Item13EventPage, FailedZeroLengthMmapDoesNotPoisonCreateEvent) {
  Client c;
  const uint64_t events_offset = 2ull << 62;  // KFD_MMAP_TYPE_EVENTS
  EXPECT_EQ(MAP_FAILED, mmap(nullptr, 0, PROT_READ | PROT_WRITE, MAP_SHARED, c.kfd,
                             static_cast<off_t>(events_offset)));
  EXPECT_EQ(EINVAL, errno);
  // Unaligned offsets are refused by mmap itself, before the driver.
  EXPECT_EQ(MAP_FAILED, mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, c.kfd,
                             static_cast<off_t>(events_offset + 8)));
  EXPECT_EQ(EINVAL, errno);
  EXPECT_EQ(1u, c.CreateEvent());
  EXPECT_EQ(2u, c.CreateEvent());
  // A one-byte mapping is a page: 512 slots.
  void* page = mmap(nullptr, 1, PROT_READ | PROT_WRITE, MAP_SHARED, c.kfd,
                    static_cast<off_t>(events_offset));
  ASSERT_NE(MAP_FAILED, page) << strerror(errno);
  for (int i = 3; i < 512; ++i) ASSERT_EQ(uint32_t(i), c.CreateEvent());
  EXPECT_EQ(0u, c.CreateEvent());
  munmap(page, 1);
}

// ---- 14. DOORBELL | MMIO_REMAP ----------------------------------------------------------------------

TEST(Item14Alloc, DoorbellAndMmioRemapTogetherAt8KiB) {
  Client c;
  ASSERT_TRUE(c.AcquireVms());
  kfd_ioctl_alloc_memory_of_gpu_args a{};
  a.gpu_id = kGpu0;
  a.size = 8192;
  a.va_addr = 0x7f0000100000ull;
  a.flags = KFD_IOC_ALLOC_MEM_FLAGS_DOORBELL | KFD_IOC_ALLOC_MEM_FLAGS_MMIO_REMAP;
  ASSERT_EQ(0, ioctl(c.kfd, AMDKFD_IOC_ALLOC_MEMORY_OF_GPU, &a)) << strerror(errno);
  // The MMIO flag decides the offset handed back (kfd_ioctl_alloc_memory_of_gpu's last step).
  EXPECT_EQ(uint64_t{kGpu0} << 46, a.mmap_offset);  // KFD_MMAP_TYPE_MMIO | KFD_MMAP_GPU_ID
  EXPECT_EQ(0, c.Free(a.handle));
  a.size = 4096;  // the doorbell rule wins: 4 KiB is wrong for DOORBELL
  EXPECT_EQ(-1, ioctl(c.kfd, AMDKFD_IOC_ALLOC_MEMORY_OF_GPU, &a));
  EXPECT_EQ(EINVAL, errno);
}

}  // namespace

// The exec'd half of Item5Fork.InheritedKfdFdAfterExecIsEbadf: exits with GET_VERSION's errno.
// Runs before GoogleTest's main (a constructor), so the argument never reaches it.
__attribute__((constructor)) static void ProbeInheritedKfd(int argc, char** argv) {
  if (argc == 2 && strcmp(argv[1], "--probe-efault") == 0) {
    const int kfd = open("/dev/kfd", O_RDWR | O_CLOEXEC);
    _exit(kfd < 0 ? 100 : BadPointerIoctl(kfd));
  }
  if (argc == 3 && strcmp(argv[1], "--probe-inherited-kfd") == 0) {
    kfd_ioctl_get_version_args v{};
    const int r = ioctl(atoi(argv[2]), AMDKFD_IOC_GET_VERSION, &v);
    _exit(r == 0 ? 0 : errno);
  }
}

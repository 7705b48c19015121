// The interposer seen from a real program: run as `vkfd run --topology mi210x2 -- shim_preload_test`.
// Uses only libc and the KFD ABI header, as a ROCm client would: paths, stat, readdir, the fd table
// (dup family, close), ioctl routing, kfd-fd mmaps, events, queues, fork and exec, and fault handlers.
#include <dirent.h>
#include <fcntl.h>
#include <linux/kfd_ioctl.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <functional>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "testing/event_wait.h"

namespace {

constexpr uint32_t kGpu0 = 0x1000;  // mi210x2: gpu_ids 0x1000, 0x1111; render minors 128, 129
constexpr uint32_t kGpu1 = 0x1111;

std::string ReadFile(const char* path) {
  FILE* f = fopen(path, "r");
  if (f == nullptr) return "<cannot open>";
  std::string text;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), f)) > 0) text.append(buf, n);
  fclose(f);
  return text;
}

std::set<std::string> List(const char* dir) {
  std::set<std::string> names;
  DIR* d = opendir(dir);
  if (d == nullptr) return {"<cannot open>"};
  while (dirent* e = readdir(d)) {
    if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) names.insert(e->d_name);
  }
  closedir(d);
  return names;
}

class Kfd : public ::testing::Test {
 protected:
  void SetUp() override {
    kfd_ = open("/dev/kfd", O_RDWR | O_CLOEXEC);
    ASSERT_GT(kfd_, 0) << strerror(errno);
  }
  void TearDown() override {
    for (int fd : render_) close(fd);
    if (kfd_ > 0) close(kfd_);
  }
  // Opens both render nodes and acquires both VMs.
  void AcquireVms() {
    const uint32_t ids[] = {kGpu0, kGpu1};
    for (int i = 0; i < 2; ++i) {
      const std::string path = "/dev/dri/renderD" + std::to_string(128 + i);
      const int fd = open(path.c_str(), O_RDWR | O_CLOEXEC);
      ASSERT_GE(fd, 0) << path << ": " << strerror(errno);
      render_.push_back(fd);
      kfd_ioctl_acquire_vm_args args{};
      args.drm_fd = static_cast<uint32_t>(fd);
      args.gpu_id = ids[i];
      ASSERT_EQ(0, ioctl(kfd_, AMDKFD_IOC_ACQUIRE_VM, &args)) << strerror(errno);
    }
  }
  uint32_t CreateSignalEvent(bool auto_reset) {
    kfd_ioctl_create_event_args args{};
    args.event_type = KFD_IOC_EVENT_SIGNAL;
    args.auto_reset = auto_reset;
    EXPECT_EQ(0, ioctl(kfd_, AMDKFD_IOC_CREATE_EVENT, &args)) << strerror(errno);
    return args.event_id;
  }
  int Wait(uint32_t id, uint32_t timeout_ms, uint32_t* result) {
    kfd_event_data data{};
    data.event_id = id;
    kfd_ioctl_wait_events_args args{};
    args.events_ptr = reinterpret_cast<uint64_t>(&data);
    args.num_events = 1;
    args.timeout = timeout_ms;
    const int r = ioctl(kfd_, AMDKFD_IOC_WAIT_EVENTS, &args);
    *result = args.wait_result;
    return r;
  }
  int Set(uint32_t id) {
    kfd_ioctl_set_event_args args{};
    args.event_id = id;
    return ioctl(kfd_, AMDKFD_IOC_SET_EVENT, &args);
  }

  int kfd_ = -1;
  std::vector<int> render_;
};

// ---- paths -------------------------------------------------------------------------------------

TEST(Paths, DevicesExistForStatAndAccess) {
  struct stat st;
  EXPECT_EQ(0, stat("/dev/kfd", &st)) << strerror(errno);
  EXPECT_EQ(0, access("/dev/kfd", R_OK | W_OK)) << strerror(errno);
  EXPECT_EQ(0, lstat("/dev/dri/renderD129", &st)) << strerror(errno);
  EXPECT_EQ(-1, stat("/dev/dri/renderD130", &st));
  EXPECT_EQ(ENOENT, errno);
  EXPECT_EQ(0, fstatat(AT_FDCWD, "/sys/devices/virtual/kfd/kfd/topology/generation_id", &st, 0));
}

TEST(Paths, DevDriListsTheRenderNodesOfTheTopology) {
  EXPECT_EQ((std::set<std::string>{"renderD128", "renderD129"}), List("/dev/dri"));
}

TEST(Paths, ScandirSeesTheTopologyToo) {
  dirent** names = nullptr;
  const int n = scandir("/sys/devices/virtual/kfd/kfd/topology/nodes", &names, nullptr, alphasort);
  ASSERT_GE(n, 0) << strerror(errno);
  std::set<std::string> seen;
  for (int i = 0; i < n; ++i) {
    seen.insert(names[i]->d_name);
    free(names[i]);
  }
  free(names);
  EXPECT_TRUE(seen.count("0") && seen.count("1") && seen.count("2"));
}

TEST(Paths, SysfsTopologyMatchesThePreset) {
  EXPECT_EQ("1\n", ReadFile("/sys/devices/virtual/kfd/kfd/topology/generation_id"));
  EXPECT_EQ((std::set<std::string>{"0", "1", "2"}),
            List("/sys/devices/virtual/kfd/kfd/topology/nodes"));
  EXPECT_EQ("0\n", ReadFile("/sys/devices/virtual/kfd/kfd/topology/nodes/0/gpu_id"));
  EXPECT_EQ(std::to_string(kGpu1) + "\n",
            ReadFile("/sys/class/kfd/kfd/topology/nodes/2/gpu_id"));  // via the class symlink
  const std::string props = ReadFile("/sys/devices/virtual/kfd/kfd/topology/nodes/1/properties");
  EXPECT_NE(std::string::npos, props.find("gfx_target_version 90010\n")) << props;
  EXPECT_NE(std::string::npos, props.find("drm_render_minor 128\n")) << props;
  EXPECT_NE(std::string::npos, props.find("io_links_count 1\n")) << props;
  const std::string bank =
      ReadFile("/sys/devices/virtual/kfd/kfd/topology/nodes/1/mem_banks/0/properties");
  EXPECT_NE(std::string::npos, bank.find("heap_type 1\nsize_in_bytes 68719476736\n")) << bank;
  std::ifstream cpp_stream("/sys/devices/virtual/kfd/kfd/topology/system_properties");
  EXPECT_TRUE(cpp_stream.good());  // std::ifstream goes through fopen/open too
}

TEST(Paths, LsmodSeesAmdgpu) {
  FILE* p = popen("lsmod | grep amdgpu", "r");
  ASSERT_NE(nullptr, p);
  char buf[128] = {};
  const size_t n = fread(buf, 1, sizeof(buf) - 1, p);
  pclose(p);
  EXPECT_GT(n, 0u);
  EXPECT_EQ(0, strncmp(buf, "amdgpu", 6)) << buf;
}

TEST(Paths, OtherPathsAreUntouched) {
  struct stat st;
  EXPECT_EQ(0, stat("/proc/self/status", &st));
  EXPECT_EQ(-1, stat("/dev/kfdx", &st));  // a prefix that is not a whole component
  EXPECT_EQ(ENOENT, errno);
  EXPECT_EQ(-1, open("/sys/devices/virtual/kfd/kfd/topology/nodes/7/gpu_id", O_RDONLY));
  EXPECT_EQ(ENOENT, errno);
}

// ---- fd table ------------------------------------------------------------------------------------

TEST_F(Kfd, IoctlThroughDupsAndAfterClose) {
  kfd_ioctl_get_version_args v{};
  ASSERT_EQ(0, ioctl(kfd_, AMDKFD_IOC_GET_VERSION, &v));
  EXPECT_EQ(1u, v.major_version);
  const int d1 = dup(kfd_);
  const int d2 = fcntl(kfd_, F_DUPFD_CLOEXEC, 50);
  ASSERT_GE(d2, 50);
  const int d3 = dup3(kfd_, 77, O_CLOEXEC);
  ASSERT_EQ(77, d3);
  close(kfd_);
  for (int fd : {d1, d2, d3}) {
    v = {};
    EXPECT_EQ(0, ioctl(fd, AMDKFD_IOC_GET_VERSION, &v)) << fd << ": " << strerror(errno);
    EXPECT_EQ(11u, v.minor_version);
  }
  // dup2 over one of our fds makes it /dev/null's: ioctls reach the host kernel again.
  const int null_fd = open("/dev/null", O_RDONLY);
  ASSERT_EQ(d2, dup2(null_fd, d2));
  EXPECT_EQ(-1, ioctl(d2, AMDKFD_IOC_GET_VERSION, &v));
  EXPECT_EQ(ENOTTY, errno);
  close(null_fd);
  close(d1);
  close(d2);
  close(d3);
  EXPECT_EQ(-1, ioctl(d3, AMDKFD_IOC_GET_VERSION, &v));
  EXPECT_EQ(EBADF, errno);
  kfd_ = -1;
}

TEST_F(Kfd, UnsupportedIoctlsAreEinvalOrEnotty) {
  char buf[64] = {};
  EXPECT_EQ(-1, ioctl(kfd_, _IOWR('K', 0x82, char[16]), buf));  // ROCm 5.2's DBG_TRAP
  EXPECT_EQ(ENOTTY, errno);
  EXPECT_EQ(-1, ioctl(kfd_, _IOWR('K', 0x50, char[16]), buf));  // outside 6.1.y's table
  EXPECT_EQ(ENOTTY, errno);
  EXPECT_EQ(-1, ioctl(kfd_, AMDKFD_IOC_DBG_REGISTER_DEPRECATED, buf));
  EXPECT_EQ(EPERM, errno);
}

TEST_F(Kfd, MiscIoctls) {
  AcquireVms();
  kfd_ioctl_get_clock_counters_args clock{};
  clock.gpu_id = kGpu0;
  ASSERT_EQ(0, ioctl(kfd_, AMDKFD_IOC_GET_CLOCK_COUNTERS, &clock));
  EXPECT_EQ(1000000000u, clock.system_clock_freq);
  EXPECT_NE(0u, clock.gpu_clock_counter);
  clock.gpu_id = 0x4242;  // unknown gpu: success, gpu counter 0
  ASSERT_EQ(0, ioctl(kfd_, AMDKFD_IOC_GET_CLOCK_COUNTERS, &clock));
  EXPECT_EQ(0u, clock.gpu_clock_counter);

  kfd_ioctl_set_scratch_backing_va_args scratch{};
  scratch.gpu_id = 0x4242;
  EXPECT_EQ(-1, ioctl(kfd_, AMDKFD_IOC_SET_SCRATCH_BACKING_VA, &scratch));
  EXPECT_EQ(EINVAL, errno);
  scratch.gpu_id = kGpu1;
  EXPECT_EQ(0, ioctl(kfd_, AMDKFD_IOC_SET_SCRATCH_BACKING_VA, &scratch));
  kfd_ioctl_set_trap_handler_args trap{};
  trap.gpu_id = kGpu0;
  EXPECT_EQ(0, ioctl(kfd_, AMDKFD_IOC_SET_TRAP_HANDLER, &trap));

  uint32_t tiles[64];
  kfd_ioctl_get_tile_config_args tile{};
  tile.gpu_id = kGpu0;
  tile.tile_config_ptr = reinterpret_cast<uint64_t>(tiles);
  tile.num_tile_configs = 64;
  ASSERT_EQ(0, ioctl(kfd_, AMDKFD_IOC_GET_TILE_CONFIG, &tile));
  EXPECT_EQ(32u, tile.num_tile_configs);  // clamped to the hardware's count
  tile.tile_config_ptr = 8;                // unwritable
  EXPECT_EQ(-1, ioctl(kfd_, AMDKFD_IOC_GET_TILE_CONFIG, &tile));
  EXPECT_EQ(EFAULT, errno);
  EXPECT_EQ(0u, tile.num_tile_configs);
}

TEST(NoVm, ScratchNeedsAVmAndTrapHandlerSaysEsrch) {
  const int kfd = open("/dev/kfd", O_RDWR);
  ASSERT_GT(kfd, 0);
  // A fresh process in a child: this process already acquired its VMs in other tests.
  const pid_t pid = fork();
  if (pid == 0) {
    const int own = open("/dev/kfd", O_RDWR);
    kfd_ioctl_set_scratch_backing_va_args scratch{};
    scratch.gpu_id = kGpu0;
    const bool scratch_ok = ioctl(own, AMDKFD_IOC_SET_SCRATCH_BACKING_VA, &scratch) == -1 &&
                            errno == ENODEV;
    kfd_ioctl_set_trap_handler_args trap{};
    trap.gpu_id = kGpu0;
    const bool trap_ok = ioctl(own, AMDKFD_IOC_SET_TRAP_HANDLER, &trap) == -1 && errno == ESRCH;
    _exit(scratch_ok && trap_ok ? 0 : 1);
  }
  int status = 0;
  ASSERT_EQ(pid, waitpid(pid, &status, 0));
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  close(kfd);
}

// ---- mmap of the kfd fd, queues ----------------------------------------------------------------

TEST_F(Kfd, DoorbellAndMmioPagesMapFromTheKfdFd) {
  AcquireVms();
  // kfd_doorbell_mmap: the process's doorbell slice of the GPU, made on demand — no DOORBELL BO and
  // no queue needed; two mappings show the same doorbells.
  const uint64_t doorbell_offset = (3ull << 62) | (uint64_t{kGpu0} << 46);
  void* via_kfd = mmap(nullptr, 8192, PROT_READ | PROT_WRITE, MAP_SHARED, kfd_,
                       static_cast<off_t>(doorbell_offset));
  ASSERT_NE(MAP_FAILED, via_kfd) << strerror(errno);
  void* again = mmap(nullptr, 8192, PROT_READ | PROT_WRITE, MAP_SHARED, kfd_,
                     static_cast<off_t>(doorbell_offset));
  ASSERT_NE(MAP_FAILED, again) << strerror(errno);
  static_cast<volatile uint64_t*>(via_kfd)[3] = 0x1234abcd;
  EXPECT_EQ(0x1234abcdu, static_cast<volatile uint64_t*>(again)[3]);  // the same pages
  munmap(via_kfd, 8192);
  munmap(again, 8192);
  // Wrong size, unknown gpu; another GPU needs no BO either.
  EXPECT_EQ(MAP_FAILED, mmap(nullptr, 4096, PROT_READ, MAP_SHARED, kfd_,
                             static_cast<off_t>(doorbell_offset)));
  EXPECT_EQ(EINVAL, errno);
  EXPECT_EQ(MAP_FAILED, mmap(nullptr, 8192, PROT_READ, MAP_SHARED, kfd_,
                             static_cast<off_t>((3ull << 62) | (0x4242ull << 46))));
  EXPECT_EQ(ENODEV, errno);
  void* other = mmap(nullptr, 8192, PROT_READ, MAP_SHARED, kfd_,
                     static_cast<off_t>((3ull << 62) | (uint64_t{kGpu1} << 46)));
  EXPECT_NE(MAP_FAILED, other) << strerror(errno);
  if (other != MAP_FAILED) munmap(other, 8192);

  kfd_ioctl_alloc_memory_of_gpu_args mmio{};
  mmio.gpu_id = kGpu1;
  mmio.size = 4096;
  mmio.va_addr = 0x7f0000100000ull;
  mmio.flags = KFD_IOC_ALLOC_MEM_FLAGS_MMIO_REMAP | KFD_IOC_ALLOC_MEM_FLAGS_WRITABLE;
  ASSERT_EQ(0, ioctl(kfd_, AMDKFD_IOC_ALLOC_MEMORY_OF_GPU, &mmio)) << strerror(errno);
  void* page = mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, kfd_,
                    static_cast<off_t>(mmio.mmap_offset));
  ASSERT_NE(MAP_FAILED, page) << strerror(errno);
  munmap(page, 4096);
}

TEST_F(Kfd, QueuesGetTheRealDoorbellOffsetEncoding) {
  AcquireVms();
  std::vector<uint32_t> ids;
  for (int i = 0; i < 2; ++i) {
    kfd_ioctl_create_queue_args q{};
    q.gpu_id = kGpu1;
    q.queue_type = KFD_IOC_QUEUE_TYPE_COMPUTE_AQL;
    q.ring_size = 4096;
    q.queue_percentage = 100;
    ASSERT_EQ(0, ioctl(kfd_, AMDKFD_IOC_CREATE_QUEUE, &q)) << strerror(errno);
    EXPECT_EQ(3u, q.doorbell_offset >> 62);
    EXPECT_EQ(kGpu1, (q.doorbell_offset >> 46) & 0xffff);
    EXPECT_EQ(uint64_t(i) * 8, q.doorbell_offset & 0xffffffffull);
    ids.push_back(q.queue_id);
  }
  EXPECT_NE(ids[0], ids[1]);
  kfd_ioctl_update_queue_args update{};
  update.queue_id = ids[0];
  update.ring_size = 3000;  // not a power of two
  EXPECT_EQ(-1, ioctl(kfd_, AMDKFD_IOC_UPDATE_QUEUE, &update));
  EXPECT_EQ(EINVAL, errno);
  update.ring_size = 8192;
  EXPECT_EQ(0, ioctl(kfd_, AMDKFD_IOC_UPDATE_QUEUE, &update));
  kfd_ioctl_create_queue_args bad{};
  bad.gpu_id = kGpu1;
  bad.queue_priority = 16;
  EXPECT_EQ(-1, ioctl(kfd_, AMDKFD_IOC_CREATE_QUEUE, &bad));
  EXPECT_EQ(EINVAL, errno);
  for (uint32_t id : ids) {
    kfd_ioctl_destroy_queue_args d{};
    d.queue_id = id;
    EXPECT_EQ(0, ioctl(kfd_, AMDKFD_IOC_DESTROY_QUEUE, &d));
    EXPECT_EQ(-1, ioctl(kfd_, AMDKFD_IOC_DESTROY_QUEUE, &d));
    EXPECT_EQ(EINVAL, errno);
  }
}

// ---- events ------------------------------------------------------------------------------------

TEST_F(Kfd, WaitTimesOutAfterItsTimeout) {
  const uint32_t id = CreateSignalEvent(true);
  uint32_t result = 99;
  const auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(0, Wait(id, 30, &result));
  const auto elapsed = std::chrono::steady_clock::now() - start;
  EXPECT_EQ(uint32_t{KFD_IOC_WAIT_RESULT_TIMEOUT}, result);
  EXPECT_GE(elapsed, std::chrono::milliseconds(30));
  EXPECT_EQ(0, Wait(id, 0, &result));  // immediate
  EXPECT_EQ(uint32_t{KFD_IOC_WAIT_RESULT_TIMEOUT}, result);
}

TEST_F(Kfd, SetEventWakesAnInfiniteWaitAndAutoResetConsumesIt) {
  const uint32_t id = CreateSignalEvent(true);
  std::atomic<int> rc{-2};
  uint32_t result = 99;
  std::thread waiter([&] { rc = Wait(id, 0xffffffffu, &result); });
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_EQ(-2, rc.load());  // still waiting
  EXPECT_EQ(0, Set(id));
  waiter.join();
  EXPECT_EQ(0, rc.load());
  EXPECT_EQ(uint32_t{KFD_IOC_WAIT_RESULT_COMPLETE}, result);
  // The set went to a waiter, so the auto-reset event is not left signalled.
  EXPECT_EQ(0, Wait(id, 0, &result));
  EXPECT_EQ(uint32_t{KFD_IOC_WAIT_RESULT_TIMEOUT}, result);
  // Set with nobody waiting: the next wait completes at once, and consumes it.
  EXPECT_EQ(0, Set(id));
  EXPECT_EQ(0, Wait(id, 0, &result));
  EXPECT_EQ(uint32_t{KFD_IOC_WAIT_RESULT_COMPLETE}, result);
  EXPECT_EQ(0, Wait(id, 0, &result));
  EXPECT_EQ(uint32_t{KFD_IOC_WAIT_RESULT_TIMEOUT}, result);
}

TEST_F(Kfd, DestroyDuringAWaitIsEio) {
  const uint32_t id = CreateSignalEvent(false);
  std::atomic<int> rc{-2};
  std::atomic<int> err{0};
  uint32_t result = 99;
  std::thread waiter([&] {
    rc = Wait(id, 5000, &result);
    err = errno;
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  kfd_ioctl_destroy_event_args d{};
  d.event_id = id;
  EXPECT_EQ(0, ioctl(kfd_, AMDKFD_IOC_DESTROY_EVENT, &d));
  waiter.join();
  EXPECT_EQ(-1, rc.load());
  EXPECT_EQ(EIO, err.load());
  EXPECT_EQ(uint32_t{KFD_IOC_WAIT_RESULT_FAIL}, result);
  EXPECT_EQ(-1, ioctl(kfd_, AMDKFD_IOC_DESTROY_EVENT, &d));
  EXPECT_EQ(EINVAL, errno);
}

// kfd_wait_on_events' order of errors: the waiter array first (kcalloc: ENOMEM past 4 MiB), then
// each entry copied in and looked up in turn, so the first bad one decides EFAULT or EINVAL.
TEST_F(Kfd, WaitEventsBadInputInTheKernelsOrder) {
  const uint32_t id = CreateSignalEvent(false);
  kfd_ioctl_wait_events_args args{};
  args.num_events = 0x7fffffff;
  args.events_ptr = 16;  // never read
  EXPECT_EQ(-1, ioctl(kfd_, AMDKFD_IOC_WAIT_EVENTS, &args));
  EXPECT_EQ(ENOMEM, errno);
  EXPECT_EQ(uint32_t{KFD_IOC_WAIT_RESULT_FAIL}, args.wait_result);
  // An unknown event before a bad pointer: EINVAL; a good one before it: EFAULT.
  void* page = mmap(nullptr, 8192, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  ASSERT_NE(MAP_FAILED, page);
  ASSERT_EQ(0, munmap(static_cast<char*>(page) + 4096, 4096));
  auto* last = reinterpret_cast<kfd_event_data*>(static_cast<char*>(page) + 4096) - 1;
  args = {};
  args.events_ptr = reinterpret_cast<uint64_t>(last);
  args.num_events = 2;  // entry 1 lies in the unmapped page
  args.timeout = 0;
  last->event_id = id + 1000;
  EXPECT_EQ(-1, ioctl(kfd_, AMDKFD_IOC_WAIT_EVENTS, &args));
  EXPECT_EQ(EINVAL, errno);
  last->event_id = id;
  EXPECT_EQ(-1, ioctl(kfd_, AMDKFD_IOC_WAIT_EVENTS, &args));
  EXPECT_EQ(EFAULT, errno);
  // No events at all: complete at once.
  args.num_events = 0;
  EXPECT_EQ(0, ioctl(kfd_, AMDKFD_IOC_WAIT_EVENTS, &args));
  EXPECT_EQ(uint32_t{KFD_IOC_WAIT_RESULT_COMPLETE}, args.wait_result);
  munmap(page, 4096);
}

std::atomic<int> g_handled{0};
void CountSignal(int) { g_handled++; }

// Polls `done` for up to 10 s (a bound for a broken build, not a time the test expects).
bool Eventually(const std::function<bool()>& done) {
  for (int i = 0; i < 10000 && !done(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  return done();
}

// Thread `tid` of this process is asleep (state S in /proc/self/task/TID/stat).
bool Sleeping(pid_t tid) {
  std::ifstream stat("/proc/self/task/" + std::to_string(tid) + "/stat");
  std::string text((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
  const size_t paren = text.rfind(')');
  return paren != std::string::npos && paren + 2 < text.size() && text[paren + 2] == 'S';
}

// A signal whose handler lacks SA_RESTART interrupts the wait (EINTR, remaining time written back);
// with SA_RESTART the host kernel restarts the blocking read and the wait goes on until SET_EVENT.
// The signal is sent once the waiter sleeps in the ioctl, whatever the scheduler did before.
TEST_F(Kfd, WaitIsInterruptibleWithTheSaRestartRule) {
  const uint32_t id = CreateSignalEvent(false);
  for (bool restart : {false, true}) {
    struct sigaction sa {};
    sa.sa_handler = CountSignal;
    sa.sa_flags = restart ? SA_RESTART : 0;
    sigemptyset(&sa.sa_mask);
    ASSERT_EQ(0, sigaction(SIGUSR1, &sa, nullptr));
    g_handled = 0;
    std::atomic<int> rc{-2};
    std::atomic<int> err{0};
    std::atomic<pid_t> tid{0};
    vkfd::testing::OneEventWait wait(id, 10000);
    const auto start = std::chrono::steady_clock::now();
    std::thread waiter([&] {
      tid = static_cast<pid_t>(gettid());
      rc = ioctl(kfd_, AMDKFD_IOC_WAIT_EVENTS, &wait.args);
      err = errno;
    });
    ASSERT_TRUE(Eventually([&] { return tid.load() != 0 && Sleeping(tid.load()); }));
    pthread_kill(waiter.native_handle(), SIGUSR1);
    EXPECT_TRUE(Eventually([] { return g_handled.load() == 1; }));
    if (restart) {
      EXPECT_EQ(-2, rc.load()) << "an SA_RESTART handler ended the wait";
      EXPECT_EQ(0, Set(id));
      waiter.join();
      EXPECT_EQ(0, rc.load());
      EXPECT_EQ(uint32_t{KFD_IOC_WAIT_RESULT_COMPLETE}, wait.args.wait_result);
    } else {
      waiter.join();
      const auto elapsed_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                                  std::chrono::steady_clock::now() - start).count();
      EXPECT_EQ(-1, rc.load());
      EXPECT_EQ(EINTR, err.load());
      EXPECT_EQ(uint32_t{KFD_IOC_WAIT_RESULT_FAIL}, wait.args.wait_result);
      // The time left, written back: jiffies_to_msecs(max(0, timeout - 1)) in 6.1's
      // kfd_wait_on_events, where timeout had one tick added — so all 10000 ms when the signal
      // came within the first tick — and no less than what passed allows.
      EXPECT_LE(wait.args.timeout, 10000u);
      EXPECT_GE(int64_t{wait.args.timeout}, 10000 - elapsed_ms - 1);
    }
  }
  signal(SIGUSR1, SIG_DFL);
}

TEST_F(Kfd, EventPageBoCannotBeFreed) {
  AcquireVms();
  kfd_ioctl_alloc_memory_of_gpu_args alloc{};
  alloc.gpu_id = kGpu0;
  alloc.size = 32768;
  alloc.va_addr = 0x7f0000200000ull;
  alloc.flags = KFD_IOC_ALLOC_MEM_FLAGS_GTT | KFD_IOC_ALLOC_MEM_FLAGS_WRITABLE;
  ASSERT_EQ(0, ioctl(kfd_, AMDKFD_IOC_ALLOC_MEMORY_OF_GPU, &alloc));
  void* page = mmap(nullptr, 32768, PROT_READ | PROT_WRITE, MAP_SHARED, render_[0],
                    static_cast<off_t>(alloc.mmap_offset));
  ASSERT_NE(MAP_FAILED, page);
  kfd_ioctl_create_event_args ev{};
  ev.event_page_offset = alloc.handle;
  ev.event_type = KFD_IOC_EVENT_SIGNAL;
  ASSERT_EQ(0, ioctl(kfd_, AMDKFD_IOC_CREATE_EVENT, &ev)) << strerror(errno);
  EXPECT_EQ(1u, ev.event_id);
  EXPECT_EQ(2ull << 62, ev.event_page_offset);
  EXPECT_EQ(~0ull, static_cast<uint64_t*>(page)[1]);  // slots are UNSIGNALED
  kfd_ioctl_free_memory_of_gpu_args f{};
  f.handle = alloc.handle;
  EXPECT_EQ(-1, ioctl(kfd_, AMDKFD_IOC_FREE_MEMORY_OF_GPU, &f));
  EXPECT_EQ(EPERM, errno);
  ev.event_page_offset = alloc.handle;  // a second page
  EXPECT_EQ(-1, ioctl(kfd_, AMDKFD_IOC_CREATE_EVENT, &ev));
  EXPECT_EQ(EINVAL, errno);
  munmap(page, 32768);
}

// ---- inspection file -----------------------------------------------------------------------------

TEST_F(Kfd, InspectionFileShowsMappingsComeAndGo) {
  AcquireVms();
  kfd_ioctl_alloc_memory_of_gpu_args alloc{};
  alloc.gpu_id = kGpu1;
  alloc.size = 1 << 20;
  alloc.va_addr = 0x7e0000000000ull;
  alloc.flags = KFD_IOC_ALLOC_MEM_FLAGS_VRAM | KFD_IOC_ALLOC_MEM_FLAGS_WRITABLE;
  ASSERT_EQ(0, ioctl(kfd_, AMDKFD_IOC_ALLOC_MEMORY_OF_GPU, &alloc));
  uint32_t ids[] = {kGpu1};
  kfd_ioctl_map_memory_to_gpu_args map{};
  map.handle = alloc.handle;
  map.device_ids_array_ptr = reinterpret_cast<uint64_t>(ids);
  map.n_devices = 1;
  ASSERT_EQ(0, ioctl(kfd_, AMDKFD_IOC_MAP_MEMORY_TO_GPU, &map));
  const std::string path = "/sys/kernel/debug/vkfd/" + std::to_string(kGpu1) + "/vm";
  EXPECT_NE(std::string::npos, ReadFile(path.c_str()).find("0x7e0000000000-0x7e0000100000"))
      << ReadFile(path.c_str());
  map.n_success = 0;
  ASSERT_EQ(0, ioctl(kfd_, AMDKFD_IOC_UNMAP_MEMORY_FROM_GPU, &map));
  EXPECT_EQ(std::string::npos, ReadFile(path.c_str()).find("0x7e0000000000"));
  kfd_ioctl_free_memory_of_gpu_args f{};
  f.handle = alloc.handle;
  EXPECT_EQ(0, ioctl(kfd_, AMDKFD_IOC_FREE_MEMORY_OF_GPU, &f));
}

// ---- fork and exec -------------------------------------------------------------------------------

TEST_F(Kfd, ForkedChildGetsEbadfAndItsOwnProcessOnReopen) {
  AcquireVms();
  const pid_t pid = fork();
  if (pid == 0) {
    kfd_ioctl_get_version_args v{};
    if (ioctl(kfd_, AMDKFD_IOC_GET_VERSION, &v) != -1 || errno != EBADF) _exit(1);
    const int own = open("/dev/kfd", O_RDWR);
    if (own <= 0 || ioctl(own, AMDKFD_IOC_GET_VERSION, &v) != 0) _exit(2);
    // The child's process is new: no VM yet, and its own render node can be acquired.
    const int render = open("/dev/dri/renderD128", O_RDWR);
    kfd_ioctl_acquire_vm_args acquire{};
    acquire.drm_fd = static_cast<uint32_t>(render);
    acquire.gpu_id = kGpu0;
    if (ioctl(own, AMDKFD_IOC_ACQUIRE_VM, &acquire) != 0) _exit(3);
    _exit(0);
  }
  int status = 0;
  ASSERT_EQ(pid, waitpid(pid, &status, 0));
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(0, WEXITSTATUS(status));
  // The parent is unaffected.
  kfd_ioctl_get_version_args v{};
  EXPECT_EQ(0, ioctl(kfd_, AMDKFD_IOC_GET_VERSION, &v));
}

TEST(Exec, ExecedProgramsKeepTheEmulation) {
  FILE* p = popen("cat /sys/devices/virtual/kfd/kfd/topology/nodes/1/gpu_id; ls /dev/dri", "r");
  ASSERT_NE(nullptr, p);
  char buf[256] = {};
  const size_t n = fread(buf, 1, sizeof(buf) - 1, p);
  pclose(p);
  EXPECT_EQ(std::string("4096\nrenderD128\nrenderD129\n"), std::string(buf, n));
}

// ---- the program's own SIGSEGV handler keeps working behind vkfd's fault recovery ----------------

sigjmp_buf g_jump;
std::atomic<int> g_segv{0};
void OnSegv(int) {
  g_segv++;
  siglongjmp(g_jump, 1);
}

TEST_F(Kfd, ProgramSegvHandlerIsChainedAndBadPointersAreEfault) {
  struct sigaction sa {};
  sa.sa_handler = OnSegv;
  sigemptyset(&sa.sa_mask);
  ASSERT_EQ(0, sigaction(SIGSEGV, &sa, nullptr));
  struct sigaction query {};
  ASSERT_EQ(0, sigaction(SIGSEGV, nullptr, &query));
  EXPECT_EQ(reinterpret_cast<void*>(OnSegv), reinterpret_cast<void*>(query.sa_handler));
  // A bad argument pointer: EFAULT, and the program's handler is not called.
  EXPECT_EQ(-1, ioctl(kfd_, AMDKFD_IOC_GET_VERSION, reinterpret_cast<void*>(16)));
  EXPECT_EQ(EFAULT, errno);
  EXPECT_EQ(0, g_segv.load());
  // A real fault of the program reaches its handler.
  if (sigsetjmp(g_jump, 1) == 0) {
    *static_cast<volatile int*>(mmap(nullptr, 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1,
                                     0)) = 1;
  }
  EXPECT_EQ(1, g_segv.load());
  sa.sa_handler = SIG_DFL;
  sigaction(SIGSEGV, &sa, nullptr);
}

}  // namespace

/* The program behind docs/trace.md's pictures and tools_trace's checks, through raw ioctls only:
 *
 *   1. a MAP of one 64 MiB VRAM BO on every GPU, with a real signal (SIGALRM, handler without
 *      SA_RESTART) 5 ms after the MAP began — inside its wait when page-table jobs take 20 ms: the
 *      MAP returns EINTR, and the program restarts it with the same struct (n_success = all GPUs:
 *      the restart only waits);
 *   2. an asynchronous map pipeline (include/vkfd/vkfd_ioctl.h): eight BOs dispatched with MAP_ASYNC
 *      on every GPU, one fence fd each, then one FENCE_WAIT for all of them;
 *   3. everything unmapped and freed.
 *
 *   trace_demo          once (run it with `vkfd run --gpus 4 --dma-latency 20ms`)
 *   trace_demo --loop   the same, over and over (until killed: the trace's kill -9 check)
 * Exits 1 with a message if anything unexpected comes back. */
#include <errno.h>
#include <fcntl.h>
#include <linux/kfd_ioctl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/time.h>
#include <unistd.h>

#include <vkfd/vkfd_ioctl.h>

#define MAX_GPUS 16
#define PIPELINE 8
#define MIB (1ull << 20)

static uint32_t gpu_ids[MAX_GPUS];
static int minors[MAX_GPUS];
static int n_gpus;
static int kfd = -1;
static volatile sig_atomic_t alarms;

static void Die(const char* what) {
  fprintf(stderr, "trace_demo: %s: %s\n", what, strerror(errno));
  exit(1);
}

static void OnAlarm(int signo) {
  (void)signo;
  alarms++;
}

static void ReadTopology(void) {
  for (int node = 0; n_gpus < MAX_GPUS; ++node) {
    char path[128];
    snprintf(path, sizeof(path), "/sys/devices/virtual/kfd/kfd/topology/nodes/%d/gpu_id", node);
    FILE* f = fopen(path, "r");
    if (f == NULL) break;
    unsigned id = 0;
    if (fscanf(f, "%u", &id) != 1) id = 0;
    fclose(f);
    if (id == 0) continue; /* the CPU */
    snprintf(path, sizeof(path), "/sys/devices/virtual/kfd/kfd/topology/nodes/%d/properties", node);
    f = fopen(path, "r");
    if (f == NULL) Die("properties");
    char key[64];
    unsigned long long value;
    int minor = -1;
    while (fscanf(f, "%63s %llu", key, &value) == 2) {
      if (strcmp(key, "drm_render_minor") == 0) minor = (int)value;
    }
    fclose(f);
    gpu_ids[n_gpus] = id;
    minors[n_gpus++] = minor;
  }
  if (n_gpus == 0) {
    errno = ENODEV;
    Die("no GPU in the topology");
  }
}

static uint64_t Alloc(uint64_t va, uint64_t size) {
  struct kfd_ioctl_alloc_memory_of_gpu_args a = {0};
  a.va_addr = va;
  a.size = size;
  a.gpu_id = gpu_ids[0];
  /* KFD_IOC_ALLOC_MEM_FLAGS_WRITABLE is (1 << 31) in the header: in C a shift into the sign bit
   * of an int is undefined (UBSan stops on it), so its value is spelt unsigned here. */
  a.flags = KFD_IOC_ALLOC_MEM_FLAGS_VRAM | 0x80000000u | KFD_IOC_ALLOC_MEM_FLAGS_NO_SUBSTITUTE;
  if (ioctl(kfd, AMDKFD_IOC_ALLOC_MEMORY_OF_GPU, &a) != 0) Die("ALLOC_MEMORY_OF_GPU");
  return a.handle;
}

static void UnmapFree(uint64_t handle) {
  struct kfd_ioctl_unmap_memory_from_gpu_args u = {0};
  u.handle = handle;
  u.device_ids_array_ptr = (uint64_t)(uintptr_t)gpu_ids;
  u.n_devices = (uint32_t)n_gpus;
  while (ioctl(kfd, AMDKFD_IOC_UNMAP_MEMORY_FROM_GPU, &u) != 0) {
    if (errno != EINTR) Die("UNMAP_MEMORY_FROM_GPU");
  }
  struct kfd_ioctl_free_memory_of_gpu_args f = {handle};
  if (ioctl(kfd, AMDKFD_IOC_FREE_MEMORY_OF_GPU, &f) != 0) Die("FREE_MEMORY_OF_GPU");
}

/* 1: a MAP on every GPU; a signal lands in its wait; the restart resumes at n_success. */
static int MapWithSignal(uint64_t va) {
  const uint64_t handle = Alloc(va, 64 * MIB);
  struct kfd_ioctl_map_memory_to_gpu_args m = {0};
  m.handle = handle;
  m.device_ids_array_ptr = (uint64_t)(uintptr_t)gpu_ids;
  m.n_devices = (uint32_t)n_gpus;
  struct itimerval once = {{0, 0}, {0, 5000}}; /* 5 ms from now */
  setitimer(ITIMER_REAL, &once, NULL);
  int interrupted = 0;
  while (ioctl(kfd, AMDKFD_IOC_MAP_MEMORY_TO_GPU, &m) != 0) {
    if (errno != EINTR) Die("MAP_MEMORY_TO_GPU");
    interrupted++; /* restart with the same struct, as libhsakmt does */
  }
  if (m.n_success != (uint32_t)n_gpus) {
    fprintf(stderr, "trace_demo: MAP n_success %u\n", m.n_success);
    exit(1);
  }
  UnmapFree(handle);
  return interrupted;
}

/* 2: eight BOs dispatched without waiting, then one wait for all their fences. */
static void AsyncPipeline(uint64_t va) {
  uint64_t handles[PIPELINE];
  int32_t fences[PIPELINE];
  for (int i = 0; i < PIPELINE; ++i) handles[i] = Alloc(va + (uint64_t)i * 4 * MIB, 4 * MIB);
  for (int i = 0; i < PIPELINE; ++i) {
    struct vkfd_map_async_args a = {0};
    a.handle = handles[i];
    a.device_ids_array_ptr = (uint64_t)(uintptr_t)gpu_ids;
    a.n_devices = (uint32_t)n_gpus;
    if (ioctl(kfd, VKFD_IOC_MAP_ASYNC, &a) != 0) Die("VKFD_IOC_MAP_ASYNC");
    fences[i] = a.fence_fd;
  }
  struct vkfd_fence_wait_args w = {0};
  w.fds_ptr = (uint64_t)(uintptr_t)fences;
  w.deadline_ns = VKFD_DEADLINE_NONE;
  w.count = PIPELINE;
  w.flags = VKFD_WAIT_ALL;
  while (ioctl(kfd, VKFD_IOC_FENCE_WAIT, &w) != 0) {
    if (errno != EINTR) Die("VKFD_IOC_FENCE_WAIT");
  }
  for (int i = 0; i < PIPELINE; ++i) {
    close(fences[i]);
    UnmapFree(handles[i]);
  }
}

int main(int argc, char** argv) {
  const int loop = argc > 1 && strcmp(argv[1], "--loop") == 0;
  struct sigaction sa;
  memset(&sa, 0, sizeof(sa));
  sa.sa_handler = OnAlarm; /* no SA_RESTART: an interrupted wait returns EINTR */
  sigaction(SIGALRM, &sa, NULL);

  ReadTopology();
  kfd = open("/dev/kfd", O_RDWR | O_CLOEXEC);
  if (kfd < 0) Die("open /dev/kfd");
  struct kfd_ioctl_get_version_args v = {0};
  if (ioctl(kfd, AMDKFD_IOC_GET_VERSION, &v) != 0) Die("GET_VERSION");
  for (int i = 0; i < n_gpus; ++i) {
    char path[64];
    snprintf(path, sizeof(path), "/dev/dri/renderD%d", minors[i]);
    const int fd = open(path, O_RDWR | O_CLOEXEC);
    if (fd < 0) Die(path);
    struct kfd_ioctl_acquire_vm_args a = {0};
    a.drm_fd = (uint32_t)fd;
    a.gpu_id = gpu_ids[i];
    if (ioctl(kfd, AMDKFD_IOC_ACQUIRE_VM, &a) != 0) Die("ACQUIRE_VM");
  }
  int interrupted = 0;
  do {
    interrupted += MapWithSignal(0x7f0000000000ull);
    AsyncPipeline(0x7f0100000000ull);
    if (loop) usleep(2000);
  } while (loop);
  printf("trace_demo: %d GPUs, MAP interrupted %d time(s) by %d signal(s), pipeline of %d maps\n",
         n_gpus, interrupted, (int)alarms, PIPELINE);
  return 0;
}

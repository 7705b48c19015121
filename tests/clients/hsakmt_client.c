/* A libhsakmt 5.2 client (Debian's libhsakmt1, unmodified) run under `vkfd run`.
 *
 *   hsakmt_client            every allocation kind on every GPU, mapped to all GPUs; checks CPU access,
 *                            QueryPointerInfo and the inspection file /sys/kernel/debug/vkfd/<id>/vm
 *   hsakmt_client --no-peer  (small-bar topology) a GPU's VRAM cannot be mapped on another GPU, but
 *                            can be on its own
 * Prints one line per failed check and exits 1 if any failed. */
#include <hsakmt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "client_common.h"

static int failures = 0;

#define CHECK(cond, ...)                                   \
  do {                                                     \
    if (!(cond)) {                                         \
      fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__); \
      fprintf(stderr, __VA_ARGS__);                        \
      fprintf(stderr, "\n");                               \
      failures++;                                          \
    }                                                      \
  } while (0)

#define MAX_GPUS 16
static HSAuint32 gpu_nodes[MAX_GPUS];
static HSAuint32 gpu_ids[MAX_GPUS];
static int n_gpus = 0;

/* True if the page-table view of GPU `gpu_id` maps all of [va, va + size). */
static int VmMaps(HSAuint32 gpu_id, uint64_t va, uint64_t size) {
  return VmScan(gpu_id, va, size, kVmCovers, NULL);
}

/* Checks the mapping and returns the GPU address, for the unmap check. */
static uint64_t CheckMappedEverywhere(const char* what, void* ptr, uint64_t size) {
  HsaPointerInfo info;
  memset(&info, 0, sizeof(info));
  HSAKMT_STATUS s = hsaKmtQueryPointerInfo(ptr, &info);
  CHECK(s == HSAKMT_STATUS_SUCCESS, "%s: QueryPointerInfo = %d", what, s);
  CHECK((int)info.NMappedNodes == n_gpus, "%s: NMappedNodes = %u, want %d", what,
        info.NMappedNodes, n_gpus);
  for (int g = 0; g < n_gpus; ++g) {
    int listed = 0;
    for (HSAuint32 k = 0; k < info.NMappedNodes && info.MappedNodes != NULL; ++k) {
      if (info.MappedNodes[k] == gpu_nodes[g]) listed = 1;
    }
    CHECK(listed, "%s: node %u missing from MappedNodes", what, gpu_nodes[g]);
    /* Registered host memory gets its own GPU address; allocations use the CPU address. */
    CHECK(VmMaps(gpu_ids[g], info.GPUAddress, size) == 1,
          "%s: GPU 0x%x page tables do not map 0x%" PRIx64 "+0x%" PRIx64, what, gpu_ids[g],
          info.GPUAddress, size);
  }
  return info.GPUAddress;
}

static void CheckUnmappedEverywhere(const char* what, uint64_t gpu_va, uint64_t size) {
  for (int g = 0; g < n_gpus; ++g) {
    CHECK(VmMaps(gpu_ids[g], gpu_va, size) == 0,
          "%s: GPU 0x%x still maps 0x%" PRIx64 " after unmap", what, gpu_ids[g], gpu_va);
  }
}

static void Pattern(const char* what, void* ptr, uint64_t size, unsigned seed) {
  uint32_t* p = (uint32_t*)ptr;
  for (uint64_t i = 0; i < size / 4; i += 1024) p[i] = seed + (uint32_t)i;
  for (uint64_t i = 0; i < size / 4; i += 1024) {
    if (p[i] != seed + (uint32_t)i) {
      CHECK(0, "%s: CPU read back 0x%x at word %" PRIu64, what, p[i], i);
      return;
    }
  }
}

/* Allocates on `node`, maps to all GPUs, checks, unmaps, frees. */
static void AllocMapFree(const char* what, HSAuint32 node, HsaMemFlags flags, uint64_t size,
                         int cpu_access) {
  void* ptr = NULL;
  HSAKMT_STATUS s = hsaKmtAllocMemory(node, size, flags, &ptr);
  CHECK(s == HSAKMT_STATUS_SUCCESS && ptr != NULL, "%s: AllocMemory(node %u) = %d", what, node, s);
  if (s != HSAKMT_STATUS_SUCCESS) return;
  HsaMemMapFlags map_flags;
  memset(&map_flags, 0, sizeof(map_flags));
  HSAuint64 alt = 0;
  s = hsaKmtMapMemoryToGPUNodes(ptr, size, &alt, map_flags, n_gpus, gpu_nodes);
  CHECK(s == HSAKMT_STATUS_SUCCESS, "%s: MapMemoryToGPUNodes(all) = %d", what, s);
  if (s == HSAKMT_STATUS_SUCCESS) {
    if (cpu_access) Pattern(what, ptr, size, node * 77u);
    const uint64_t gpu_va = CheckMappedEverywhere(what, ptr, size);
    s = hsaKmtUnmapMemoryToGPU(ptr);
    CHECK(s == HSAKMT_STATUS_SUCCESS, "%s: UnmapMemoryToGPU = %d", what, s);
    CheckUnmappedEverywhere(what, gpu_va, size);
  }
  s = hsaKmtFreeMemory(ptr, size);
  CHECK(s == HSAKMT_STATUS_SUCCESS, "%s: FreeMemory = %d", what, s);
}

static int AllKinds(void) {
  const uint64_t size = 4ull << 20;
  for (int g = 0; g < n_gpus; ++g) {
    HsaMemFlags f;
    char what[64];
    memset(&f, 0, sizeof(f));
    f.ui32.NonPaged = 1;
    f.ui32.HostAccess = 1;
    snprintf(what, sizeof(what), "visible VRAM of node %u", gpu_nodes[g]);
    AllocMapFree(what, gpu_nodes[g], f, size, 1);

    memset(&f, 0, sizeof(f));
    f.ui32.NonPaged = 1;
    f.ui32.HostAccess = 0;
    snprintf(what, sizeof(what), "private VRAM of node %u", gpu_nodes[g]);
    AllocMapFree(what, gpu_nodes[g], f, size, 0);

    /* System memory that is not paged is GTT, allocated through the first GPU. */
    memset(&f, 0, sizeof(f));
    f.ui32.NonPaged = 1;
    f.ui32.HostAccess = 1;
    snprintf(what, sizeof(what), "GTT (round %d)", g);
    AllocMapFree(what, 0, f, size, 1);
  }

  /* Host memory registered (userptr) and mapped to all GPUs. */
  void* host = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  CHECK(host != MAP_FAILED, "mmap host memory");
  HSAKMT_STATUS s = hsaKmtRegisterMemoryToNodes(host, size, n_gpus, gpu_nodes);
  CHECK(s == HSAKMT_STATUS_SUCCESS, "RegisterMemoryToNodes = %d", s);
  HsaMemMapFlags map_flags;
  memset(&map_flags, 0, sizeof(map_flags));
  HSAuint64 alt = 0;
  s = hsaKmtMapMemoryToGPUNodes(host, size, &alt, map_flags, n_gpus, gpu_nodes);
  CHECK(s == HSAKMT_STATUS_SUCCESS, "host memory: MapMemoryToGPUNodes = %d", s);
  if (s == HSAKMT_STATUS_SUCCESS) {
    Pattern("host memory", host, size, 5);
    const uint64_t gpu_va = CheckMappedEverywhere("host memory", host, size);
    CHECK(hsaKmtUnmapMemoryToGPU(host) == HSAKMT_STATUS_SUCCESS, "host memory: unmap");
    CheckUnmappedEverywhere("host memory", gpu_va, size);
  }
  CHECK(hsaKmtDeregisterMemory(host) == HSAKMT_STATUS_SUCCESS, "DeregisterMemory");
  munmap(host, size);
  return 0;
}

static void NoPeer(void) {
  const uint64_t size = 2ull << 20;
  CHECK(n_gpus >= 2, "--no-peer needs two GPUs, have %d", n_gpus);
  if (n_gpus < 2) return;
  HsaMemFlags f;
  memset(&f, 0, sizeof(f));
  f.ui32.NonPaged = 1;
  void* ptr = NULL;
  HSAKMT_STATUS s = hsaKmtAllocMemory(gpu_nodes[0], size, f, &ptr);
  CHECK(s == HSAKMT_STATUS_SUCCESS, "private VRAM alloc = %d", s);
  if (s != HSAKMT_STATUS_SUCCESS) return;
  HsaMemMapFlags map_flags;
  memset(&map_flags, 0, sizeof(map_flags));
  HSAuint64 alt = 0;
  s = hsaKmtMapMemoryToGPUNodes(ptr, size, &alt, map_flags, 2, gpu_nodes);
  CHECK(s != HSAKMT_STATUS_SUCCESS, "mapping GPU 0's VRAM on GPU 1 succeeded without peer access");
  CHECK(VmMaps(gpu_ids[1], (uint64_t)(uintptr_t)ptr, size) == 0, "GPU 1 maps a peer's VRAM");
  /* The thunk's cleanup of the failed map leaves it unmapped; its own GPU still works. */
  s = hsaKmtMapMemoryToGPUNodes(ptr, size, &alt, map_flags, 1, gpu_nodes);
  CHECK(s == HSAKMT_STATUS_SUCCESS, "mapping VRAM on its own GPU = %d", s);
  CHECK(VmMaps(gpu_ids[0], (uint64_t)(uintptr_t)ptr, size) == 1, "own GPU does not map it");
  CHECK(hsaKmtUnmapMemoryToGPU(ptr) == HSAKMT_STATUS_SUCCESS, "unmap");
  CHECK(hsaKmtFreeMemory(ptr, size) == HSAKMT_STATUS_SUCCESS, "free");
}

int main(int argc, char** argv) {
  const int no_peer = argc > 1 && strcmp(argv[1], "--no-peer") == 0;
  HSAKMT_STATUS s = hsaKmtOpenKFD();
  if (s != HSAKMT_STATUS_SUCCESS) {
    fprintf(stderr, "FAIL hsaKmtOpenKFD = %d\n", s);
    return 1;
  }
  HsaSystemProperties props;
  s = hsaKmtAcquireSystemProperties(&props);
  CHECK(s == HSAKMT_STATUS_SUCCESS, "AcquireSystemProperties = %d", s);
  n_gpus = FindGpuNodes(&props, gpu_nodes, gpu_ids, MAX_GPUS);
  CHECK(n_gpus > 0, "no GPU nodes");
  if (no_peer) {
    NoPeer();
  } else {
    AllKinds();
  }
  hsaKmtReleaseSystemProperties();
  hsaKmtCloseKFD();
  printf("%s: %d GPUs, %d failures\n", no_peer ? "no-peer" : "all-kinds", n_gpus, failures);
  return failures == 0 ? 0 : 1;
}

/* What Debian's libhsakmt 5.2.3 does when MAP_MEMORY_TO_GPU fails half-way, seen through vkfd's
 * inspection view. Run on 4 GPUs with the map of this program's buffer failing on GPU index 2:
 *
 *   vkfd run --gpus 4 --inject 'map.page_tables[gpu=2,nth=5]:ENOMEM' -- map_failure_cleanup
 *
 * (GPU 2 is reached four times by hsaKmtOpenKFD, which maps each GPU's MMIO page on all GPUs; the
 * fifth time is this program's map.) The program allocates 2 MiB of VRAM on the first GPU, maps it to
 * all GPUs, then does what a careful client does after a failed map — hsaKmtUnmapMemoryToGPU, then
 * hsaKmtFreeMemory — and after each step prints, per GPU, whether the page tables map the buffer:
 *
 *   after <step>: status <HSAKMT status>; mapped on GPUs [0x1000 0x1111]
 *
 * It reports what happens; tests/CMakeLists.txt asserts the outcome documented in
 * docs/failure-behaviour.md. Exit status 0 unless the setup itself fails. */
#include <hsakmt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client_common.h"

#define MAX_GPUS 16
static HSAuint32 gpu_nodes[MAX_GPUS];
static HSAuint32 gpu_ids[MAX_GPUS];
static int n_gpus = 0;

/* The inspection view's lines that overlap the buffer, collected per step and printed at the end. */
static char views[8192];

static void Collect(const char* path, const char* line) {
  size_t used = strlen(views);
  snprintf(views + used, sizeof(views) - used, "    %s: %s", path, line);
}

/* Does the page-table view of `gpu_id` map any page of [va, va + size)? -1 if unreadable. Appends the
 * overlapping lines of the view to `views`. */
static int VmMapsAny(HSAuint32 gpu_id, uint64_t va, uint64_t size) {
  return VmScan(gpu_id, va, size, kVmOverlaps, Collect);
}

static void Report(const char* step, HSAKMT_STATUS status, void* ptr, uint64_t size) {
  size_t used = strlen(views);
  snprintf(views + used, sizeof(views) - used, "  after %s:\n", step);
  printf("after %s: status %d; mapped on GPUs [", step, (int)status);
  int first = 1;
  for (int g = 0; g < n_gpus; ++g) {
    if (VmMapsAny(gpu_ids[g], (uint64_t)(uintptr_t)ptr, size) == 1) {
      printf(first ? "0x%x" : " 0x%x", gpu_ids[g]);
      first = 0;
    }
  }
  printf("]\n");
}

int main(void) {
  if (hsaKmtOpenKFD() != HSAKMT_STATUS_SUCCESS) {
    fprintf(stderr, "hsaKmtOpenKFD failed\n");
    return 2;
  }
  HsaSystemProperties props;
  if (hsaKmtAcquireSystemProperties(&props) != HSAKMT_STATUS_SUCCESS) return 2;
  n_gpus = FindGpuNodes(&props, gpu_nodes, gpu_ids, MAX_GPUS);
  if (n_gpus < 1) return 2;
  const uint64_t size = 2ull << 20;
  HsaMemFlags flags;
  memset(&flags, 0, sizeof(flags));
  flags.ui32.NonPaged = 1;
  void* ptr = NULL;
  if (hsaKmtAllocMemory(gpu_nodes[0], size, flags, &ptr) != HSAKMT_STATUS_SUCCESS) return 2;
  printf("%d GPUs; buffer at %p, 2 MiB of VRAM on GPU 0x%x\n", n_gpus, ptr, gpu_ids[0]);

  HsaMemMapFlags map_flags;
  memset(&map_flags, 0, sizeof(map_flags));
  HSAuint64 alt = 0;
  HSAKMT_STATUS s = hsaKmtMapMemoryToGPUNodes(ptr, size, &alt, map_flags, n_gpus, gpu_nodes);
  Report("hsaKmtMapMemoryToGPUNodes(all GPUs)", s, ptr, size);
  s = hsaKmtUnmapMemoryToGPU(ptr);
  Report("hsaKmtUnmapMemoryToGPU", s, ptr, size);
  s = hsaKmtFreeMemory(ptr, size);
  Report("hsaKmtFreeMemory", s, ptr, size);
  printf("inspection view lines covering the buffer:\n%s", views);

  hsaKmtReleaseSystemProperties();
  hsaKmtCloseKFD();
  return 0;
}

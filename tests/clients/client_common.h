/* What the libhsakmt client programs share: finding the GPU nodes, and reading vkfd's inspection
 * view (/sys/kernel/debug/vkfd/<gpu_id>/vm: "0x<start>-0x<end> RWXS" lines, end exclusive). */
#ifndef VKFD_TESTS_CLIENTS_CLIENT_COMMON_H_
#define VKFD_TESTS_CLIENTS_CLIENT_COMMON_H_

#include <hsakmt.h>
#include <inttypes.h>
#include <stdio.h>

/* The GPU nodes after hsaKmtAcquireSystemProperties: their node numbers and gpu_ids (libhsakmt 5.2's
 * node properties carry no gpu_id, so it is read where the thunk reads it). Returns the count, or -1
 * if a gpu_id cannot be read. */
static inline int FindGpuNodes(const HsaSystemProperties* props, HSAuint32* nodes, HSAuint32* ids,
                               int max) {
  int n_gpus = 0;
  for (HSAuint32 n = 0; n < props->NumNodes && n_gpus < max; ++n) {
    HsaNodeProperties node;
    if (hsaKmtGetNodeProperties(n, &node) != HSAKMT_STATUS_SUCCESS) continue;
    if (node.NumFComputeCores == 0) continue; /* the CPU node */
    char path[96];
    snprintf(path, sizeof(path), "/sys/devices/virtual/kfd/kfd/topology/nodes/%u/gpu_id", n);
    FILE* f = fopen(path, "r");
    unsigned id = 0;
    const int read = f != NULL && fscanf(f, "%u", &id) == 1 && id != 0;
    if (f != NULL) fclose(f);
    if (!read) return -1;
    nodes[n_gpus] = n;
    ids[n_gpus++] = id;
  }
  return n_gpus;
}

enum VmMatch { kVmCovers, kVmOverlaps };

/* Does the page-table view of `gpu_id` map all of (kVmCovers) or some of (kVmOverlaps)
 * [va, va + size)? 1 or 0; -1 if the view cannot be read. Each matching line is passed to `seen`
 * (if not NULL) with the view's path. */
static inline int VmScan(HSAuint32 gpu_id, uint64_t va, uint64_t size, enum VmMatch match,
                         void (*seen)(const char* path, const char* line)) {
  char path[96];
  snprintf(path, sizeof(path), "/sys/kernel/debug/vkfd/%u/vm", gpu_id);
  FILE* f = fopen(path, "r");
  if (f == NULL) return -1;
  char line[256];
  int found = 0;
  while (fgets(line, sizeof(line), f) != NULL) {
    uint64_t start, end;
    if (sscanf(line, "0x%" SCNx64 "-0x%" SCNx64, &start, &end) != 2) continue;
    const int hit = match == kVmCovers ? (start <= va && va + size <= end)
                                       : (start < va + size && va < end);
    if (hit) {
      found = 1;
      if (seen != NULL) seen(path, line);
    }
  }
  fclose(f);
  return found;
}

#endif /* VKFD_TESTS_CLIENTS_CLIENT_COMMON_H_ */

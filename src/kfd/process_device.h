// ProcessDevice: a process's per-GPU state (kfd_process_device) — the VM once acquired, the handle
// table, the memory policy and the apertures.
//
// Exists for every GPU from process creation; `vm` is null until ACQUIRE_VM binds a render-node file,
// and "binding" a process to the GPU fails with kNoDevice until then. Guarded by the Process mutex.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <set>

#include "kfd/buffer_object.h"
#include "kfd/gpu_vm.h"

namespace vkfd::kfd {

struct Apertures {
  uint32_t gpu_id = 0;
  uint64_t lds_base = 0, lds_limit = 0;
  uint64_t scratch_base = 0, scratch_limit = 0;
  uint64_t gpuvm_base = 0, gpuvm_limit = 0;
};

// Identity of an open file passed to ACQUIRE_VM: which render node it is, if any.
struct DrmFileRef {
  uint64_t file_id = 0;  // unique per open file description
  int gpu_index = -1;    // the GPU whose render node it is; -1 for any other file
};

struct ProcessDevice {
  size_t gpu_index = 0;
  uint32_t gpu_id = 0;
  Apertures apertures;
  std::unique_ptr<GpuVm> vm;        // null until ACQUIRE_VM
  uint64_t drm_file_id = 0;         // the file ACQUIRE_VM bound (0: none)
  std::map<uint32_t, std::unique_ptr<BufferObject>> handles;  // alloc_idr
  std::set<uint32_t> free_ids;      // IDR numbers below next_id that are free again
  uint32_t next_id = 0;
  std::unique_ptr<BufferObject> ib_bo;    // kernel BOs mapped at ACQUIRE_VM
  std::unique_ptr<BufferObject> cwsr_bo;
  int default_policy = 0;
  int alternate_policy = 0;
  uint64_t ape1_base = 1, ape1_limit = 0;
  uint64_t scratch_backing_va = 0;
  uint64_t trap_tba = 0, trap_tma = 0;
  uint32_t doorbell_slice = 0;      // the process's doorbells on this GPU (0: none yet)

  // The lowest free IDR number, as idr_alloc(.., 0, 0) gives.
  uint32_t TakeId() {
    if (!free_ids.empty()) {
      uint32_t id = *free_ids.begin();
      free_ids.erase(free_ids.begin());
      return id;
    }
    return next_id++;
  }
  void ReturnId(uint32_t id) { free_ids.insert(id); }
  BufferObject* Find(uint32_t id) {
    auto it = handles.find(id);
    return it == handles.end() ? nullptr : it->second.get();
  }
};

}  // namespace vkfd::kfd

#include "uapi/user_arrays.h"

#include "base/user_memory.h"

namespace vkfd::uapi {

Code CopyDeviceIds(uint64_t user_ptr, uint32_t n_devices, std::vector<uint32_t>* ids) {
  if (uint64_t{n_devices} * sizeof(uint32_t) > kKmallocMaxSize) return Code::kNoMemory;
  ids->resize(n_devices);
  if (!CopyFromUser(ids->data(), user_ptr, ids->size() * sizeof(uint32_t)).ok()) return Code::kFault;
  return Code::kOk;
}

}  // namespace vkfd::uapi

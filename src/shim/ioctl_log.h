// One strace-like line per KFD ioctl for `vkfd run --log-ioctls`:
//   [vkfd 1234] MAP_MEMORY_TO_GPU {handle=0x100000001 n_devices=4 n_success=4} = 0 <0.000012s>
//   [vkfd 1234] FREE_MEMORY_OF_GPU {handle=0x100000001} = -1 EBUSY (Device or resource busy) <...>
// Arguments are the struct as copied back to the caller (outputs included).
#pragma once

#include <string>

#include "uapi/kfd_device.h"

namespace vkfd::shim {

std::string FormatIoctlRecord(const uapi::IoctlRecord& record, int pid);

}  // namespace vkfd::shim

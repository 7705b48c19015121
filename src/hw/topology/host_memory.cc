// The host's memory, which a topology without cpu.memory emulates (sysinfo(2), as amdgpu's
// amdgpu_amdkfd_init reads it with si_meminfo).
#include <sys/sysinfo.h>

#include "hw/topology/topology.h"

namespace vkfd::hw {

uint64_t HostMemoryBytes() {
  constexpr uint64_t kStep = 2ull << 20;
  constexpr uint64_t kMin = 1ull << 30;
  struct sysinfo si {};
  uint64_t bytes = 0;
  if (sysinfo(&si) == 0) bytes = uint64_t{si.totalram} * si.mem_unit;
  bytes &= ~(kStep - 1);
  return bytes < kMin ? kMin : bytes;
}

}  // namespace vkfd::hw

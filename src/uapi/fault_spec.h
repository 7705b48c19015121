// The fault-injection spec: the text people write after `vkfd run --inject` or in VKFD_INJECT, turned
// into the engine's rules (base/fault_inject.h) for the driver's points (kfd/fault_points.h). Error
// names are errno names, from the one errno table (uapi/errno_table.h).
//
//   spec   := rule (';' rule)*
//   rule   := POINT ['[' option (',' option)* ']'] ':' effect
//   option := 'gpu=' N | 'nth=' N | 'every=' K | 'p=' FLOAT | 'times=' N
//   effect := ERRNO-NAME (e.g. ENOMEM) | 'delay=' DURATION | 'signal=' SIGNAME
// e.g. "map.page_tables[gpu=3]:ENOMEM;map.wait[nth=2]:signal=SIGUSR1;dma.submit[p=0.01]:delay=200us"
//
// An effect must be one the reference kernel can produce at that point (docs/fault-injection.md).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "base/expected.h"
#include "base/fault_inject.h"

namespace vkfd::uapi {

// The rules of `spec`, or a one-line message naming what is wrong (for an unknown point, the valid
// ones; for an effect the kernel cannot produce there, the ones it can).
Expected<std::vector<FaultRule>> ParseFaultSpec(std::string_view spec);
// Parses `spec` and arms the global injector with it (an empty spec disarms).
Expected<void> ArmFaultInjection(std::string_view spec, uint64_t seed);
// "map.page_tables call=3 gpu=1 effect=ENOMEM" (no newline).
std::string FormatFaultRecord(const FaultRecord& record);
// The names of the points, for `vkfd inject --list`.
std::vector<std::string> FaultPointNames();

}  // namespace vkfd::uapi

// The one place where vkfd's Status codes become errno values.
#pragma once

#include "base/status.h"

namespace vkfd::uapi {

// The errno for a non-Ok code. kInterrupted maps to EINTR: by the time a wait reports it, the host
// kernel has already decided against a transparent restart (see kfd/fence.h).
int ErrnoFor(Code code);

}  // namespace vkfd::uapi

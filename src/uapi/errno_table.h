// The one place where vkfd's Status codes become errno values, and errno names become codes (for the
// fault-injection text format and the logs).
#pragma once

#include <optional>
#include <string_view>

#include "base/status.h"

namespace vkfd::uapi {

// The errno for a non-Ok code. kInterrupted maps to EINTR: by the time a wait reports it, the host
// kernel has already decided against a transparent restart (see kfd/fence.h).
int ErrnoFor(Code code);
// "ENOMEM" for kNoMemory; "OK" for kOk.
const char* ErrnoNameFor(Code code);
// The code whose errno is named `name` ("EINVAL" → kInvalidArgs), if any.
std::optional<Code> CodeForErrnoName(std::string_view name);

}  // namespace vkfd::uapi

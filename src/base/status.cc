#include "base/status.h"

namespace vkfd {

const char* CodeName(Code code) {
  switch (code) {
    case Code::kOk: return "OK";
    case Code::kInvalidArgs: return "INVALID_ARGS";
    case Code::kNoMemory: return "NO_MEMORY";
    case Code::kBusy: return "BUSY";
    case Code::kNoDevice: return "NO_DEVICE";
    case Code::kNoProcess: return "NO_PROCESS";
    case Code::kFault: return "FAULT";
    case Code::kBadFd: return "BAD_FD";
    case Code::kPermission: return "PERMISSION";
    case Code::kInterrupted: return "INTERRUPTED";
    case Code::kTimedOut: return "TIMED_OUT";
    case Code::kNotSupported: return "NOT_SUPPORTED";
    case Code::kAddressInUse: return "ADDRESS_IN_USE";
    case Code::kIo: return "IO";
    case Code::kNoSpace: return "NO_SPACE";
    case Code::kAgain: return "AGAIN";
    case Code::kNotFound: return "NOT_FOUND";
    case Code::kTooManyFiles: return "TOO_MANY_FILES";
    case Code::kAccess: return "ACCESS";
    case Code::kNotSupp: return "NOT_SUPP";
    case Code::kCanceled: return "CANCELED";
  }
  return "UNKNOWN";
}

}  // namespace vkfd

#include "uapi/errno_table.h"

#include <cerrno>

namespace vkfd::uapi {

int ErrnoFor(Code code) {
  switch (code) {
    case Code::kOk: return 0;
    case Code::kInvalidArgs: return EINVAL;
    case Code::kNoMemory: return ENOMEM;
    case Code::kBusy: return EBUSY;
    case Code::kNoDevice: return ENODEV;
    case Code::kNoProcess: return ESRCH;
    case Code::kFault: return EFAULT;
    case Code::kBadFd: return EBADF;
    case Code::kPermission: return EPERM;
    case Code::kInterrupted: return EINTR;
    case Code::kTimedOut: return ETIME;
    case Code::kNotSupported: return ENOTTY;
    case Code::kAddressInUse: return EADDRINUSE;
    case Code::kIo: return EIO;
    case Code::kNoSpace: return ENOSPC;
    case Code::kAgain: return EAGAIN;
    case Code::kNotFound: return ENOENT;
    case Code::kTooManyFiles: return EMFILE;
  }
  return EINVAL;
}

}  // namespace vkfd::uapi

#include "uapi/errno_table.h"

#include <string.h>

#include <cerrno>

namespace vkfd::uapi {
namespace {

struct Row {
  Code code;
  int errnum;
};
// Each code has exactly one errno, and no errno has two codes.
constexpr Row kTable[] = {
    {Code::kInvalidArgs, EINVAL}, {Code::kNoMemory, ENOMEM},     {Code::kBusy, EBUSY},
    {Code::kNoDevice, ENODEV},    {Code::kNoProcess, ESRCH},     {Code::kFault, EFAULT},
    {Code::kBadFd, EBADF},        {Code::kPermission, EPERM},    {Code::kInterrupted, EINTR},
    {Code::kTimedOut, ETIME},     {Code::kNotSupported, ENOTTY}, {Code::kAddressInUse, EADDRINUSE},
    {Code::kIo, EIO},             {Code::kNoSpace, ENOSPC},      {Code::kAgain, EAGAIN},
    {Code::kNotFound, ENOENT},    {Code::kTooManyFiles, EMFILE}, {Code::kAccess, EACCES},
    {Code::kNotSupp, 524 /* ENOTSUPP, kernel-internal yet returned by some KFD ioctls */},
    {Code::kCanceled, ECANCELED},
};

}  // namespace

int ErrnoFor(Code code) {
  for (const Row& row : kTable) {
    if (row.code == code) return row.errnum;
  }
  return 0;  // kOk
}

const char* ErrnoNameFor(Code code) {
  if (code == Code::kOk) return "OK";
  const int errnum = ErrnoFor(code);
  if (errnum == 524) return "ENOTSUPP";
  const char* name = strerrorname_np(errnum);
  return name != nullptr ? name : "E?";
}

std::optional<Code> CodeForErrnoName(std::string_view name) {
  for (const Row& row : kTable) {
    if (name == ErrnoNameFor(row.code)) return row.code;
  }
  return std::nullopt;
}

}  // namespace vkfd::uapi

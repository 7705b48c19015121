// Status and Result: the one error type used everywhere below uapi/.
//
// A Status is a small closed set of codes. Each code corresponds to exactly one errno value, and the
// translation happens in one place (uapi/errno_table.cc); nothing below uapi/ knows errno numbers.
// The driver layer chooses the code that the reference kernel returns on that path, quirks included
// (e.g. kfd/ reports an unknown handle in MAP as kNoMemory, because KFD returns -ENOMEM there).
//
// Both types are [[nodiscard]]. In debug builds, destroying a Status or Result whose value was never
// inspected aborts ("a success value cannot be dropped", as LLVM's Error).
#pragma once

#include <cassert>
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <utility>

namespace vkfd {

// [[nodiscard]]: a function returning a Code cannot have its result dropped silently.
enum class [[nodiscard]] Code : uint8_t {
  kOk = 0,
  kInvalidArgs,      // EINVAL
  kNoMemory,         // ENOMEM
  kBusy,             // EBUSY
  kNoDevice,         // ENODEV
  kNoProcess,        // ESRCH
  kFault,            // EFAULT
  kBadFd,            // EBADF
  kPermission,       // EPERM
  kInterrupted,      // ERESTARTSYS: restart or EINTR, decided at the ioctl boundary
  kTimedOut,         // ETIME
  kNotSupported,     // ENOTTY
  kAddressInUse,     // EADDRINUSE
  kIo,               // EIO
  kNoSpace,          // ENOSPC
  kAgain,            // EAGAIN
  kNotFound,         // ENOENT (e.g. an fd that is not a fence fd, as sync_file's MERGE)
  kTooManyFiles,     // EMFILE (no fd number left for a new file)
  kAccess,           // EACCES (a file the caller may not use: render-node mmap, CRIU_OP)
  kNotSupp,          // ENOTSUPP (524): kernel-internal, yet some KFD ioctls return it to user space
  kCanceled,         // ECANCELED (work for a queue that faulted or failed: it will never run)
};

const char* CodeName(Code code);

#ifndef NDEBUG
#define VKFD_STATUS_CHECKED 1
#endif

class [[nodiscard]] Status {
 public:
  Status() = default;
  explicit Status(Code code) : code_(code) {}
  static Status Ok() { return Status(); }

  Status(const Status& other) : code_(other.code_) { other.MarkChecked(); }
  Status& operator=(const Status& other) {
    AssertChecked();
    code_ = other.code_;
    other.MarkChecked();
    Unchecked();
    return *this;
  }
  ~Status() { AssertChecked(); }

  bool ok() const {
    MarkChecked();
    return code_ == Code::kOk;
  }
  Code code() const {
    MarkChecked();
    return code_;
  }
  // Explicitly drops a status whose outcome does not matter (teardown paths). Say why at the call.
  void IgnoreError() const { MarkChecked(); }

 private:
#ifdef VKFD_STATUS_CHECKED
  void MarkChecked() const { checked_ = true; }
  void Unchecked() { checked_ = false; }
  void AssertChecked() const {
    if (!checked_) {
      assert(!"vkfd::Status dropped without being checked");
      std::abort();
    }
  }
  Code code_ = Code::kOk;
  mutable bool checked_ = false;
#else
  void MarkChecked() const {}
  void Unchecked() {}
  void AssertChecked() const {}
  Code code_ = Code::kOk;
#endif
};

// Result<T>: a T or a non-Ok code. Checked like Status: in debug builds, destroying a Result whose
// outcome was never inspected aborts, and so does reading the value of one that was not checked.
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : code_(Code::kOk), value_(std::move(value)) {}  // NOLINT: implicit by design
  Result(Code code) : code_(code) { assert(code != Code::kOk); }   // NOLINT
  Result(Status status) : code_(status.code()) { assert(code_ != Code::kOk); }  // NOLINT
  Result(Result&& other) noexcept : code_(other.code_), value_(std::move(other.value_)) {
    checked_ = other.checked_;
    other.checked_ = true;  // the outcome travels with the moved-to object
  }
  Result& operator=(Result&& other) noexcept {
    AssertChecked();
    code_ = other.code_;
    value_ = std::move(other.value_);
    checked_ = other.checked_;
    other.checked_ = true;
    return *this;
  }
  Result(const Result&) = delete;
  Result& operator=(const Result&) = delete;
  ~Result() { AssertChecked(); }

  bool ok() const {
    checked_ = true;
    return code_ == Code::kOk;
  }
  Code code() const {
    checked_ = true;
    return code_;
  }
  Status status() const {
    checked_ = true;
    return Status(code_);
  }
  // Explicitly drops a result whose outcome does not matter. Say why at the call.
  void IgnoreError() const { checked_ = true; }
  T& value() & {
    assert(checked_ && code_ == Code::kOk);
    return *value_;
  }
  const T& value() const& {
    assert(checked_ && code_ == Code::kOk);
    return *value_;
  }
  T&& value() && {
    assert(checked_ && code_ == Code::kOk);
    return std::move(*value_);
  }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() { return value(); }

 private:
  void AssertChecked() const {
#ifdef VKFD_STATUS_CHECKED
    if (!checked_) {
      assert(!"vkfd::Result dropped without being checked");
      std::abort();
    }
#endif
  }
  Code code_;
  std::optional<T> value_;
  mutable bool checked_ = false;
};

}  // namespace vkfd

// Propagates a non-Ok Status/Result from the enclosing function.
#define VKFD_RETURN_IF_ERROR(expr)                  \
  do {                                              \
    const ::vkfd::Status vkfd_status_ = (expr);     \
    if (!vkfd_status_.ok()) return vkfd_status_;    \
  } while (0)

// Expected<T>: a value, or a one-line message for a person — the error type for input that someone
// wrote: topology files, the command line, fault-injection specs, environment variables.
//
// The driver's own errors are Status/Result<T> (base/status.h): a closed set of codes that become
// errno values at the ioctl boundary. What a person typed needs words instead ("x.toml: gpu[2].vram:
// must be a multiple of 2 MiB"), so it gets this type; nothing below uapi/ turns one into the other.
//
//   Expected<Topology> t = LoadTopology(name);
//   if (!t.ok()) return Fail("--topology: " + t.error());
//
// [[nodiscard]]: dropping an Expected drops an error someone must read.
#pragma once

#include <cassert>
#include <optional>
#include <string>
#include <utility>

namespace vkfd {

// The failure half of an Expected: converts to any Expected<T>.
struct [[nodiscard]] Failure {
  std::string message;
};
inline Failure Fail(std::string message) { return Failure{std::move(message)}; }

template <typename T>
class [[nodiscard]] Expected {
 public:
  Expected(T value) : value_(std::move(value)) {}  // NOLINT: implicit by design
  Expected(Failure failure) : error_(std::move(failure.message)) {}  // NOLINT

  bool ok() const { return value_.has_value(); }
  // The message; empty when ok().
  const std::string& error() const { return error_; }
  T& value() & {
    assert(ok());
    return *value_;
  }
  const T& value() const& {
    assert(ok());
    return *value_;
  }
  T&& value() && {
    assert(ok());
    return std::move(*value_);
  }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

 private:
  std::optional<T> value_;
  std::string error_;
};

// Success or a message, for checks that produce nothing.
template <>
class [[nodiscard]] Expected<void> {
 public:
  Expected() = default;
  Expected(Failure failure) : failed_(true), error_(std::move(failure.message)) {}  // NOLINT

  bool ok() const { return !failed_; }
  const std::string& error() const { return error_; }

 private:
  bool failed_ = false;
  std::string error_;
};

}  // namespace vkfd

// Clang thread-safety annotations (no-ops on other compilers) and an annotated mutex.
//
// libstdc++'s std::mutex carries no capability attributes, so every guarded field in vkfd uses
// vkfd::Mutex / vkfd::MutexLock from here; -Wthread-safety then checks the locking statically.
#pragma once

#include <mutex>

#if defined(__clang__)
#define VKFD_TA(x) __attribute__((x))
#else
#define VKFD_TA(x)
#endif

#define CAPABILITY(x) VKFD_TA(capability(x))
#define SCOPED_CAPABILITY VKFD_TA(scoped_lockable)
#define GUARDED_BY(x) VKFD_TA(guarded_by(x))
#define PT_GUARDED_BY(x) VKFD_TA(pt_guarded_by(x))
#define ACQUIRED_BEFORE(...) VKFD_TA(acquired_before(__VA_ARGS__))
#define ACQUIRED_AFTER(...) VKFD_TA(acquired_after(__VA_ARGS__))
#define REQUIRES(...) VKFD_TA(requires_capability(__VA_ARGS__))
#define ACQUIRE(...) VKFD_TA(acquire_capability(__VA_ARGS__))
#define RELEASE(...) VKFD_TA(release_capability(__VA_ARGS__))
#define TRY_ACQUIRE(...) VKFD_TA(try_acquire_capability(__VA_ARGS__))
#define EXCLUDES(...) VKFD_TA(locks_excluded(__VA_ARGS__))
#define RETURN_CAPABILITY(x) VKFD_TA(lock_returned(x))
#define NO_THREAD_SAFETY_ANALYSIS VKFD_TA(no_thread_safety_analysis)

namespace vkfd {

class CAPABILITY("mutex") Mutex {
 public:
  Mutex() = default;
  Mutex(const Mutex&) = delete;
  Mutex& operator=(const Mutex&) = delete;

  void Lock() ACQUIRE() { mu_.lock(); }
  void Unlock() RELEASE() { mu_.unlock(); }
  bool TryLock() TRY_ACQUIRE(true) { return mu_.try_lock(); }
  // For condition variables that need the underlying std::mutex.
  std::mutex& native() { return mu_; }

 private:
  std::mutex mu_;
};

class SCOPED_CAPABILITY MutexLock {
 public:
  explicit MutexLock(Mutex* mu) ACQUIRE(mu) : mu_(mu) { mu_->Lock(); }
  ~MutexLock() RELEASE() { mu_->Unlock(); }
  MutexLock(const MutexLock&) = delete;
  MutexLock& operator=(const MutexLock&) = delete;

 private:
  Mutex* mu_;
};

}  // namespace vkfd

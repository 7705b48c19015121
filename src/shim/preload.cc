// libvkfd-preload.so: the libc wrappers, and nothing else (the model is Mesa's drm-shim, without its
// gaps). Each wrapper asks shim.h whether the path or fd is ours; if not, the call goes to the next
// definition (libc) untouched, arguments and errno included. Ours: device paths open the emulated
// device, sysfs paths are redirected into the fake root, ioctl/mmap on device fds go to uapi/.
//
// Unsafe code confined here: dlsym(RTLD_NEXT) and variadic argument forwarding. The real functions
// are resolved once each (thread-safe static initialisation).
#include <dirent.h>
#include <dlfcn.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <pthread.h>

#include "base/call_guard.h"
#include "base/private_fds.h"
#include "base/process_identity.h"
#include "base/user_memory.h"
#include "shim/shim.h"
#include "uapi/cpu_mappings.h"
#include "uapi/file_table.h"
#include "uapi/foreign_files.h"
#include "uapi/kfd_device.h"
#include "uapi/kfd_mmap.h"

using vkfd::CallGuard;
using vkfd::shim::ClassifyPath;
using vkfd::uapi::FileTable;
using vkfd::shim::PathInfo;
using vkfd::shim::PathKind;

namespace {

template <typename F>
F Real(const char* name) {
  void* sym = dlsym(RTLD_NEXT, name);
  if (sym == nullptr) {
    fprintf(stderr, "vkfd: cannot resolve %s: %s\n", name, dlerror());
    abort();
  }
  return reinterpret_cast<F>(sym);
}

#define VKFD_REAL(name) \
  static const auto real_##name = Real<decltype(&::name)>(#name)

bool NeedsMode(int flags) { return (flags & O_CREAT) != 0 || (flags & O_TMPFILE) == O_TMPFILE; }

// The path to hand to libc: the redirected one for ours (device paths stat as fake-root files).
const char* Target(const PathInfo& info, const char* path) {
  return info.kind == PathKind::kOther ? path : info.redirected.c_str();
}

bool IsDevice(const PathInfo& info) {
  return info.kind == PathKind::kKfd || info.kind == PathKind::kRender ||
         info.kind == PathKind::kDebugVm;
}

int FlagsFromFopenMode(const char* mode) {
  int flags = O_RDONLY;
  if (strchr(mode, '+') != nullptr) {
    flags = O_RDWR;
  } else if (mode[0] == 'w' || mode[0] == 'a') {
    flags = O_WRONLY;
  }
  if (strchr(mode, 'e') != nullptr) flags |= O_CLOEXEC;
  return flags;
}

FILE* FopenDevice(const PathInfo& info, const char* mode) {
  const int fd = vkfd::shim::OpenDevicePath(info, FlagsFromFopenMode(mode));
  if (fd < 0) return nullptr;
  FILE* f = fdopen(fd, mode);
  if (f == nullptr) {
    const int err = errno;
    vkfd::shim::ForgetFd(fd);
    close(fd);
    errno = err;
  }
  return f;
}

}  // namespace

extern "C" {

// ---- open family -----------------------------------------------------------------------------

#define VKFD_OPEN_BODY(real_call_path, real_call_redirected)            \
  PathInfo info = ClassifyPath(path);                                   \
  if (IsDevice(info)) {                                                 \
    CallGuard guard;                                                    \
    return vkfd::shim::OpenDevicePath(info, flags);                     \
  }                                                                     \
  if (info.kind == PathKind::kRedirect) return real_call_redirected;    \
  return real_call_path

int open(const char* path, int flags, ...) {
  VKFD_REAL(open);
  mode_t mode = 0;
  if (NeedsMode(flags)) {
    va_list ap;
    va_start(ap, flags);
    mode = static_cast<mode_t>(va_arg(ap, int));
    va_end(ap);
  }
  VKFD_OPEN_BODY(real_open(path, flags, mode), real_open(info.redirected.c_str(), flags, mode));
}

int open64(const char* path, int flags, ...) {
  VKFD_REAL(open64);
  mode_t mode = 0;
  if (NeedsMode(flags)) {
    va_list ap;
    va_start(ap, flags);
    mode = static_cast<mode_t>(va_arg(ap, int));
    va_end(ap);
  }
  VKFD_OPEN_BODY(real_open64(path, flags, mode), real_open64(info.redirected.c_str(), flags, mode));
}

int openat(int dirfd, const char* path, int flags, ...) {
  VKFD_REAL(openat);
  mode_t mode = 0;
  if (NeedsMode(flags)) {
    va_list ap;
    va_start(ap, flags);
    mode = static_cast<mode_t>(va_arg(ap, int));
    va_end(ap);
  }
  VKFD_OPEN_BODY(real_openat(dirfd, path, flags, mode),
                 real_openat(dirfd, info.redirected.c_str(), flags, mode));
}

int openat64(int dirfd, const char* path, int flags, ...) {
  VKFD_REAL(openat64);
  mode_t mode = 0;
  if (NeedsMode(flags)) {
    va_list ap;
    va_start(ap, flags);
    mode = static_cast<mode_t>(va_arg(ap, int));
    va_end(ap);
  }
  VKFD_OPEN_BODY(real_openat64(dirfd, path, flags, mode),
                 real_openat64(dirfd, info.redirected.c_str(), flags, mode));
}

// _FORTIFY_SOURCE entry points (no mode: they are only used without O_CREAT).
int __open_2(const char* path, int flags) {
  VKFD_REAL(__open_2);
  VKFD_OPEN_BODY(real___open_2(path, flags), real___open_2(info.redirected.c_str(), flags));
}

int __open64_2(const char* path, int flags) {
  VKFD_REAL(__open64_2);
  VKFD_OPEN_BODY(real___open64_2(path, flags), real___open64_2(info.redirected.c_str(), flags));
}

int __openat_2(int dirfd, const char* path, int flags) {
  VKFD_REAL(__openat_2);
  VKFD_OPEN_BODY(real___openat_2(dirfd, path, flags),
                 real___openat_2(dirfd, info.redirected.c_str(), flags));
}

int __openat64_2(int dirfd, const char* path, int flags) {
  VKFD_REAL(__openat64_2);
  VKFD_OPEN_BODY(real___openat64_2(dirfd, path, flags),
                 real___openat64_2(dirfd, info.redirected.c_str(), flags));
}

// glibc's fopen and opendir open files internally, not through the symbols above.
FILE* fopen(const char* path, const char* mode) {
  VKFD_REAL(fopen);
  PathInfo info = ClassifyPath(path);
  if (IsDevice(info)) {
    CallGuard guard;
    return FopenDevice(info, mode);
  }
  return real_fopen(Target(info, path), mode);
}

FILE* fopen64(const char* path, const char* mode) {
  VKFD_REAL(fopen64);
  PathInfo info = ClassifyPath(path);
  if (IsDevice(info)) {
    CallGuard guard;
    return FopenDevice(info, mode);
  }
  return real_fopen64(Target(info, path), mode);
}

// fclose closes its fd inside libc, not through close(): an fdopen'ed emulated fd is forgotten here.
int fclose(FILE* stream) {
  VKFD_REAL(fclose);
  if (stream != nullptr) {
    const int fd = fileno(stream);
    if (fd >= 0 && FileTable::IsEmulated(fd)) {
      CallGuard guard;
      vkfd::shim::ForgetFd(fd);
    }
  }
  return real_fclose(stream);
}

DIR* opendir(const char* path) {
  VKFD_REAL(opendir);
  PathInfo info = ClassifyPath(path);
  return real_opendir(Target(info, path));
}

// scandir opens its directory internally too (glibc's __opendir), so it needs its own wrapper.
int scandir(const char* path, struct dirent*** names, int (*filter)(const struct dirent*),
            int (*compare)(const struct dirent**, const struct dirent**)) {
  VKFD_REAL(scandir);
  PathInfo info = ClassifyPath(path);
  return real_scandir(Target(info, path), names, filter, compare);
}

int scandir64(const char* path, struct dirent64*** names, int (*filter)(const struct dirent64*),
              int (*compare)(const struct dirent64**, const struct dirent64**)) {
  VKFD_REAL(scandir64);
  PathInfo info = ClassifyPath(path);
  return real_scandir64(Target(info, path), names, filter, compare);
}

// ---- stat family, access, readlink, realpath ---------------------------------------------------

int stat(const char* path, struct stat* buf) {
  VKFD_REAL(stat);
  PathInfo info = ClassifyPath(path);
  return real_stat(Target(info, path), buf);
}

int stat64(const char* path, struct stat64* buf) {
  VKFD_REAL(stat64);
  PathInfo info = ClassifyPath(path);
  return real_stat64(Target(info, path), buf);
}

int lstat(const char* path, struct stat* buf) {
  VKFD_REAL(lstat);
  PathInfo info = ClassifyPath(path);
  return real_lstat(Target(info, path), buf);
}

int lstat64(const char* path, struct stat64* buf) {
  VKFD_REAL(lstat64);
  PathInfo info = ClassifyPath(path);
  return real_lstat64(Target(info, path), buf);
}

int fstatat(int dirfd, const char* path, struct stat* buf, int flags) {
  VKFD_REAL(fstatat);
  PathInfo info = ClassifyPath(path);
  return real_fstatat(dirfd, Target(info, path), buf, flags);
}

int fstatat64(int dirfd, const char* path, struct stat64* buf, int flags) {
  VKFD_REAL(fstatat64);
  PathInfo info = ClassifyPath(path);
  return real_fstatat64(dirfd, Target(info, path), buf, flags);
}

// The pre-2.33 ABI, still called by binaries built against older glibc.
int __xstat(int ver, const char* path, struct stat* buf) {
  using Fn = int (*)(int, const char*, struct stat*);
  static const Fn real = Real<Fn>("__xstat");
  PathInfo info = ClassifyPath(path);
  return real(ver, Target(info, path), buf);
}

int __xstat64(int ver, const char* path, struct stat64* buf) {
  using Fn = int (*)(int, const char*, struct stat64*);
  static const Fn real = Real<Fn>("__xstat64");
  PathInfo info = ClassifyPath(path);
  return real(ver, Target(info, path), buf);
}

int __lxstat(int ver, const char* path, struct stat* buf) {
  using Fn = int (*)(int, const char*, struct stat*);
  static const Fn real = Real<Fn>("__lxstat");
  PathInfo info = ClassifyPath(path);
  return real(ver, Target(info, path), buf);
}

int __lxstat64(int ver, const char* path, struct stat64* buf) {
  using Fn = int (*)(int, const char*, struct stat64*);
  static const Fn real = Real<Fn>("__lxstat64");
  PathInfo info = ClassifyPath(path);
  return real(ver, Target(info, path), buf);
}

int __fxstatat(int ver, int dirfd, const char* path, struct stat* buf, int flags) {
  using Fn = int (*)(int, int, const char*, struct stat*, int);
  static const Fn real = Real<Fn>("__fxstatat");
  PathInfo info = ClassifyPath(path);
  return real(ver, dirfd, Target(info, path), buf, flags);
}

int __fxstatat64(int ver, int dirfd, const char* path, struct stat64* buf, int flags) {
  using Fn = int (*)(int, int, const char*, struct stat64*, int);
  static const Fn real = Real<Fn>("__fxstatat64");
  PathInfo info = ClassifyPath(path);
  return real(ver, dirfd, Target(info, path), buf, flags);
}

int statx(int dirfd, const char* path, int flags, unsigned int mask, struct statx* buf) {
  VKFD_REAL(statx);
  PathInfo info = ClassifyPath(path);
  return real_statx(dirfd, Target(info, path), flags, mask, buf);
}

int access(const char* path, int mode) {
  VKFD_REAL(access);
  PathInfo info = ClassifyPath(path);
  return real_access(Target(info, path), mode);
}

int faccessat(int dirfd, const char* path, int mode, int flags) {
  VKFD_REAL(faccessat);
  PathInfo info = ClassifyPath(path);
  return real_faccessat(dirfd, Target(info, path), mode, flags);
}

int euidaccess(const char* path, int mode) {
  VKFD_REAL(euidaccess);
  PathInfo info = ClassifyPath(path);
  return real_euidaccess(Target(info, path), mode);
}

int eaccess(const char* path, int mode) {
  VKFD_REAL(eaccess);
  PathInfo info = ClassifyPath(path);
  return real_eaccess(Target(info, path), mode);
}

ssize_t readlink(const char* path, char* buf, size_t size) {
  VKFD_REAL(readlink);
  PathInfo info = ClassifyPath(path);
  return real_readlink(Target(info, path), buf, size);
}

// Resolves inside the fake root, then reports the path as the program named it (root prefix removed).
char* realpath(const char* path, char* resolved) {
  VKFD_REAL(realpath);
  PathInfo info = ClassifyPath(path);
  if (info.kind == PathKind::kOther) return real_realpath(path, resolved);
  char* result = real_realpath(info.redirected.c_str(), resolved);
  if (result == nullptr) return nullptr;
  const std::string& root = vkfd::shim::SysfsRoot();
  if (strncmp(result, root.c_str(), root.size()) == 0) {
    memmove(result, result + root.size(), strlen(result + root.size()) + 1);
  }
  return result;
}

// ---- fds ---------------------------------------------------------------------------------------

// vkfd's private fds (base/private_fds.h) are not open as far as the program is concerned: close()
// of one is EBADF, and closefrom/close_range leave them alone.
int close(int fd) {
  VKFD_REAL(close);
  if (vkfd::IsPrivateFd(fd)) {
    errno = EBADF;
    return -1;
  }
  // Forget first: once the number is free another thread may reuse it.
  if (FileTable::IsEmulated(fd)) {
    CallGuard guard;
    vkfd::shim::ForgetFd(fd);
  }
  return real_close(fd);
}

namespace {

void ForgetRange(unsigned first, unsigned last) {
  CallGuard guard;
  for (unsigned fd = first; fd <= last && fd < unsigned{FileTable::kMaxFds}; ++fd) {
    if (FileTable::IsEmulated(static_cast<int>(fd))) vkfd::shim::ForgetFd(static_cast<int>(fd));
  }
}

// close_range over [first, last] minus the private fds, in pieces.
int CloseRangeSparing(unsigned first, unsigned last, int flags) {
  VKFD_REAL(close_range);
  while (first <= last) {
    const int next = vkfd::NextPrivateFd(static_cast<int>(first > unsigned{INT_MAX} ? INT_MAX : first));
    if (next < 0 || unsigned(next) > last) return real_close_range(first, last, flags);
    if (unsigned(next) > first && real_close_range(first, unsigned(next) - 1, flags) != 0) return -1;
    if (unsigned(next) == UINT_MAX) break;
    first = unsigned(next) + 1;
  }
  return 0;
}

}  // namespace

int close_range(unsigned int first, unsigned int last, int flags) {
  if ((flags & CLOSE_RANGE_CLOEXEC) == 0) ForgetRange(first, last);
  return CloseRangeSparing(first, last, flags);
}

void closefrom(int lowfd) {
  VKFD_REAL(closefrom);
  const unsigned first = lowfd < 0 ? 0 : unsigned(lowfd);
  ForgetRange(first, ~0u);
  if (vkfd::NextPrivateFd(static_cast<int>(first)) < 0) {
    real_closefrom(lowfd);
    return;
  }
  CloseRangeSparing(first, ~0u, 0);
}

int dup(int fd) {
  VKFD_REAL(dup);
  const int r = real_dup(fd);
  if (r >= 0 && (FileTable::IsEmulated(fd) || FileTable::IsEmulated(r))) {
    CallGuard guard;
    vkfd::shim::DupFd(fd, r);
  }
  return r;
}

int dup2(int oldfd, int newfd) {
  VKFD_REAL(dup2);
  CallGuard guard;
  if (oldfd != newfd && FileTable::IsEmulated(newfd)) {
    // dup2 closes newfd, unless oldfd is invalid: check that first, as the kernel does.
    if (fcntl(oldfd, F_GETFD) < 0) return -1;
    vkfd::shim::ForgetFd(newfd);
  }
  const int r = real_dup2(oldfd, newfd);
  if (r >= 0 && oldfd != newfd) vkfd::shim::DupFd(oldfd, r);
  return r;
}

int dup3(int oldfd, int newfd, int flags) {
  VKFD_REAL(dup3);
  CallGuard guard;
  if (oldfd != newfd && FileTable::IsEmulated(newfd)) {
    if (fcntl(oldfd, F_GETFD) < 0) return -1;
    vkfd::shim::ForgetFd(newfd);
  }
  const int r = real_dup3(oldfd, newfd, flags);
  if (r >= 0) vkfd::shim::DupFd(oldfd, r);
  return r;
}

#define VKFD_FCNTL_BODY(real_fn)                                     \
  va_list ap;                                                        \
  va_start(ap, cmd);                                                 \
  void* arg = va_arg(ap, void*);                                     \
  va_end(ap);                                                        \
  const int r = real_fn(fd, cmd, arg);                               \
  if (r >= 0 && (cmd == F_DUPFD || cmd == F_DUPFD_CLOEXEC) &&        \
      (FileTable::IsEmulated(fd) || FileTable::IsEmulated(r))) {     \
    CallGuard guard;                                                 \
    vkfd::shim::DupFd(fd, r);                                        \
  }                                                                  \
  return r

int fcntl(int fd, int cmd, ...) {
  VKFD_REAL(fcntl);
  VKFD_FCNTL_BODY(real_fcntl);
}

int fcntl64(int fd, int cmd, ...) {
  VKFD_REAL(fcntl64);
  VKFD_FCNTL_BODY(real_fcntl64);
}

// ---- ioctl and mmap ----------------------------------------------------------------------------

int ioctl(int fd, unsigned long request, ...) {
  va_list ap;
  va_start(ap, request);
  void* arg = va_arg(ap, void*);
  va_end(ap);
  const unsigned type = _IOC_TYPE(request);
  if (FileTable::IsEmulated(fd)) {
    CallGuard guard;
    // KFD's and vkfd's commands trust the table (the fast path: no system call). Any other command
    // on an emulated fd is most likely meant for a file that reused the number after a close vkfd
    // did not see (a raw close system call): check the kernel object first.
    std::optional<vkfd::uapi::FileRecord> file =
        type == 'K' || type == 'V' ? FileTable::Find(fd) : vkfd::shim::LiveRecord(fd);
    if (file) {
      // A fence fd inherited from the parent: its FenceFile (and locks) are the parent's.
      if (file->kind != vkfd::uapi::FileRecord::Kind::kFence ||
          file->device->owner_pid() == vkfd::CurrentPid()) {
        return file->device->Ioctl(fd, request, arg);
      }
    }
  }
  // Not in the table: a fence fd or a kfd fd of another process is still recognised by its kernel
  // object (uapi/foreign_files.h). Only KFD's and vkfd's command types are looked at.
  if (type == 'K' || type == 'V') {
    CallGuard guard;
    bool handled = false;
    const int r = vkfd::uapi::ForeignFileIoctl(fd, request, arg, &handled);
    if (handled) return r;
  }
  VKFD_REAL(ioctl);
  return real_ioctl(fd, request, arg);
}

// The host's mmap family, past this interposer (uapi/cpu_mappings.h calls them).
static const vkfd::uapi::HostMm& Host() {
  static const vkfd::uapi::HostMm host{Real<decltype(&::mmap)>("mmap"),
                                       Real<decltype(&::munmap)>("munmap"),
                                       Real<decltype(&::mremap)>("mremap")};
  return host;
}

// Every path below may take vkfd's locks: under a CallGuard (no system call).
static void* MmapImpl(void* addr, size_t length, int prot, int flags, int fd, off_t offset) {
  CallGuard guard;
  // An emulated fd is checked against its kernel object (a number closed behind vkfd's back).
  const std::optional<vkfd::uapi::FileRecord> file =
      fd >= 0 && (flags & MAP_ANONYMOUS) == 0 && FileTable::IsEmulated(fd)
          ? vkfd::shim::LiveRecord(fd)
          : std::nullopt;
  if (file && file->kind == vkfd::uapi::FileRecord::Kind::kRender) {
    return vkfd::uapi::RenderMmap(*file->device, *file, addr, length, prot, flags, offset, Host());
  }
  if (file && file->kind == vkfd::uapi::FileRecord::Kind::kKfd) {
    if (file->device->owner_pid() != vkfd::CurrentPid()) {
      // An inherited kfd fd: the child has no KFD process (kfd_get_process fails).
      errno = EINVAL;
      return MAP_FAILED;
    }
    return vkfd::uapi::KfdMmap(*file->device, addr, length, prot, flags, fd, offset);
  }
  // Anything else goes to the host; a MAP_FIXED one may replace render-node or doorbell mappings.
  return vkfd::uapi::CpuMmapOther(addr, length, prot, flags, fd, offset, Host());
}

void* mmap(void* addr, size_t length, int prot, int flags, int fd, off_t offset) {
  return MmapImpl(addr, length, prot, flags, fd, offset);
}

void* mmap64(void* addr, size_t length, int prot, int flags, int fd, off64_t offset) {
  return MmapImpl(addr, length, prot, flags, fd, offset);
}

int munmap(void* addr, size_t length) {
  CallGuard guard;
  return vkfd::uapi::CpuMunmap(addr, length, Host());
}

void* mremap(void* old_addr, size_t old_length, size_t new_length, int flags, ...) {
  void* new_addr = nullptr;
  if (flags & MREMAP_FIXED) {
    va_list ap;
    va_start(ap, flags);
    new_addr = va_arg(ap, void*);
    va_end(ap);
  }
  CallGuard guard;
  return vkfd::uapi::CpuMremap(old_addr, old_length, new_length, flags, new_addr, Host());
}

// ---- signals: the program's SIGSEGV/SIGBUS handlers run behind vkfd's fault recovery ------------

// Handlers: SIGSEGV/SIGBUS are chained behind the fault recovery (base/user_memory.h); every other
// handler is installed behind the deferring trampoline (base/call_guard.h), so it never runs inside a
// vkfd lock. Masks: SIGSEGV/SIGBUS are never really blocked; the program's view is kept per thread.

int sigaction(int sig, const struct sigaction* act, struct sigaction* old) {
  if (sig == SIGSEGV || sig == SIGBUS) return vkfd::SetChainedHandler(sig, act, old);
  return vkfd::InstallProgramHandler(sig, act, old);
}

namespace {

// The BSD/System V ways of installing a handler: `flags` are what glibc gives each.
sighandler_t InstallWithFlags(int sig, sighandler_t handler, int flags) {
  struct sigaction act {};
  struct sigaction old {};
  act.sa_handler = handler;
  act.sa_flags = flags;
  sigemptyset(&act.sa_mask);
  if (handler != SIG_DFL && handler != SIG_IGN && !(flags & SA_NODEFER)) sigaddset(&act.sa_mask, sig);
  const int r = sig == SIGSEGV || sig == SIGBUS ? vkfd::SetChainedHandler(sig, &act, &old)
                                                : vkfd::InstallProgramHandler(sig, &act, &old);
  if (r != 0) return SIG_ERR;
  return old.sa_handler;
}

bool IsFault(int sig) { return sig == SIGSEGV || sig == SIGBUS; }

// The set to hand to the kernel: the program's, without SIGSEGV/SIGBUS. Records the program's view.
const sigset_t* Stripped(int how, const sigset_t* set, sigset_t* copy) {
  if (set == nullptr) return nullptr;
  *copy = *set;
  for (int sig : {SIGSEGV, SIGBUS}) {
    const bool member = sigismember(set, sig) == 1;
    if (how == SIG_SETMASK) vkfd::SetProgramBlocksFault(sig, member);
    else if (how == SIG_BLOCK && member) vkfd::SetProgramBlocksFault(sig, true);
    else if (how == SIG_UNBLOCK && member) vkfd::SetProgramBlocksFault(sig, false);
    if (how != SIG_UNBLOCK) sigdelset(copy, sig);
  }
  return copy;
}

void AddView(sigset_t* old, bool was[2]) {
  if (old == nullptr) return;
  if (was[0]) sigaddset(old, SIGSEGV);
  if (was[1]) sigaddset(old, SIGBUS);
}

}  // namespace

sighandler_t signal(int sig, sighandler_t handler) {
  return InstallWithFlags(sig, handler, SA_RESTART);  // glibc's signal() has BSD semantics
}

// Resolved by name: glibc declares bsd_signal only for old X/Open levels and marks sigset deprecated.
using SignalFn = sighandler_t (*)(int, sighandler_t);

sighandler_t bsd_signal(int sig, sighandler_t handler) {
  return InstallWithFlags(sig, handler, SA_RESTART);
}

sighandler_t sysv_signal(int sig, sighandler_t handler) {
  return InstallWithFlags(sig, handler, SA_RESETHAND | SA_NODEFER);
}

sighandler_t __sysv_signal(int sig, sighandler_t handler) {
  return InstallWithFlags(sig, handler, SA_RESETHAND | SA_NODEFER);
}

// sigset(): SIG_HOLD blocks the signal (left to libc); anything else unblocks it and installs the
// handler. Returns SIG_HOLD if the signal was blocked before.
sighandler_t sigset(int sig, sighandler_t handler) {
  static const SignalFn real_sigset = Real<SignalFn>("sigset");
  if (handler == SIG_HOLD) {
    if (IsFault(sig)) {
      vkfd::SetProgramBlocksFault(sig, true);
      return SIG_HOLD;  // not really blocked (base/user_memory.h); the previous disposition is kept
    }
    return real_sigset(sig, handler);
  }
  sigset_t set, old_mask;
  sigemptyset(&set);
  sigaddset(&set, sig);
  const bool was_blocked_fault = IsFault(sig) && vkfd::ProgramBlocksFault(sig);
  if (pthread_sigmask(SIG_UNBLOCK, &set, &old_mask) != 0) return SIG_ERR;
  const sighandler_t old = InstallWithFlags(sig, handler, 0);
  if (old == SIG_ERR) return SIG_ERR;
  return sigismember(&old_mask, sig) == 1 || was_blocked_fault ? SIG_HOLD : old;
}

int pthread_sigmask(int how, const sigset_t* set, sigset_t* old) {
  VKFD_REAL(pthread_sigmask);
  bool was[2] = {vkfd::ProgramBlocksFault(SIGSEGV), vkfd::ProgramBlocksFault(SIGBUS)};
  sigset_t copy;
  const int r = real_pthread_sigmask(how, Stripped(how, set, &copy), old);
  if (r == 0) AddView(old, was);
  return r;
}

int sigprocmask(int how, const sigset_t* set, sigset_t* old) {
  VKFD_REAL(sigprocmask);
  bool was[2] = {vkfd::ProgramBlocksFault(SIGSEGV), vkfd::ProgramBlocksFault(SIGBUS)};
  sigset_t copy;
  const int r = real_sigprocmask(how, Stripped(how, set, &copy), old);
  if (r == 0) AddView(old, was);
  return r;
}

int sigsuspend(const sigset_t* mask) {
  VKFD_REAL(sigsuspend);
  sigset_t copy = *mask;
  sigdelset(&copy, SIGSEGV);
  sigdelset(&copy, SIGBUS);
  return real_sigsuspend(&copy);
}

}  // extern "C"

// A mask inherited across exec may block SIGSEGV/SIGBUS: keep the program's view, unblock them.
__attribute__((constructor)) static void UnblockFaultsInherited() {
  sigset_t current;
  if (pthread_sigmask(SIG_BLOCK, nullptr, &current) != 0) return;
  sigset_t faults;
  sigemptyset(&faults);
  for (int sig : {SIGSEGV, SIGBUS}) {
    if (sigismember(&current, sig) != 1) continue;
    vkfd::SetProgramBlocksFault(sig, true);
    sigaddset(&faults, sig);
  }
  static const auto real = Real<int (*)(int, const sigset_t*, sigset_t*)>("pthread_sigmask");
  real(SIG_UNBLOCK, &faults, nullptr);
}

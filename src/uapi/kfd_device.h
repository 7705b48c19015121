// KfdDevice: the character devices of one emulated node — /dev/kfd and the render nodes — as a table
// of open files, and the ioctl entry point that the interposer (shim/) and the conformance tests call.
//
// Files are real file descriptors: each open of /dev/kfd is a fresh memfd, each open of a render node
// a new open file description of that GPU's memory memfd (so a client's mmap of a BO's mmap_offset
// maps the very pages the emulated GPU uses, with no interception), and each fence fd that an
// extension ioctl returns an eventfd (kfd/fence_file.h). The table maps fd numbers to OpenFile
// records; dup'ed fds share the record, as they share a struct file in the kernel.
//
// Fds the device creates itself (fence fds) are announced to an FdObserver before the ioctl that
// made them returns, so that an interposer can route later ioctls on them here; they are forgotten
// through ForgetFd like any other.
//
// Thread-safe: the table has its own lock (a leaf, taken before nothing in kfd/; nothing is called
// out while it is held).
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "base/status.h"
#include "hw/topology/topology.h"
#include "kfd/driver.h"
#include "kfd/fence_file.h"
#include "kfd/process.h"

namespace vkfd::uapi {

struct OpenFile {
  enum class Kind { kKfd, kRender, kFence };
  Kind kind = Kind::kKfd;
  int gpu_index = -1;     // render nodes
  uint64_t file_id = 0;   // unique per open file description
  int opener_pid = 0;     // kfd files: only this process may issue ioctls
  std::shared_ptr<kfd::Process> process;
  std::shared_ptr<kfd::FenceFile> fence;  // fence fds
};

// Told about fds the device creates (fence fds). Called without any device lock held, from the thread
// that issued the ioctl, before the ioctl returns; must be thread-safe and must not call the device.
class FdObserver {
 public:
  virtual ~FdObserver() = default;
  // A new fd is about to be handed out. false: it cannot be tracked (the ioctl then fails with
  // EMFILE, as the kernel's get_unused_fd_flags would, and the fd is closed).
  virtual bool FdCreated(int fd) = 0;
  // An fd announced by FdCreated is taken back before the client saw it (the copy-out failed).
  virtual void FdWithdrawn(int fd) = 0;
};

// One decoded ioctl, for --log-ioctls and traces.
struct IoctlRecord {
  const char* name;
  unsigned long cmd;
  std::string args;  // "handle=0x... n_devices=4 n_success=2"
  int result;        // 0 or -errno
  int64_t duration_ns;
};

class KfdDevice {
 public:
  static std::unique_ptr<KfdDevice> Create(hw::Topology topology, std::string* error);
  ~KfdDevice();

  kfd::Driver& driver() { return *driver_; }

  // open(2) of /dev/kfd and /dev/dri/renderD<minor>: an fd, or -1 with errno.
  int OpenKfd(int flags);
  int OpenRender(int minor, int flags);
  // Bookkeeping for fds the caller closes or duplicates itself.
  void ForgetFd(int fd);
  void DupFd(int oldfd, int newfd);
  std::shared_ptr<OpenFile> Lookup(int fd) const;
  bool IsOurs(int fd) const { return Lookup(fd) != nullptr; }
  // Index of the GPU with this render minor, or -1.
  int GpuIndexForMinor(int minor) const;

  // ioctl(2) on one of our fds: 0 (or a non-negative value) or -1 with errno, exactly like the kernel.
  int Ioctl(int fd, unsigned long cmd, void* arg);

  using IoctlObserver = std::function<void(const IoctlRecord&)>;
  void set_observer(IoctlObserver observer) { observer_ = std::move(observer); }
  // Install before the device is shared; the observer must outlive the device.
  void set_fd_observer(FdObserver* observer) {
    fd_observer_.store(observer, std::memory_order_release);
  }

  // For extension handlers: puts the fence fd `fd` (made by kfd::FenceFile::Create) into the table and
  // announces it. kTooManyFiles if the observer refuses it; the fd is closed then.
  Status InstallFenceFile(int fd, std::shared_ptr<kfd::FenceFile> fence);
  // Takes back an fd InstallFenceFile put in before the client saw it: forgets and closes it.
  void WithdrawFd(int fd);
  // The fence file behind `fd`, or null if `fd` is not one of our fence fds.
  std::shared_ptr<kfd::FenceFile> LookupFenceFile(int fd) const;

 private:
  KfdDevice() = default;
  int Register(int fd, std::shared_ptr<OpenFile> file);

  std::unique_ptr<kfd::Driver> driver_;
  mutable std::shared_mutex mu_;
  std::unordered_map<int, std::shared_ptr<OpenFile>> files_;  // guarded by mu_
  uint64_t next_file_id_ = 1;                                 // guarded by mu_
  std::vector<std::shared_ptr<OpenFile>> closed_;             // guarded by mu_
  IoctlObserver observer_;
  std::atomic<FdObserver*> fd_observer_{nullptr};
};

}  // namespace vkfd::uapi

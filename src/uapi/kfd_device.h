// KfdDevice: the character devices of one emulated node — /dev/kfd and the render nodes — and the
// ioctl entry point that the interposer (shim/) and the conformance tests call.
//
// Files are real file descriptors: each open of /dev/kfd and of a render node is a fresh (empty)
// memfd — mmaps of them are resolved by KfdMmap and RenderMmap (uapi/cpu_mappings.h), which map the
// very pages the emulated GPU uses, and only those the offset names — and each fence fd that an
// extension ioctl returns an eventfd (kfd/fence_file.h). Which fds are ours, and what each refers to,
// is the process's one FileTable (uapi/file_table.h); the device adds the fence files' state.
//
// Thread-safe: fence_mu_ guards the fence files (a leaf: nothing is called out while it is held).
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "base/expected.h"
#include "base/status.h"
#include "base/thread_annotations.h"
#include "hw/topology/topology.h"
#include "kfd/driver.h"
#include "kfd/fence_file.h"
#include "kfd/process.h"
#include "uapi/file_table.h"

namespace vkfd::uapi {

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
  static Expected<std::unique_ptr<KfdDevice>> Create(hw::Topology topology);
  // Forgets every fd of this device in the FileTable.
  ~KfdDevice();

  kfd::Driver& driver() { return *driver_; }
  // The process that created the device (a forked child that opens a device gets its own).
  int owner_pid() const { return owner_pid_; }

  // The inspection file /sys/kernel/debug/vkfd/<gpu_id>/vm: the calling process's page tables on one
  // GPU, walked from GPU memory ("" before the process opened /dev/kfd); kInvalidArgs for an unknown
  // gpu_id.
  Result<std::string> PageTableView(uint32_t gpu_id);
  // What the calling process holds now (the exit report under fault injection).
  struct Usage {
    size_t bos = 0;
    size_t mapped_bos = 0;
  };
  Usage CallerUsage();

  // open(2) of /dev/kfd and /dev/dri/renderD<minor>: an fd, or -1 with errno (EMFILE when the fd
  // number is beyond what the FileTable can track).
  int OpenKfd(int flags);
  int OpenRender(int minor, int flags);
  // Bookkeeping for fds the caller closes or duplicates itself (close, dup family).
  void ForgetFd(int fd);
  void DupFd(int oldfd, int newfd);
  // The file `fd` refers to, if it is one of this device's.
  std::optional<FileRecord> Lookup(int fd) const;
  bool IsOurs(int fd) const { return Lookup(fd).has_value(); }
  // Index of the GPU with this render minor, or -1.
  int GpuIndexForMinor(int minor) const;

  // ioctl(2) on one of our fds: 0 (or a non-negative value) or -1 with errno, exactly like the kernel.
  int Ioctl(int fd, unsigned long cmd, void* arg);

  using IoctlObserver = std::function<void(const IoctlRecord&)>;
  void set_observer(IoctlObserver observer) { observer_ = std::move(observer); }

  // For extension handlers: puts the fence fd `fd` (made by kfd::FenceFile::Create) into the table.
  // kTooManyFiles if the fd number cannot be tracked; the fd is closed then.
  Status InstallFenceFile(int fd, std::shared_ptr<kfd::FenceFile> fence);
  // Takes back an fd InstallFenceFile put in before the client saw it: forgets and closes it.
  void WithdrawFd(int fd);
  // The fence file behind `fd`, or null if `fd` is not one of our fence fds.
  std::shared_ptr<kfd::FenceFile> LookupFenceFile(int fd) const;

 private:
  KfdDevice() = default;
  // Puts `record` (with a new file_id) into the FileTable at `fd`; closes fd and fails with EMFILE
  // if the number cannot be tracked.
  int Register(int fd, FileRecord record);
  // Bookkeeping of the fence files' fd counts after a close or a dup of one of their fds.
  void FenceFdClosed(uint64_t file_id) EXCLUDES(fence_mu_);
  void FenceFdDuped(uint64_t file_id) EXCLUDES(fence_mu_);

  std::unique_ptr<kfd::Driver> driver_;
  int owner_pid_ = 0;
  std::atomic<uint64_t> next_file_id_{1};
  struct FenceEntry {
    std::shared_ptr<kfd::FenceFile> file;
    int fds = 0;  // how many fd numbers refer to it
  };
  mutable Mutex fence_mu_;
  std::unordered_map<uint64_t, FenceEntry> fences_ GUARDED_BY(fence_mu_);  // by file_id
  IoctlObserver observer_;
};

}  // namespace vkfd::uapi

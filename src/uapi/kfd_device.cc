// The device's files and the ioctl dispatcher (kfd_ioctl in kfd_chardev.c).
#include "uapi/kfd_device.h"

#include <fcntl.h>
#include <linux/capability.h>
#include <linux/kfd_ioctl.h>
#include <pthread.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <vector>

#include "base/process_identity.h"
#include "base/trace.h"
#include "base/user_memory.h"
#include "uapi/cpu_mappings.h"
#include "uapi/describe.h"
#include "uapi/errno_table.h"
#include "uapi/ioctl_table.h"

namespace vkfd::uapi {
namespace {

// CAP_CHECKPOINT_RESTORE or CAP_SYS_ADMIN in the caller's effective set, as CRIU_OP requires.
bool MayCheckpointRestore() {
  __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[2] = {};
  if (syscall(SYS_capget, &header, data) != 0) return false;
  auto has = [&](unsigned cap) { return (data[cap / 32].effective >> (cap % 32)) & 1u; };
  constexpr unsigned kCapSysAdmin = 21;
  constexpr unsigned kCapCheckpointRestore = 40;
  return has(kCapSysAdmin) || has(kCapCheckpointRestore);
}

// The log's view of an ioctl refused before its handler ran (EBADF, EACCES, an unknown number):
// the struct as the caller passed it — decoded when the command is known, else its raw bytes (at
// most 64, in hex) — read without side effects; "unreadable" when the pointer is bad.
void DescribeRefused(const IoctlDesc* desc, unsigned long cmd, const void* arg, std::string* out) {
  const size_t usize = _IOC_SIZE(cmd);
  if (desc != nullptr && desc->describe != nullptr) {
    const size_t ksize = _IOC_SIZE(desc->cmd);
    std::vector<unsigned char> data(usize > ksize ? usize : ksize, 0);
    if ((_IOC_DIR(desc->cmd) & _IOC_WRITE) &&
        !CopyFromUser(data.data(), reinterpret_cast<uint64_t>(arg), usize).ok()) {
      *out = "unreadable";
      return;
    }
    desc->describe(data.data(), out);
    return;
  }
  if (usize == 0 || !(_IOC_DIR(cmd) & _IOC_WRITE)) {
    Describe(out, "size=%zu", usize);
    return;
  }
  constexpr size_t kMaxBytes = 64;
  const size_t n = usize < kMaxBytes ? usize : kMaxBytes;
  unsigned char bytes[kMaxBytes];
  if (!CopyFromUser(bytes, reinterpret_cast<uint64_t>(arg), n).ok()) {
    Describe(out, "size=%zu unreadable", usize);
    return;
  }
  std::string hex;
  for (size_t i = 0; i < n; ++i) {
    char b[3];
    snprintf(b, sizeof(b), "%02x", bytes[i]);
    hex += b;
  }
  Describe(out, "size=%zu bytes=%s%s", usize, hex.c_str(), n < usize ? "..." : "");
}

// The open file's access mode, as mmap(2) checks it (FMODE_READ, FMODE_WRITE).
void SetAccessMode(int flags, FileRecord* record) {
  const int mode = flags & O_ACCMODE;
  record->readable = mode != O_WRONLY;
  record->writable = mode != O_RDONLY;
}

}  // namespace

Expected<std::unique_ptr<KfdDevice>> KfdDevice::Create(hw::Topology topology) {
  std::unique_ptr<KfdDevice> device(new KfdDevice());
  auto driver = kfd::Driver::Create(std::move(topology));
  if (!driver.ok()) {
    return Fail(std::string("cannot create the emulated node: ") + CodeName(driver.code()));
  }
  device->driver_ = std::move(driver.value());
  device->owner_pid_ = CurrentPid();
  InstallFaultRecovery();
  return device;
}

Result<std::string> KfdDevice::PageTableView(uint32_t gpu_id) {
  if (!driver_->GpuIndex(gpu_id)) return Code::kInvalidArgs;
  auto process = driver_->FindProcess(CurrentPid());
  if (!process) return std::string();
  return process->DumpVm(gpu_id);
}

KfdDevice::Usage KfdDevice::CallerUsage() {
  auto process = driver_->FindProcess(CurrentPid());
  if (!process) return Usage{};
  const kfd::Process::Usage usage = process->DebugUsage();
  return Usage{usage.bos, usage.mapped_bos};
}

KfdDevice::~KfdDevice() {
  FileTable::ForgetDevice(this);
  ForgetDeviceMappings(this);
}

int KfdDevice::Register(int fd, FileRecord record) {
  record.file_id = next_file_id_.fetch_add(1, std::memory_order_relaxed);
  record.device = this;
  if (!FileTable::Identify(fd, &record) || !FileTable::Install(fd, record)) {
    close(fd);
    errno = EMFILE;
    return -1;
  }
  return fd;
}

Status KfdDevice::InstallFenceFile(int fd, std::shared_ptr<kfd::FenceFile> fence) {
  FileRecord record;
  record.kind = FileRecord::Kind::kFence;
  record.opener_pid = CurrentPid();
  record.file_id = next_file_id_.fetch_add(1, std::memory_order_relaxed);
  record.device = this;
  {
    MutexLock lock(&fence_mu_);
    fences_[record.file_id] = FenceEntry{std::move(fence), 1};
  }
  if (!FileTable::Identify(fd, &record) || !FileTable::Install(fd, record)) {
    FenceFdClosed(record.file_id);
    close(fd);
    return Status(Code::kTooManyFiles);
  }
  return Status::Ok();
}

void KfdDevice::WithdrawFd(int fd) {
  ForgetFd(fd);
  close(fd);
}

void KfdDevice::FenceFdClosed(uint64_t file_id) {
  std::shared_ptr<kfd::FenceFile> last;  // released after the lock
  MutexLock lock(&fence_mu_);
  auto it = fences_.find(file_id);
  if (it == fences_.end()) return;
  if (--it->second.fds == 0) {
    last = std::move(it->second.file);
    fences_.erase(it);
  }
}

void KfdDevice::FenceFdDuped(uint64_t file_id) {
  MutexLock lock(&fence_mu_);
  auto it = fences_.find(file_id);
  if (it != fences_.end()) ++it->second.fds;
}

std::shared_ptr<kfd::FenceFile> KfdDevice::LookupFenceFile(int fd) const {
  const std::optional<FileRecord> file = Lookup(fd);
  if (!file || file->kind != FileRecord::Kind::kFence) return nullptr;
  MutexLock lock(&fence_mu_);
  auto it = fences_.find(file->file_id);
  return it == fences_.end() ? nullptr : it->second.file;
}

int KfdDevice::GpuIndexForMinor(int minor) const {
  const auto& gpus = driver_->topology().gpus;
  for (size_t i = 0; i < gpus.size(); ++i) {
    if (static_cast<int>(gpus[i].drm_render_minor) == minor) return static_cast<int>(i);
  }
  return -1;
}

int KfdDevice::OpenKfd(int flags) {
  int fd = memfd_create("vkfd-kfd", (flags & O_CLOEXEC) ? MFD_CLOEXEC : 0);
  if (fd < 0) return -1;
  // The thunk treats fd 0 as "not open"; the kernel never hands out 0 while stdin is open, and neither
  // do we: move such an fd up.
  if (fd == 0) {
    int moved = fcntl(fd, (flags & O_CLOEXEC) ? F_DUPFD_CLOEXEC : F_DUPFD, 3);
    close(fd);
    if (moved < 0) return -1;
    fd = moved;
  }
  FileRecord record;
  record.kind = FileRecord::Kind::kKfd;
  record.opener_pid = CurrentPid();
  SetAccessMode(flags, &record);
  record.process = driver_->OpenProcess(record.opener_pid).get();  // the driver keeps it alive
  return Register(fd, record);
}

int KfdDevice::OpenRender(int minor, int flags) {
  const int gpu = GpuIndexForMinor(minor);
  if (gpu < 0) {
    errno = ENOENT;
    return -1;
  }
  // An empty memfd: BOs are mapped by RenderMmap (uapi/cpu_mappings.h), which maps exactly the
  // object's pages of the GPU's memory; an mmap that bypasses it reaches no GPU memory at all.
  int fd = memfd_create("vkfd-render", (flags & O_CLOEXEC) ? MFD_CLOEXEC : 0);
  if (fd < 0) return -1;
  if (fd == 0) {  // as OpenKfd: never hand out fd 0
    int moved = fcntl(fd, (flags & O_CLOEXEC) ? F_DUPFD_CLOEXEC : F_DUPFD, 3);
    close(fd);
    if (moved < 0) return -1;
    fd = moved;
  }
  FileRecord record;
  record.kind = FileRecord::Kind::kRender;
  record.gpu_index = static_cast<int8_t>(gpu);
  record.opener_pid = CurrentPid();
  SetAccessMode(flags, &record);
  return Register(fd, record);
}

void KfdDevice::ForgetFd(int fd) {
  const std::optional<FileRecord> old = FileTable::Forget(fd);
  if (old && old->kind == FileRecord::Kind::kFence && old->device == this) FenceFdClosed(old->file_id);
}

void KfdDevice::DupFd(int oldfd, int newfd) {
  ForgetFd(newfd);
  const std::optional<FileRecord> record = FileTable::Dup(oldfd, newfd);
  if (record && record->kind == FileRecord::Kind::kFence && record->device == this) {
    FenceFdDuped(record->file_id);
  }
}

std::optional<FileRecord> KfdDevice::Lookup(int fd) const {
  std::optional<FileRecord> record = FileTable::Find(fd);
  if (!record || record->device != this) return std::nullopt;
  return record;
}

int KfdDevice::Ioctl(int fd, unsigned long cmd, void* arg) {
  const std::optional<FileRecord> record = Lookup(fd);
  const FileRecord* file = record ? &*record : nullptr;
  if (file == nullptr) {
    errno = EBADF;
    return -1;
  }
  if (file->kind == FileRecord::Kind::kRender) {
    // Not a DRM device: what an ioctl on a memfd gives, which libdrm handles cleanly.
    errno = ENOTTY;
    return -1;
  }
  bool traced = trace::On();
  const bool observed = static_cast<bool>(observer_);
  const int64_t start_ns = observed || traced ? trace::NowNs() : 0;

  int result = 0;
  std::string described;
  bool described_ran = false;  // the handler ran: `described` is the struct as copied out
  const unsigned nr = _IOC_NR(cmd);
  const bool fence_file = file->kind == FileRecord::Kind::kFence;
  // Extension commands match as a whole (type 'V', number, size, direction); anything else on
  // /dev/kfd is KFD's, whose dispatch looks at the number only. A fence fd knows only its own two.
  const IoctlDesc* desc = fence_file ? FindFenceFileIoctl(cmd) : FindExtIoctl(cmd);
  if (desc == nullptr && !fence_file) desc = FindIoctl(nr);
  alignas(16) unsigned char stack_data[128];
  std::vector<unsigned char> heap_data;
  unsigned char* kdata = stack_data;
  if (desc == nullptr && fence_file) {
    result = -ENOTTY;  // sync_file_ioctl's default
  } else if (desc == nullptr) {
    // 6.1.y's kfd_ioctl (6.1.192, kfd_chardev.c): a number at or past AMDKFD_CORE_IOCTL_COUNT or
    // outside [AMDKFD_COMMAND_START, AMDKFD_COMMAND_END) is -ENOTTY, before the opener check. That
    // includes ROCm 5.2's private 0x80-0x84 (DBG_TRAP, IPC, cross-memory copy), which the thunk reads
    // as "not supported". (6.1.0 kept the initial -EINVAL here; vkfd follows 6.1.y.)
    result = -ENOTTY;
  } else if (!fence_file && file->opener_pid != CurrentPid()) {
    result = -EBADF;
  } else if (desc->checkpoint_restore && !MayCheckpointRestore()) {
    result = -EACCES;  // 6.1: capable(CAP_CHECKPOINT_RESTORE) || capable(CAP_SYS_ADMIN)
  } else {
    // The kernel's own definition decides direction and minimum size; the user's size bits decide
    // how much is copied. A shorter user struct is zero-extended.
    const size_t usize = _IOC_SIZE(cmd);
    const size_t ksize = _IOC_SIZE(desc->cmd);
    const size_t asize = usize > ksize ? usize : ksize;
    const unsigned dir = _IOC_DIR(desc->cmd);
    if (asize > sizeof(stack_data)) {
      heap_data.resize(asize);
      kdata = heap_data.data();
    }
    memset(kdata, 0, asize);
    const uint64_t user = reinterpret_cast<uint64_t>(arg);
    Code code = Code::kOk;
    if ((dir & _IOC_WRITE) && !CopyFromUser(kdata, user, usize).ok()) {
      code = Code::kFault;
    } else {
      std::shared_ptr<kfd::FenceFile> fence = fence_file ? LookupFenceFile(fd) : nullptr;
      IoctlContext ctx{this, *file, file->process, fence.get(), usize, fd};
      code = fence_file && !fence ? Code::kBadFd : desc->handler(ctx, kdata);
      // kfd_ioctl copies the struct out after the handler, whatever it returned — unless the
      // command's validate hook failed (goto err_i1 before the handler).
      if ((dir & _IOC_READ) && !ctx.validate_failed && !CopyToUser(user, kdata, usize).ok()) {
        code = Code::kFault;
      }
      // An fd the client never learnt of (the copy-out failed) must not stay open: put_unused_fd.
      if (ctx.new_fd >= 0 && code != Code::kOk) WithdrawFd(ctx.new_fd);
    }
    if (observed && desc->describe != nullptr) desc->describe(kdata, &described);
    result = code == Code::kOk ? 0 : -ErrnoFor(code);
    if (observed) described_ran = true;
    // The trace copies the struct and decodes it in its writer thread, off the caller's path.
    if (traced) {
      trace::Ioctl(desc->name, cmd, start_ns, trace::NowNs(), result, desc->describe, kdata, asize);
      traced = false;
    }
  }
  if (observed && !described_ran) DescribeRefused(desc, cmd, arg, &described);
  if (traced) {  // refused before the handler (rare): decoded here, as the log does
    std::string text = described;
    if (!observed) DescribeRefused(desc, cmd, arg, &text);
    trace::IoctlDescribed(desc != nullptr ? desc->name : "UNKNOWN", cmd, start_ns, trace::NowNs(),
                          result, text);
  }
  if (observed) {
    const int64_t ns = trace::NowNs() - start_ns;
    observer_(IoctlRecord{desc != nullptr ? desc->name : "UNKNOWN", cmd, described, result, ns});
  }
  if (result < 0) {
    errno = -result;
    return -1;
  }
  return result;
}

}  // namespace vkfd::uapi

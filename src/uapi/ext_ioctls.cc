// vkfd's extension ioctls (include/vkfd/vkfd_ioctl.h, docs/extensions.md): the designs the 2018 review
// of MAP_MEMORY_TO_GPU proposed instead — async map with fence fds, multi-fence waits, atomic
// TEST_ONLY/COMMIT, per-GPU status — as ABI structs in, kfd/ calls, ABI structs out.
//
// Dispatch (kfd_device.cc) matches these commands as a whole — type 'V', number, size and direction —
// and otherwise leaves the number to KFD's table, which answers EINVAL for 0xE0-0xE7 as 6.1 does for
// every number it lacks. The struct is copied out also on error (n_success, failed_index), as KFD's
// dispatcher does. Fds are handed out last: a handler creates the fence file, installs the fd in the
// device (which announces it to the interposer) and names it in ctx.new_fd, so that a failing
// copy-out withdraws it again.
#include <vkfd/vkfd_ioctl.h>

#include <cinttypes>
#include <cstdio>
#include <memory>
#include <vector>

#include "base/user_memory.h"
#include "kfd/async_map.h"
#include "kfd/atomic_map.h"
#include "kfd/fence_file.h"
#include "kfd/map_status.h"
#include "kfd/process.h"
#include "uapi/errno_table.h"
#include "uapi/describe.h"
#include "uapi/ioctl_table.h"
#include "uapi/kfd_device.h"
#include "uapi/user_arrays.h"

namespace vkfd::uapi {
namespace {

// The same layout for 32- and 64-bit user space (the header promises it).
static_assert(sizeof(vkfd_ext_version_args) == 8);
static_assert(sizeof(vkfd_map_async_args) == 32);
static_assert(sizeof(vkfd_fence_wait_args) == 32);
static_assert(sizeof(vkfd_fence_info_args) == 16);
static_assert(sizeof(vkfd_fence_merge_args) == 16);
static_assert(sizeof(vkfd_map_atomic_args) == 32);
static_assert(sizeof(vkfd_map_status_args) == 32);

// FENCE_WAIT takes at most this many fds (drm_syncobj's wait has no smaller natural bound).
constexpr uint32_t kMaxWaitFds = 4096;
constexpr uint32_t kMaxSubmitBytes = 64u << 20;  // far above any ring a runtime makes

// As MAP: an empty list is EINVAL, one the kernel could not allocate ENOMEM.
Code CopyDeviceList(uint64_t ptr, uint32_t n_devices, std::vector<uint32_t>* ids) {
  if (n_devices == 0) return Code::kInvalidArgs;
  return CopyDeviceIds(ptr, n_devices, ids);
}

// Wraps `fences` in a fence fd for the client: *out receives the fd.
Code HandOutFenceFd(IoctlContext& ctx, std::vector<kfd::FenceRef> fences, int32_t* out) {
  int fd = -1;
  auto file = kfd::FenceFile::Create(std::move(fences), &fd);
  if (!file.ok()) return file.code();
  const Status installed = ctx.device->InstallFenceFile(fd, std::move(file.value()));
  if (!installed.ok()) return installed.code();
  ctx.new_fd = fd;
  *out = fd;
  return Code::kOk;
}

// 1 signalled, 0 pending, or -errno of the first error: sync_file's status encoding.
int32_t StatusOf(const kfd::FenceFile& file) {
  Code error = Code::kOk;
  const int status = file.status(&error);
  return status < 0 ? -ErrnoFor(error) : status;
}

Code ExtVersion(IoctlContext&, vkfd_ext_version_args& args) {
  args.version = VKFD_EXT_VERSION;
  args.reserved = 0;
  return Code::kOk;
}

Code MapOrUnmapAsync(IoctlContext& ctx, vkfd_map_async_args& args, bool unmap) {
  args.fence_fd = -1;
  if (args.flags != 0 || args.n_success > args.n_devices) return Code::kInvalidArgs;
  std::vector<uint32_t> ids;
  const Code copied = CopyDeviceList(args.device_ids_array_ptr, args.n_devices, &ids);
  if (copied != Code::kOk) return copied;
  uint32_t n_success = args.n_success;
  std::vector<kfd::FenceRef> fences;
  const Status status = unmap ? kfd::UnmapAsync(*ctx.process, args.handle, ids, &n_success, &fences)
                              : kfd::MapAsync(*ctx.process, args.handle, ids, &n_success, &fences);
  args.n_success = n_success;  // copied out on error too: the prefix that is dispatched
  if (!status.ok()) return status.code();
  return HandOutFenceFd(ctx, std::move(fences), &args.fence_fd);
}

Code MapAsync(IoctlContext& ctx, vkfd_map_async_args& args) { return MapOrUnmapAsync(ctx, args, false); }
Code UnmapAsync(IoctlContext& ctx, vkfd_map_async_args& args) { return MapOrUnmapAsync(ctx, args, true); }

Code FenceWait(IoctlContext& ctx, vkfd_fence_wait_args& args) {
  args.first_signaled = 0;
  args.error = 0;
  if ((args.flags & ~VKFD_WAIT_ALL) != 0 || args.count == 0 || args.count > kMaxWaitFds) {
    return Code::kInvalidArgs;
  }
  std::vector<int32_t> fds(args.count);
  if (!CopyFromUser(fds.data(), args.fds_ptr, fds.size() * sizeof(int32_t)).ok()) {
    return Code::kFault;
  }
  std::vector<std::shared_ptr<kfd::FenceFile>> files;
  files.reserve(fds.size());
  for (int32_t fd : fds) {
    auto file = ctx.device->LookupFenceFile(fd);
    if (!file) return Code::kNotFound;  // as sync_file's MERGE for an fd that is not a sync_file
    files.push_back(std::move(file));
  }
  uint32_t first = 0;
  const Status waited = kfd::WaitFenceFiles(files, (args.flags & VKFD_WAIT_ALL) != 0,
                                            args.deadline_ns, &first);
  if (!waited.ok()) return waited.code();
  args.first_signaled = first;
  for (const auto& file : files) {
    if (!file->signaled()) continue;
    const int32_t status = StatusOf(*file);
    if (status < 0) {
      args.error = status;
      break;
    }
  }
  return Code::kOk;
}

Code FenceInfo(IoctlContext& ctx, vkfd_fence_info_args& args) {
  const kfd::FenceFile& file = *ctx.fence;
  args.status = StatusOf(file);
  args.num_fences = static_cast<uint32_t>(file.fences().size());
  args.timestamp_ns = file.timestamp_ns();
  return Code::kOk;
}

Code FenceMerge(IoctlContext& ctx, vkfd_fence_merge_args& args) {
  args.fence = -1;
  if (args.flags != 0 || args.reserved != 0) return Code::kInvalidArgs;
  auto other = ctx.device->LookupFenceFile(args.fd2);
  if (!other && kfd::IsFenceFd(args.fd2)) {
    // A fence fd this device did not make (another process's, received or inherited): merged by
    // the fds' own state (kfd::MergeFenceFds). The result is such an fd too (uapi/foreign_files.h).
    Result<int> merged = kfd::MergeFenceFds(ctx.file_fd, args.fd2);
    if (!merged.ok()) return merged.code();
    ctx.new_fd = merged.value();
    args.fence = merged.value();
    return Code::kOk;
  }
  if (!other) return Code::kNotFound;
  std::vector<kfd::FenceRef> fences = ctx.fence->fences();
  fences.insert(fences.end(), other->fences().begin(), other->fences().end());
  return HandOutFenceFd(ctx, std::move(fences), &args.fence);
}

Code MapAtomic(IoctlContext& ctx, vkfd_map_atomic_args& args) {
  args.failed_index = args.n_devices;
  const uint32_t mode_bits = VKFD_MAP_ATOMIC_TEST_ONLY | VKFD_MAP_ATOMIC_COMMIT;
  if ((args.flags & ~mode_bits) != 0 || (args.flags & mode_bits) == 0 ||
      (args.flags & mode_bits) == mode_bits || args.reserved != 0) {
    return Code::kInvalidArgs;
  }
  std::vector<uint32_t> ids;
  const Code copied = CopyDeviceList(args.device_ids_array_ptr, args.n_devices, &ids);
  if (copied != Code::kOk) return copied;
  const auto mode = (args.flags & VKFD_MAP_ATOMIC_TEST_ONLY) != 0 ? kfd::AtomicMapMode::kTestOnly
                                                                   : kfd::AtomicMapMode::kCommit;
  uint32_t failed_index = args.n_devices;
  const Status status = kfd::MapAtomic(*ctx.process, args.handle, ids, mode, &failed_index);
  args.failed_index = failed_index;
  return status.code();
}

Code MapStatus(IoctlContext& ctx, vkfd_map_status_args& args) {
  args.n_failed = 0;
  std::vector<uint32_t> ids;
  const Code copied = CopyDeviceList(args.device_ids_array_ptr, args.n_devices, &ids);
  if (copied != Code::kOk) return copied;
  // The result array is written once before any GPU is touched, so a bad pointer fails the whole
  // call with nothing done.
  std::vector<int32_t> out(ids.size(), 0);
  const size_t out_bytes = out.size() * sizeof(int32_t);
  if (!CopyToUser(args.status_array_ptr, out.data(), out_bytes).ok()) return Code::kFault;
  std::vector<Code> results;
  const Status status = kfd::MapWithStatus(*ctx.process, args.handle, ids, &results);
  if (!status.ok() && status.code() != Code::kInterrupted) return status.code();
  uint32_t failed = 0;
  for (size_t i = 0; i < results.size(); ++i) {
    out[i] = results[i] == Code::kOk ? 0 : -ErrnoFor(results[i]);
    failed += results[i] == Code::kOk ? 0 : 1;
  }
  args.n_failed = failed;
  if (!CopyToUser(args.status_array_ptr, out.data(), out_bytes).ok()) return Code::kFault;
  return status.code();
}

Code Submit(IoctlContext& ctx, vkfd_submit_args& args) {
  if ((args.flags & ~VKFD_SUBMIT_DEFER) != 0 || args.reserved != 0 || args.size_bytes == 0) {
    return Code::kInvalidArgs;
  }
  // No ring is larger than 4 GiB; the copy is bounded by what the ring could take (checked below).
  if (args.size_bytes > kMaxSubmitBytes) return Code::kInvalidArgs;
  std::vector<uint8_t> packets(args.size_bytes);
  if (!CopyFromUser(packets.data(), args.packets_ptr, packets.size()).ok()) return Code::kFault;
  auto position = ctx.process->SubmitToQueue(args.queue_id, packets,
                                             (args.flags & VKFD_SUBMIT_DEFER) == 0);
  if (!position.ok()) return position.code();
  args.position = position.value();
  return Code::kOk;
}

// ---- Decoders for the ioctl log ------------------------------------------------------------------

void DescribeExtVersion(const vkfd_ext_version_args& a, std::string* o) {
  Describe(o, "version=%u", a.version);
}
void DescribeMapAsync(const vkfd_map_async_args& a, std::string* o) {
  Describe(o, "handle=0x%" PRIx64, static_cast<uint64_t>(a.handle));
  Describe(o, "n_devices=%u n_success=%u fence_fd=%d", a.n_devices, a.n_success, a.fence_fd);
}
void DescribeFenceWait(const vkfd_fence_wait_args& a, std::string* o) {
  Describe(o, "count=%u flags=0x%x deadline_ns=%" PRId64, a.count, a.flags,
      static_cast<int64_t>(a.deadline_ns));
  Describe(o, "first_signaled=%u error=%d", a.first_signaled, a.error);
}
void DescribeFenceInfo(const vkfd_fence_info_args& a, std::string* o) {
  Describe(o, "status=%d num_fences=%u timestamp_ns=%" PRId64, a.status, a.num_fences,
      static_cast<int64_t>(a.timestamp_ns));
}
void DescribeFenceMerge(const vkfd_fence_merge_args& a, std::string* o) {
  Describe(o, "fd2=%d fence=%d", a.fd2, a.fence);
}
void DescribeMapAtomic(const vkfd_map_atomic_args& a, std::string* o) {
  Describe(o, "handle=0x%" PRIx64, static_cast<uint64_t>(a.handle));
  Describe(o, "n_devices=%u flags=0x%x failed_index=%u", a.n_devices, a.flags, a.failed_index);
}
void DescribeSubmit(const vkfd_submit_args& a, std::string* o) {
  Describe(o, "queue_id=%u size_bytes=%u flags=0x%x position=%" PRIu64, a.queue_id, a.size_bytes,
           a.flags, static_cast<uint64_t>(a.position));
}
void DescribeMapStatus(const vkfd_map_status_args& a, std::string* o) {
  Describe(o, "handle=0x%" PRIx64, static_cast<uint64_t>(a.handle));
  Describe(o, "n_devices=%u n_failed=%u", a.n_devices, a.n_failed);
}

const IoctlDesc kKfdFdCommands[] = {
    Row<VKFD_IOC_EXT_VERSION, ExtVersion, DescribeExtVersion>(
        "VKFD_EXT_VERSION", "vkfd extension (on /dev/kfd): probe, version 2"),
    Row<VKFD_IOC_MAP_ASYNC, MapAsync, DescribeMapAsync>(
        "VKFD_MAP_ASYNC", "vkfd extension: dispatch, return a fence fd (docs/extensions.md)"),
    Row<VKFD_IOC_UNMAP_ASYNC, UnmapAsync, DescribeMapAsync>(
        "VKFD_UNMAP_ASYNC", "vkfd extension: dispatch, return a fence fd"),
    Row<VKFD_IOC_FENCE_WAIT, FenceWait, DescribeFenceWait>(
        "VKFD_FENCE_WAIT", "vkfd extension: all/any, absolute deadline, kernel restart rule, ETIME"),
    Row<VKFD_IOC_MAP_ATOMIC, MapAtomic, DescribeMapAtomic>(
        "VKFD_MAP_ATOMIC", "vkfd extension: TEST_ONLY / COMMIT all-or-nothing"),
    Row<VKFD_IOC_MAP_STATUS, MapStatus, DescribeMapStatus>(
        "VKFD_MAP_STATUS", "vkfd extension: per-GPU result array"),
    Row<VKFD_IOC_SUBMIT, Submit, DescribeSubmit>(
        "VKFD_SUBMIT", "vkfd extension: packets for a user queue through /dev/kfd (dispatch ioctl)"),
};
const IoctlDesc kFenceFdCommands[] = {
    Row<VKFD_IOC_FENCE_INFO, FenceInfo, DescribeFenceInfo>(
        "VKFD_FENCE_INFO",
        "vkfd extension (on a fence fd): status and timestamp, as SYNC_IOC_FILE_INFO"),
    Row<VKFD_IOC_FENCE_MERGE, FenceMerge, DescribeFenceMerge>(
        "VKFD_FENCE_MERGE",
        "vkfd extension (on a fence fd): a new fd with both fence sets, as SYNC_IOC_MERGE"),
};

template <size_t N>
const IoctlDesc* Match(const IoctlDesc (&table)[N], unsigned long cmd) {
  // Cheap rejection first: every KFD command on the fast path fails the type test.
  if (_IOC_TYPE(cmd) != VKFD_IOCTL_TYPE) return nullptr;
  for (const IoctlDesc& d : table) {
    if (d.cmd == cmd) return &d;
  }
  return nullptr;
}

}  // namespace

const IoctlDesc* FindExtIoctl(unsigned long cmd) { return Match(kKfdFdCommands, cmd); }

std::vector<const IoctlDesc*> ExtIoctls() {
  std::vector<const IoctlDesc*> all;
  for (const IoctlDesc& d : kKfdFdCommands) all.push_back(&d);
  for (const IoctlDesc& d : kFenceFdCommands) all.push_back(&d);
  return all;
}
const IoctlDesc* FindFenceFileIoctl(unsigned long cmd) { return Match(kFenceFdCommands, cmd); }

}  // namespace vkfd::uapi

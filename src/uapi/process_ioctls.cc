// GET_VERSION, apertures, ACQUIRE_VM, SET_MEMORY_POLICY, SET_XNACK_MODE.
#include <fcntl.h>
#include <linux/kfd_ioctl.h>
#include <sys/stat.h>

#include <algorithm>
#include <vector>

#include "base/user_memory.h"
#include "kfd/process.h"
#include "uapi/ioctl_table.h"
#include "uapi/kfd_device.h"
#include "uapi/user_arrays.h"

namespace vkfd::uapi {
namespace {

// kcalloc of the aperture array fails beyond KMALLOC_MAX_SIZE (4 MiB).
constexpr uint64_t kMaxApertureBytes = kKmallocMaxSize;
// The old GET_PROCESS_APERTURES reports at most NUM_OF_SUPPORTED_GPUS nodes.
constexpr uint32_t kOldApertureSlots = NUM_OF_SUPPORTED_GPUS;

void Fill(const kfd::Apertures& a, kfd_process_device_apertures* out) {
  out->gpu_id = a.gpu_id;
  out->lds_base = a.lds_base;
  out->lds_limit = a.lds_limit;
  out->scratch_base = a.scratch_base;
  out->scratch_limit = a.scratch_limit;
  out->gpuvm_base = a.gpuvm_base;
  out->gpuvm_limit = a.gpuvm_limit;
}

}  // namespace

Code GetVersion(IoctlContext&, kfd_ioctl_get_version_args& args) {
  args.major_version = KFD_IOCTL_MAJOR_VERSION;
  args.minor_version = KFD_IOCTL_MINOR_VERSION;
  return Code::kOk;
}

Code GetProcessAperturesNew(IoctlContext& ctx, kfd_ioctl_get_process_apertures_new_args& args) {
  const std::vector<kfd::Apertures> all = ctx.process->GetApertures();
  if (args.num_of_nodes == 0) {
    args.num_of_nodes = static_cast<uint32_t>(all.size());
    return Code::kOk;
  }
  if (uint64_t{args.num_of_nodes} * sizeof(kfd_process_device_apertures) > kMaxApertureBytes) {
    return Code::kNoMemory;
  }
  const uint32_t n = std::min<uint32_t>(args.num_of_nodes, static_cast<uint32_t>(all.size()));
  std::vector<kfd_process_device_apertures> out(n);
  for (uint32_t i = 0; i < n; ++i) Fill(all[i], &out[i]);
  args.num_of_nodes = n;
  if (!CopyToUser(args.kfd_process_device_apertures_ptr, out.data(),
                  out.size() * sizeof(out[0])).ok()) {
    return Code::kFault;
  }
  return Code::kOk;
}

Code GetProcessApertures(IoctlContext& ctx, kfd_ioctl_get_process_apertures_args& args) {
  const std::vector<kfd::Apertures> all = ctx.process->GetApertures();
  args.num_of_nodes = 0;
  for (const kfd::Apertures& a : all) {
    Fill(a, &args.process_apertures[args.num_of_nodes]);
    if (++args.num_of_nodes >= kOldApertureSlots) break;
  }
  return Code::kOk;
}

Code AcquireVm(IoctlContext& ctx, kfd_ioctl_acquire_vm_args& args) {
  const int fd = static_cast<int>(args.drm_fd);
  kfd::DrmFileRef ref;
  if (auto file = ctx.device->Lookup(fd)) {
    ref.file_id = file->file_id;
    ref.gpu_index = file->kind == FileRecord::Kind::kRender ? file->gpu_index : -1;
  } else {
    // fget(): any open file will do for the identity checks; a closed fd is -EINVAL.
    struct stat st;
    if (args.drm_fd > 0x7fffffff || fstat(fd, &st) != 0) return Code::kInvalidArgs;
    ref.file_id = (uint64_t{1} << 63) | ((uint64_t(st.st_dev) << 40) ^ uint64_t(st.st_ino));
    ref.gpu_index = -1;
  }
  return ctx.process->AcquireVm(args.gpu_id, ref).code();
}

Code SetMemoryPolicy(IoctlContext& ctx, kfd_ioctl_set_memory_policy_args& args) {
  return ctx.process
      ->SetMemoryPolicy(args.gpu_id, static_cast<int>(args.default_policy),
                        static_cast<int>(args.alternate_policy), args.alternate_aperture_base,
                        args.alternate_aperture_size)
      .code();
}

// vkfd is a 6.1.y kernel built without CONFIG_HSA_AMD_SVM (it has no SVM ranges, no migration, no
// retry faults): the topology clears HSA_CAP_SVMAPI_SUPPORTED, and kfd_chardev.c's stubs answer.
Code SetXnackMode(IoctlContext&, kfd_ioctl_set_xnack_mode_args&) {
  return Code::kPermission;  // kfd_ioctl_set_xnack_mode without SVM
}

Code Svm(IoctlContext& ctx, kfd_ioctl_svm_args& args) {
  // kfd_ioctl_svm_validate runs first (also without SVM): the user's size must hold nattr attributes.
  const uint64_t expected =
      sizeof(kfd_ioctl_svm_args) + uint64_t{args.nattr} * sizeof(kfd_ioctl_svm_attribute);
  if (ctx.usize < expected) {
    ctx.validate_failed = true;  // kfd_ioctl: goto err_i1, nothing copied out
    return Code::kInvalidArgs;
  }
  return Code::kPermission;  // kfd_ioctl_svm without SVM; the struct is copied out
}

}  // namespace vkfd::uapi

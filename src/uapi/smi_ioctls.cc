// SMI_EVENTS (kfd_ioctl_smi_events, 6.1.y): a client fd of the GPU's SMI events (kfd/smi_events.h).
#include <linux/capability.h>
#include <linux/kfd_ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "kfd/driver.h"
#include "kfd/process.h"
#include "uapi/ioctl_table.h"
#include "uapi/kfd_device.h"

namespace vkfd::uapi {
namespace {

// capable(CAP_SYS_ADMIN), as kfd_smi_event_open records it.
bool CapSysAdmin() {
  __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[2] = {};
  if (syscall(SYS_capget, &header, data) != 0) return false;
  constexpr unsigned kCapSysAdmin = 21;
  return (data[0].effective >> kCapSysAdmin) & 1u;
}

}  // namespace

// kfd_process_device_data_by_id (no binding needed; -EINVAL for an unknown gpu), then
// kfd_smi_event_open. The fd is the client's from now on (anon_fd).
Code SmiEvents(IoctlContext& ctx, kfd_ioctl_smi_events_args& args) {
  if (!ctx.process->HasGpu(args.gpuid)) return Code::kInvalidArgs;
  const auto index = ctx.device->driver().GpuIndex(args.gpuid);
  if (!index) return Code::kInvalidArgs;
  auto fd = ctx.device->driver().smi(*index).Open(ctx.process->pid(), CapSysAdmin());
  if (!fd.ok()) return fd.code();
  args.anon_fd = static_cast<uint32_t>(fd.value());
  return Code::kOk;
}

}  // namespace vkfd::uapi

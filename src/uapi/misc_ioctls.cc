// GET_CLOCK_COUNTERS, SET_SCRATCH_BACKING_VA, SET_TRAP_HANDLER, GET_TILE_CONFIG and the deprecated
// debugger ioctls (0x0D-0x10, -EPERM in 6.1).
#include <linux/kfd_ioctl.h>
#include <time.h>

#include "base/user_memory.h"
#include "hw/gpu_clock.h"
#include "kfd/driver.h"
#include "kfd/process.h"
#include "uapi/ioctl_table.h"
#include "uapi/kfd_device.h"

namespace vkfd::uapi {

// kfd_ioctl_criu for a caller the capability check let through: vkfd has no checkpoint/restore.
Code CriuOp(IoctlContext&, kfd_ioctl_criu_args&) { return Code::kInvalidArgs; }
namespace {

uint64_t ClockNs(clockid_t clock) {
  timespec ts;
  clock_gettime(clock, &ts);
  return uint64_t(ts.tv_sec) * 1000000000ull + uint64_t(ts.tv_nsec);
}

// gfx_v9_0_gpu_early_init for GC 9.4.2 (gfx90a): the golden GB_ADDR_CONFIG. GFX9 sets no tile mode
// tables (zeros) and neither num_banks nor num_ranks.
constexpr uint32_t kGbAddrConfig = 0x22014042;
constexpr uint32_t kNumTileConfigs = 32;       // ARRAY_SIZE(adev->gfx.config.tile_mode_array)
constexpr uint32_t kNumMacroTileConfigs = 16;  // ARRAY_SIZE(macrotile_mode_array)

}  // namespace

Code GetClockCounters(IoctlContext& ctx, kfd_ioctl_get_clock_counters_args& args) {
  const bool known = ctx.device->driver().GpuIndex(args.gpu_id).has_value();
  const uint64_t raw = hw::HostRawNs();
  args.gpu_clock_counter = known ? raw / (1000000000ull / hw::kGpuCounterHz) : 0;
  args.cpu_clock_counter = raw;
  args.system_clock_counter = ClockNs(CLOCK_BOOTTIME);
  args.system_clock_freq = 1000000000ull;
  return Code::kOk;
}

Code SetScratchBackingVa(IoctlContext& ctx, kfd_ioctl_set_scratch_backing_va_args& args) {
  return ctx.process->SetScratchBackingVa(args.gpu_id, args.va_addr).code();
}

Code SetTrapHandler(IoctlContext& ctx, kfd_ioctl_set_trap_handler_args& args) {
  return ctx.process->SetTrapHandler(args.gpu_id, args.tba_addr, args.tma_addr).code();
}

Code GetTileConfig(IoctlContext& ctx, kfd_ioctl_get_tile_config_args& args) {
  if (!ctx.process->HasGpu(args.gpu_id)) return Code::kInvalidArgs;
  static const uint32_t kZeros[kNumTileConfigs] = {};
  args.gb_addr_config = kGbAddrConfig;
  args.num_banks = 0;
  args.num_ranks = 0;
  if (args.num_tile_configs > kNumTileConfigs) args.num_tile_configs = kNumTileConfigs;
  if (!CopyToUser(args.tile_config_ptr, kZeros, args.num_tile_configs * sizeof(uint32_t)).ok()) {
    args.num_tile_configs = 0;
    return Code::kFault;
  }
  if (args.num_macro_tile_configs > kNumMacroTileConfigs) {
    args.num_macro_tile_configs = kNumMacroTileConfigs;
  }
  if (!CopyToUser(args.macro_tile_config_ptr, kZeros,
                  args.num_macro_tile_configs * sizeof(uint32_t)).ok()) {
    args.num_macro_tile_configs = 0;
    return Code::kFault;
  }
  return Code::kOk;
}

}  // namespace vkfd::uapi

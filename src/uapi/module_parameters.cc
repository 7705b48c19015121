// /sys/module/amdgpu/parameters/: amdgpu's module parameters as 6.1.y's amdgpu_drv.c declares them,
// with their defaults (Debian 12 loads amdgpu without options), as sysfs prints them (param_get_int
// "%d", uint "%u", hexint "%#08x", ullong "%llu", bool "Y"/"N", charp "(null)" when unset).
//
// Values are the variables' initial values, which is what sysfs shows: "auto" parameters stay -1
// however the driver resolves them per device (noretry -1 although gfx90a runs with retry faults off
// — gmc.noretry — and num_kcq -1 although 8 are used). CONFIG_HSA_AMD is set (the KFD parameters
// exist); CONFIG_DRM_AMDGPU_SI/CIK with radeon also built: si_support/cik_support 0; pcie_p2p exists
// only in a kernel built with CONFIG_HSA_AMD_P2P — vkfd's topologies with pcie_peer_access describe
// one (pcie_p2p Y), the others one without it (no such file, and no PCIe peer access:
// amdgpu_device_is_peer_accessible is false).
#include "uapi/module_parameters.h"

namespace vkfd::uapi {
namespace {

struct Parameter {
  const char* name;
  const char* value;
  int mode;  // sysfs permissions (0600: root only on a real node; vkfd's tree is the user's own)
};

constexpr Parameter kParameters[] = {
    {"vramlimit", "0", 0600},  // amdgpu_drv.c:225 int
    {"vis_vramlimit", "0", 0444},  // amdgpu_drv.c:232 int
    {"gartsize", "4294967295", 0600},  // amdgpu_drv.c:239 uint
    {"gttsize", "-1", 0600},  // amdgpu_drv.c:247 int
    {"moverate", "-1", 0600},  // amdgpu_drv.c:254 int
    {"audio", "-1", 0444},  // amdgpu_drv.c:261 int
    {"disp_priority", "0", 0444},  // amdgpu_drv.c:268 int
    {"hw_i2c", "0", 0444},  // amdgpu_drv.c:275 int
    {"pcie_gen2", "-1", 0444},  // amdgpu_drv.c:282 int
    {"msi", "-1", 0444},  // amdgpu_drv.c:289 int
    {"lockup_timeout", "", 0444},  // amdgpu_drv.c:312 string
    {"dpm", "-1", 0444},  // amdgpu_drv.c:321 int
    {"fw_load_type", "-1", 0444},  // amdgpu_drv.c:331 int
    {"aspm", "-1", 0444},  // amdgpu_drv.c:338 int
    {"runpm", "-1", 0444},  // amdgpu_drv.c:347 int
    {"ip_block_mask", "4294967295", 0444},  // amdgpu_drv.c:357 uint
    {"bapm", "-1", 0444},  // amdgpu_drv.c:365 int
    {"deep_color", "0", 0444},  // amdgpu_drv.c:372 int
    {"vm_size", "-1", 0444},  // amdgpu_drv.c:379 int
    {"vm_fragment_size", "-1", 0444},  // amdgpu_drv.c:386 int
    {"vm_block_size", "-1", 0444},  // amdgpu_drv.c:393 int
    {"vm_fault_stop", "0", 0444},  // amdgpu_drv.c:400 int
    {"vm_debug", "0", 0644},  // amdgpu_drv.c:407 int
    {"vm_update_mode", "-1", 0444},  // amdgpu_drv.c:415 int
    {"exp_hw_support", "0", 0444},  // amdgpu_drv.c:422 int
    {"dc", "-1", 0444},  // amdgpu_drv.c:429 int
    {"sched_jobs", "32", 0444},  // amdgpu_drv.c:436 int
    {"sched_hw_submission", "2", 0444},  // amdgpu_drv.c:443 int
    {"ppfeaturemask", "0xfff7bfff", 0444},  // amdgpu_drv.c:451 hexint
    {"forcelongtraining", "0", 0444},  // amdgpu_drv.c:459 uint
    {"pcie_gen_cap", "0", 0444},  // amdgpu_drv.c:467 uint
    {"pcie_lane_cap", "0", 0444},  // amdgpu_drv.c:475 uint
    {"cg_mask", "18446744073709551615", 0444},  // amdgpu_drv.c:483 ullong
    {"pg_mask", "4294967295", 0444},  // amdgpu_drv.c:491 uint
    {"sdma_phase_quantum", "32", 0444},  // amdgpu_drv.c:498 uint
    {"disable_cu", "(null)", 0444},  // amdgpu_drv.c:505 charp
    {"virtual_display", "(null)", 0444},  // amdgpu_drv.c:516 charp
    {"job_hang_limit", "0", 0444},  // amdgpu_drv.c:523 int
    {"lbpw", "-1", 0444},  // amdgpu_drv.c:530 int
    {"compute_multipipe", "-1", 0444},  // amdgpu_drv.c:533 int
    {"gpu_recovery", "-1", 0444},  // amdgpu_drv.c:540 int
    {"emu_mode", "0", 0444},  // amdgpu_drv.c:547 int
    {"ras_enable", "-1", 0444},  // amdgpu_drv.c:554 int
    {"ras_mask", "4294967295", 0444},  // amdgpu_drv.c:562 uint
    {"timeout_fatal_disable", "N", 0644},  // amdgpu_drv.c:569 bool
    {"timeout_period", "0", 0644},  // amdgpu_drv.c:576 uint
    {"si_support", "0", 0444},  // amdgpu_drv.c:594 int
    {"cik_support", "0", 0444},  // amdgpu_drv.c:613 int
    {"smu_memory_pool_size", "0", 0444},  // amdgpu_drv.c:624 uint
    {"async_gfx_ring", "1", 0444},  // amdgpu_drv.c:632 int
    {"mcbp", "0", 0444},  // amdgpu_drv.c:640 int
    {"discovery", "-1", 0444},  // amdgpu_drv.c:649 int
    {"mes", "0", 0444},  // amdgpu_drv.c:658 int
    {"mes_kiq", "0", 0444},  // amdgpu_drv.c:667 int
    {"noretry", "-1", 0644},  // amdgpu_drv.c:677 int
    {"force_asic_type", "-1", 0444},  // amdgpu_drv.c:685 int
    {"use_xgmi_p2p", "1", 0444},  // amdgpu_drv.c:693 int
    {"sched_policy", "0", 0444},  // amdgpu_drv.c:704 int
    {"hws_max_conc_proc", "-1", 0444},  // amdgpu_drv.c:714 int
    {"cwsr_enable", "1", 0444},  // amdgpu_drv.c:725 int
    {"max_num_of_queues_per_device", "4096", 0444},  // amdgpu_drv.c:734 int
    {"send_sigterm", "0", 0444},  // amdgpu_drv.c:744 int
    {"debug_largebar", "0", 0444},  // amdgpu_drv.c:756 int
    {"ignore_crat", "0", 0444},  // amdgpu_drv.c:770 int
    {"halt_if_hws_hang", "0", 0644},  // amdgpu_drv.c:780 int
    {"hws_gws_support", "N", 0444},  // amdgpu_drv.c:789 bool
    {"queue_preemption_timeout_ms", "9000", 0644},  // amdgpu_drv.c:797 int
    {"debug_evictions", "N", 0644},  // amdgpu_drv.c:805 bool
    {"no_system_mem_limit", "N", 0644},  // amdgpu_drv.c:813 bool
    {"no_queue_eviction_on_vm_fault", "0", 0444},  // amdgpu_drv.c:822 int
    {"dcfeaturemask", "2", 0444},  // amdgpu_drv.c:841 uint
    {"dcdebugmask", "0", 0444},  // amdgpu_drv.c:848 uint
    {"visualconfirm", "0", 0444},  // amdgpu_drv.c:851 uint
    {"abmlevel", "0", 0444},  // amdgpu_drv.c:867 uint
    {"backlight", "-1", 0444},  // amdgpu_drv.c:871 bint
    {"tmz", "-1", 0444},  // amdgpu_drv.c:881 int
    {"freesync_video", "0", 0444},  // amdgpu_drv.c:907 uint
    {"reset_method", "-1", 0444},  // amdgpu_drv.c:914 int
    {"bad_page_threshold", "-1", 0444},  // amdgpu_drv.c:923 int
    {"num_kcq", "-1", 0444},  // amdgpu_drv.c:926 int
    {"vcnfw_log", "0", 0444},  // amdgpu_drv.c:933 int
    {"sg_display", "-1", 0444},  // amdgpu_drv.c:943 int
    {"smu_pptable_id", "-1", 0444},  // amdgpu_drv.c:952 int
};

}  // namespace

void AddModuleParameters(const hw::Topology& topology, FileMap* files) {
  const std::string dir = "sys/module/amdgpu/parameters/";
  for (const Parameter& p : kParameters) (*files)[dir + p.name] = std::string(p.value) + "\n";
  if (topology.pcie_peer_access) (*files)[dir + "pcie_p2p"] = "Y\n";  // amdgpu_drv.c:831 bool
}

std::string ModuleParameter(const hw::Topology& topology, const std::string& name) {
  FileMap files;
  AddModuleParameters(topology, &files);
  auto it = files.find("sys/module/amdgpu/parameters/" + name);
  return it == files.end() ? std::string() : it->second;
}

}  // namespace vkfd::uapi

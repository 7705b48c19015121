// The table of KFD 1.11's commands (amdkfd_ioctls[] in 6.1's kfd_chardev.c): one row each.
#include "uapi/ioctl_table.h"

#include <cinttypes>
#include <cstdio>

#include "uapi/describe.h"

namespace vkfd::uapi {
namespace {

using U64 = unsigned long long;

// Decoders for the ioctl log, one per argument struct (describe.h). Addresses, sizes, ids and flags
// in hex, counts in decimal; the struct as copied back to the caller (outputs included).
void DescVersion(const kfd_ioctl_get_version_args& a, std::string* o) {
  Describe(o, "major=%u minor=%u", a.major_version, a.minor_version);
}
void DescCreateQueue(const kfd_ioctl_create_queue_args& a, std::string* o) {
  Describe(o, "gpu_id=0x%x type=%u ring=0x%llx ring_size=0x%x rptr=0x%llx wptr=0x%llx", a.gpu_id,
           a.queue_type, U64(a.ring_base_address), a.ring_size, U64(a.read_pointer_address),
           U64(a.write_pointer_address));
  Describe(o, "percentage=%u priority=%u queue_id=%u doorbell_offset=0x%llx", a.queue_percentage,
           a.queue_priority, a.queue_id, U64(a.doorbell_offset));
}
void DescDestroyQueue(const kfd_ioctl_destroy_queue_args& a, std::string* o) {
  Describe(o, "queue_id=%u", a.queue_id);
}
void DescPolicy(const kfd_ioctl_set_memory_policy_args& a, std::string* o) {
  Describe(o, "gpu_id=0x%x default=%u alternate=%u alternate_base=0x%llx alternate_size=0x%llx",
           a.gpu_id, a.default_policy, a.alternate_policy, U64(a.alternate_aperture_base),
           U64(a.alternate_aperture_size));
}
void DescClock(const kfd_ioctl_get_clock_counters_args& a, std::string* o) {
  Describe(o, "gpu_id=0x%x gpu_clock=%llu system_clock_freq=%llu", a.gpu_id,
           U64(a.gpu_clock_counter), U64(a.system_clock_freq));
}
void DescApertures(const kfd_ioctl_get_process_apertures_args& a, std::string* o) {
  Describe(o, "num_of_nodes=%u", a.num_of_nodes);
}
void DescUpdateQueue(const kfd_ioctl_update_queue_args& a, std::string* o) {
  Describe(o, "queue_id=%u ring=0x%llx ring_size=0x%x percentage=%u priority=%u", a.queue_id,
           U64(a.ring_base_address), a.ring_size, a.queue_percentage, a.queue_priority);
}
void DescCreateEvent(const kfd_ioctl_create_event_args& a, std::string* o) {
  Describe(o, "type=%u auto_reset=%u event_page_offset=0x%llx event_id=%u slot=%u", a.event_type,
           a.auto_reset, U64(a.event_page_offset), a.event_id, a.event_slot_index);
}
void DescDestroyEvent(const kfd_ioctl_destroy_event_args& a, std::string* o) {
  Describe(o, "event_id=%u", a.event_id);
}
void DescSetEvent(const kfd_ioctl_set_event_args& a, std::string* o) {
  Describe(o, "event_id=%u", a.event_id);
}
void DescResetEvent(const kfd_ioctl_reset_event_args& a, std::string* o) {
  Describe(o, "event_id=%u", a.event_id);
}
void DescWait(const kfd_ioctl_wait_events_args& a, std::string* o) {
  Describe(o, "events=0x%llx num_events=%u wait_for_all=%u timeout=%u wait_result=%u",
           U64(a.events_ptr), a.num_events, a.wait_for_all, a.timeout, a.wait_result);
}
void DescDbgRegister(const kfd_ioctl_dbg_register_args& a, std::string* o) {
  Describe(o, "gpu_id=0x%x", a.gpu_id);
}
void DescDbgUnregister(const kfd_ioctl_dbg_unregister_args& a, std::string* o) {
  Describe(o, "gpu_id=0x%x", a.gpu_id);
}
void DescDbgWatch(const kfd_ioctl_dbg_address_watch_args& a, std::string* o) {
  Describe(o, "gpu_id=0x%x buf_size=%u", a.gpu_id, a.buf_size_in_bytes);
}
void DescDbgWave(const kfd_ioctl_dbg_wave_control_args& a, std::string* o) {
  Describe(o, "gpu_id=0x%x buf_size=%u", a.gpu_id, a.buf_size_in_bytes);
}
void DescScratch(const kfd_ioctl_set_scratch_backing_va_args& a, std::string* o) {
  Describe(o, "gpu_id=0x%x va=0x%llx", a.gpu_id, U64(a.va_addr));
}
void DescTile(const kfd_ioctl_get_tile_config_args& a, std::string* o) {
  Describe(o, "gpu_id=0x%x num_tile_configs=%u num_macro_tile_configs=%u gb_addr_config=0x%x",
           a.gpu_id, a.num_tile_configs, a.num_macro_tile_configs, a.gb_addr_config);
}
void DescTrap(const kfd_ioctl_set_trap_handler_args& a, std::string* o) {
  Describe(o, "gpu_id=0x%x tba=0x%llx tma=0x%llx", a.gpu_id, U64(a.tba_addr), U64(a.tma_addr));
}
void DescAperturesNew(const kfd_ioctl_get_process_apertures_new_args& a, std::string* o) {
  Describe(o, "apertures=0x%llx num_of_nodes=%u", U64(a.kfd_process_device_apertures_ptr),
           a.num_of_nodes);
}
void DescAcquire(const kfd_ioctl_acquire_vm_args& a, std::string* o) {
  Describe(o, "drm_fd=%u gpu_id=0x%x", a.drm_fd, a.gpu_id);
}
void DescAlloc(const kfd_ioctl_alloc_memory_of_gpu_args& a, std::string* o) {
  Describe(o, "gpu_id=0x%x va=0x%llx size=0x%llx flags=0x%x handle=0x%llx mmap_offset=0x%llx",
           a.gpu_id, U64(a.va_addr), U64(a.size), a.flags, U64(a.handle), U64(a.mmap_offset));
}
void DescFree(const kfd_ioctl_free_memory_of_gpu_args& a, std::string* o) {
  Describe(o, "handle=0x%llx", U64(a.handle));
}
void DescMap(const kfd_ioctl_map_memory_to_gpu_args& a, std::string* o) {
  Describe(o, "handle=0x%llx n_devices=%u n_success=%u", U64(a.handle), a.n_devices, a.n_success);
}
void DescUnmap(const kfd_ioctl_unmap_memory_from_gpu_args& a, std::string* o) {
  Describe(o, "handle=0x%llx n_devices=%u n_success=%u", U64(a.handle), a.n_devices, a.n_success);
}
void DescCuMask(const kfd_ioctl_set_cu_mask_args& a, std::string* o) {
  Describe(o, "queue_id=%u num_cu_mask=%u cu_mask=0x%llx", a.queue_id, a.num_cu_mask,
           U64(a.cu_mask_ptr));
}
void DescWaveState(const kfd_ioctl_get_queue_wave_state_args& a, std::string* o) {
  Describe(o, "queue_id=%u ctl_stack=0x%llx ctl_stack_used_size=%u save_area_used_size=%u",
           a.queue_id, U64(a.ctl_stack_address), a.ctl_stack_used_size, a.save_area_used_size);
}
void DescDmabufInfo(const kfd_ioctl_get_dmabuf_info_args& a, std::string* o) {
  Describe(o, "dmabuf_fd=%u size=0x%llx gpu_id=0x%x flags=0x%x metadata_size=%u", a.dmabuf_fd,
           U64(a.size), a.gpu_id, a.flags, a.metadata_size);
}
void DescImportDmabuf(const kfd_ioctl_import_dmabuf_args& a, std::string* o) {
  Describe(o, "dmabuf_fd=%u gpu_id=0x%x va=0x%llx handle=0x%llx", a.dmabuf_fd, a.gpu_id,
           U64(a.va_addr), U64(a.handle));
}
void DescGws(const kfd_ioctl_alloc_queue_gws_args& a, std::string* o) {
  Describe(o, "queue_id=%u num_gws=%u first_gws=%u", a.queue_id, a.num_gws, a.first_gws);
}
void DescSmi(const kfd_ioctl_smi_events_args& a, std::string* o) {
  Describe(o, "gpuid=0x%x anon_fd=%u", a.gpuid, a.anon_fd);
}
void DescSvm(const kfd_ioctl_svm_args& a, std::string* o) {
  Describe(o, "start=0x%llx size=0x%llx op=%u nattr=%u", U64(a.start_addr), U64(a.size), a.op,
           a.nattr);
}
void DescXnack(const kfd_ioctl_set_xnack_mode_args& a, std::string* o) {
  Describe(o, "xnack_enabled=%d", a.xnack_enabled);
}
void DescCriu(const kfd_ioctl_criu_args& a, std::string* o) {
  Describe(o, "op=%u pid=%u num_devices=%u num_bos=%u num_objects=%u", a.op, a.pid, a.num_devices,
           a.num_bos, a.num_objects);
}
void DescAvail(const kfd_ioctl_get_available_memory_args& a, std::string* o) {
  Describe(o, "gpu_id=0x%x available=0x%llx", a.gpu_id, U64(a.available));
}

// Every number the 6.1 kernel defines, in its order, with what vkfd does (the support matrix,
// docs/support-matrix.md, is generated from these notes: `vkfd support-matrix`).
constexpr IoctlDesc kRows[] = {
    Row<AMDKFD_IOC_GET_VERSION, GetVersion, DescVersion>("GET_VERSION", "1.11, as 6.1"),
    Row<AMDKFD_IOC_CREATE_QUEUE, CreateQueue, DescCreateQueue>(
        "CREATE_QUEUE",
        "AQL, PM4 and SDMA queues that execute (docs/gpu-side.md); 6.1's checks, ring_size clamp, "
        "limits (127 per GPU, 1024 per process, 4096 per GPU), device-wide SDMA slots and doorbells"),
    Row<AMDKFD_IOC_DESTROY_QUEUE, DestroyQueue, DescDestroyQueue>(
        "DESTROY_QUEUE", "waits for the packet in flight; EINVAL unknown queue"),
    Row<AMDKFD_IOC_SET_MEMORY_POLICY, SetMemoryPolicy, DescPolicy>(
        "SET_MEMORY_POLICY",
        "policies checked; GFX9 has no APE1, so any aperture is accepted, as 6.1; ESRCH unbound"),
    Row<AMDKFD_IOC_GET_CLOCK_COUNTERS, GetClockCounters, DescClock>(
        "GET_CLOCK_COUNTERS", "CLOCK_MONOTONIC_RAW counters, system_clock_freq 1e9"),
    Row<AMDKFD_IOC_GET_PROCESS_APERTURES, GetProcessApertures, DescApertures>(
        "GET_PROCESS_APERTURES", "GFX9 apertures, at most 7 nodes"),
    Row<AMDKFD_IOC_UPDATE_QUEUE, UpdateQueue, DescUpdateQueue>(
        "UPDATE_QUEUE", "new ring, suspend (percentage 0) and resume; EFAULT unknown queue, as 6.1"),
    Row<AMDKFD_IOC_CREATE_EVENT, CreateEvent, DescCreateEvent>(
        "CREATE_EVENT",
        "signal events with an event page (the client's BO or the kernel's), other types without"),
    Row<AMDKFD_IOC_DESTROY_EVENT, DestroyEvent, DescDestroyEvent>("DESTROY_EVENT",
                                                                  "wakes its waiters with FAIL"),
    Row<AMDKFD_IOC_SET_EVENT, SetEvent, DescSetEvent>(
        "SET_EVENT", "signal events; auto-reset semantics of set_event()"),
    Row<AMDKFD_IOC_RESET_EVENT, ResetEvent, DescResetEvent>("RESET_EVENT", "signal events"),
    Row<AMDKFD_IOC_WAIT_EVENTS, WaitEvents, DescWait>(
        "WAIT_EVENTS",
        "all/any, timeouts as user_timeout_to_jiffies, interruptible with the kernel's restart rule "
        "and remaining-time rewrite"),
    Row<AMDKFD_IOC_DBG_REGISTER_DEPRECATED, DeprecatedDebug<kfd_ioctl_dbg_register_args>,
        DescDbgRegister>("DBG_REGISTER", "EPERM, as 6.1 (deprecated)"),
    Row<AMDKFD_IOC_DBG_UNREGISTER_DEPRECATED, DeprecatedDebug<kfd_ioctl_dbg_unregister_args>,
        DescDbgUnregister>("DBG_UNREGISTER", "EPERM, as 6.1 (deprecated)"),
    Row<AMDKFD_IOC_DBG_ADDRESS_WATCH_DEPRECATED,
        DeprecatedDebug<kfd_ioctl_dbg_address_watch_args>, DescDbgWatch>(
        "DBG_ADDRESS_WATCH", "EPERM, as 6.1 (deprecated)"),
    Row<AMDKFD_IOC_DBG_WAVE_CONTROL_DEPRECATED, DeprecatedDebug<kfd_ioctl_dbg_wave_control_args>,
        DescDbgWave>("DBG_WAVE_CONTROL", "EPERM, as 6.1 (deprecated)"),
    Row<AMDKFD_IOC_SET_SCRATCH_BACKING_VA, SetScratchBackingVa, DescScratch>(
        "SET_SCRATCH_BACKING_VA", "recorded per GPU"),
    Row<AMDKFD_IOC_GET_TILE_CONFIG, GetTileConfig, DescTile>("GET_TILE_CONFIG", "gfx90a values"),
    Row<AMDKFD_IOC_SET_TRAP_HANDLER, SetTrapHandler, DescTrap>("SET_TRAP_HANDLER",
                                                                "recorded per GPU"),
    Row<AMDKFD_IOC_GET_PROCESS_APERTURES_NEW, GetProcessAperturesNew, DescAperturesNew>(
        "GET_PROCESS_APERTURES_NEW", "count query, min(n, GPUs) entries; ENOMEM above 4 MiB"),
    Row<AMDKFD_IOC_ACQUIRE_VM, AcquireVm, DescAcquire>(
        "ACQUIRE_VM", "render-node files only; maps the IB and CWSR pages; EBUSY for another file"),
    Row<AMDKFD_IOC_ALLOC_MEMORY_OF_GPU, AllocMemoryOfGpu, DescAlloc>(
        "ALLOC_MEMORY_OF_GPU",
        "VRAM, GTT, USERPTR, DOORBELL, MMIO_REMAP, AQL; 6.1.y limits (VRAM in pages, one PT "
        "reserve), USERPTR EPERM/EFAULT, DRM mmap offsets (docs/semantics.md)"),
    Row<AMDKFD_IOC_FREE_MEMORY_OF_GPU, FreeMemoryOfGpu, DescFree>(
        "FREE_MEMORY_OF_GPU",
        "EBUSY while mapped (half-mapped AQL too), EPERM for the event page; memory lives until "
        "the last CPU munmap"),
    Row<AMDKFD_IOC_MAP_MEMORY_TO_GPU, MapMemoryToGpu, DescMap>(
        "MAP_MEMORY_TO_GPU",
        "n_success prefix, idempotent per GPU, interruptible wait under the process mutex, AQL "
        "upper half first (docs/semantics.md)"),
    Row<AMDKFD_IOC_UNMAP_MEMORY_FROM_GPU, UnmapMemoryFromGpu, DescUnmap>(
        "UNMAP_MEMORY_FROM_GPU",
        "n_success prefix, not idempotent, wait and heavyweight TLB flush under the process mutex"),
    Row<AMDKFD_IOC_SET_CU_MASK, SetCuMask, DescCuMask>(
        "SET_CU_MASK", "6.1's checks (EINVAL, EFAULT); the emulated CP has no CUs to mask"),
    Row<AMDKFD_IOC_GET_QUEUE_WAVE_STATE, GetQueueWaveState, DescWaveState>(
        "GET_QUEUE_WAVE_STATE", "compute queues not running: empty control stack; EINVAL SDMA or "
                                "active, EFAULT unknown"),
    Row<AMDKFD_IOC_GET_DMABUF_INFO, GetDmabufInfo, DescDmabufInfo>(
        "GET_DMABUF_INFO", "6.1's errors: EBADF closed fd, EINVAL not a dma-buf or not amdgpu's "
                           "(vkfd exports none)"),
    Row<AMDKFD_IOC_IMPORT_DMABUF, ImportDmabuf, DescImportDmabuf>(
        "IMPORT_DMABUF", "6.1's errors: EBADF closed fd, EINVAL not a dma-buf, unknown gpu or not "
                         "amdgpu's; ENODEV unbound"),
    Row<AMDKFD_IOC_ALLOC_QUEUE_GWS, AllocQueueGws, DescGws>(
        "ALLOC_QUEUE_GWS", "bookkeeping as 6.1: one GWS queue per process and GPU (EBUSY), "
                           "first_gws 0; ENODEV without GWS"),
    Row<AMDKFD_IOC_SMI_EVENTS, SmiEvents, DescSmi>(
        "SMI_EVENTS", "an fd per client: write(2) the event mask, read(2) the kernel's text lines; "
                      "VM faults (EINVAL unknown gpu)"),
    Row<AMDKFD_IOC_SVM, Svm, DescSvm>(
        "SVM", "as 6.1.y without CONFIG_HSA_AMD_SVM: EINVAL when the size cannot hold nattr "
               "attributes (kfd_ioctl_svm_validate), else EPERM; capability bit 27 clear"),
    Row<AMDKFD_IOC_SET_XNACK_MODE, SetXnackMode, DescXnack>(
        "SET_XNACK_MODE", "EPERM, as 6.1.y without CONFIG_HSA_AMD_SVM (ROCr then assumes XNACK off)"),
    Row<AMDKFD_IOC_CRIU_OP, CriuOp, DescCriu>(
        "CRIU_OP",
        "EACCES without CAP_CHECKPOINT_RESTORE or CAP_SYS_ADMIN, as 6.1; privileged callers get "
        "EINVAL (no checkpoint/restore)",
        /*checkpoint_restore=*/true),
    Row<AMDKFD_IOC_AVAILABLE_MEMORY, AvailableMemory, DescAvail>(
        "AVAILABLE_MEMORY",
        "VRAM - 2 MiB-aligned use - pinned - node-wide PT reserve; 0 where 6.1.y wraps"),
};

constexpr unsigned kTableSize = AMDKFD_COMMAND_END;  // 0x24 on 6.1

struct Table {
  const IoctlDesc* by_nr[kTableSize] = {};
  Table() {
    for (const IoctlDesc& row : kRows) by_nr[_IOC_NR(row.cmd)] = &row;
  }
};

const Table& GetTable() {
  static const Table table;
  return table;
}

}  // namespace

const IoctlDesc* FindIoctl(unsigned nr) {
  if (nr >= kTableSize) return nullptr;
  return GetTable().by_nr[nr];
}

std::vector<const IoctlDesc*> AllIoctls() {
  std::vector<const IoctlDesc*> all;
  for (const IoctlDesc& row : kRows) all.push_back(&row);
  for (const IoctlDesc* d : ExtIoctls()) all.push_back(d);
  return all;
}

std::string IoctlName(unsigned long cmd) {
  const IoctlDesc* d = FindIoctl(_IOC_NR(cmd));
  if (d != nullptr && d->name != nullptr) return d->name;
  // ROCm 5.2's thunk numbers outside the upstream table.
  switch (_IOC_NR(cmd)) {
    case 0x80: return "IPC_IMPORT_HANDLE";
    case 0x81: return "IPC_EXPORT_HANDLE";
    case 0x82: return "DBG_TRAP";
    case 0x83: return "CROSS_MEMORY_COPY";
    case 0x84: return "RLC_SPM";
    default: break;
  }
  char buf[32];
  snprintf(buf, sizeof(buf), "0x%02x", static_cast<unsigned>(_IOC_NR(cmd)));
  return buf;
}

}  // namespace vkfd::uapi

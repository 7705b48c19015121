#include "uapi/ioctl_table.h"

#include <linux/kfd_ioctl.h>

#include <cstdio>

#include "uapi/describe.h"

namespace vkfd::uapi {
namespace {

// Decoders for the ioctl log, one per argument struct (describe.h). Addresses, sizes, ids and flags
// in hex, counts in decimal.
void DescAlloc(const void* d, std::string* o) {
  const auto& a = Args<kfd_ioctl_alloc_memory_of_gpu_args>(d);
  Describe(o, "gpu_id=0x%x va=0x%llx size=0x%llx flags=0x%x handle=0x%llx mmap_offset=0x%llx",
           a.gpu_id, (unsigned long long)a.va_addr, (unsigned long long)a.size, a.flags,
           (unsigned long long)a.handle, (unsigned long long)a.mmap_offset);
}
void DescFree(const void* d, std::string* o) {
  Describe(o, "handle=0x%llx", (unsigned long long)Args<kfd_ioctl_free_memory_of_gpu_args>(d).handle);
}
void DescMap(const void* d, std::string* o) {
  const auto& a = Args<kfd_ioctl_map_memory_to_gpu_args>(d);
  Describe(o, "handle=0x%llx n_devices=%u n_success=%u", (unsigned long long)a.handle, a.n_devices,
           a.n_success);
}
void DescAcquire(const void* d, std::string* o) {
  const auto& a = Args<kfd_ioctl_acquire_vm_args>(d);
  Describe(o, "drm_fd=%u gpu_id=0x%x", a.drm_fd, a.gpu_id);
}
void DescAvail(const void* d, std::string* o) {
  const auto& a = Args<kfd_ioctl_get_available_memory_args>(d);
  Describe(o, "gpu_id=0x%x available=0x%llx", a.gpu_id, (unsigned long long)a.available);
}
void DescVersion(const void* d, std::string* o) {
  const auto& a = Args<kfd_ioctl_get_version_args>(d);
  Describe(o, "major=%u minor=%u", a.major_version, a.minor_version);
}
void DescPolicy(const void* d, std::string* o) {
  const auto& a = Args<kfd_ioctl_set_memory_policy_args>(d);
  Describe(o, "gpu_id=0x%x default=%u alternate=%u", a.gpu_id, a.default_policy,
           a.alternate_policy);
}
void DescAperturesNew(const void* d, std::string* o) {
  Describe(o, "num_of_nodes=%u", Args<kfd_ioctl_get_process_apertures_new_args>(d).num_of_nodes);
}
void DescXnack(const void* d, std::string* o) {
  Describe(o, "xnack_enabled=%d", Args<kfd_ioctl_set_xnack_mode_args>(d).xnack_enabled);
}
void DescClock(const void* d, std::string* o) {
  const auto& a = Args<kfd_ioctl_get_clock_counters_args>(d);
  Describe(o, "gpu_id=0x%x gpu_clock=%llu system_clock_freq=%llu", a.gpu_id,
           (unsigned long long)a.gpu_clock_counter, (unsigned long long)a.system_clock_freq);
}
void DescCreateEvent(const void* d, std::string* o) {
  const auto& a = Args<kfd_ioctl_create_event_args>(d);
  Describe(o, "type=%u auto_reset=%u event_page_offset=0x%llx event_id=%u slot=%u", a.event_type,
           a.auto_reset, (unsigned long long)a.event_page_offset, a.event_id, a.event_slot_index);
}
void DescEventId(const void* d, std::string* o) {
  Describe(o, "event_id=%u", Args<kfd_ioctl_set_event_args>(d).event_id);
}
void DescWait(const void* d, std::string* o) {
  const auto& a = Args<kfd_ioctl_wait_events_args>(d);
  Describe(o, "num_events=%u wait_for_all=%u timeout=%u wait_result=%u", a.num_events,
           a.wait_for_all, a.timeout, a.wait_result);
}
void DescScratch(const void* d, std::string* o) {
  const auto& a = Args<kfd_ioctl_set_scratch_backing_va_args>(d);
  Describe(o, "gpu_id=0x%x va=0x%llx", a.gpu_id, (unsigned long long)a.va_addr);
}
void DescTrap(const void* d, std::string* o) {
  const auto& a = Args<kfd_ioctl_set_trap_handler_args>(d);
  Describe(o, "gpu_id=0x%x tba=0x%llx tma=0x%llx", a.gpu_id, (unsigned long long)a.tba_addr,
           (unsigned long long)a.tma_addr);
}
void DescTile(const void* d, std::string* o) {
  const auto& a = Args<kfd_ioctl_get_tile_config_args>(d);
  Describe(o, "gpu_id=0x%x num_tile_configs=%u gb_addr_config=0x%x", a.gpu_id, a.num_tile_configs,
           a.gb_addr_config);
}
void DescCreateQueue(const void* d, std::string* o) {
  const auto& a = Args<kfd_ioctl_create_queue_args>(d);
  Describe(o, "gpu_id=0x%x type=%u ring=0x%llx ring_size=0x%x queue_id=%u doorbell_offset=0x%llx",
           a.gpu_id, a.queue_type, (unsigned long long)a.ring_base_address, a.ring_size, a.queue_id,
           (unsigned long long)a.doorbell_offset);
}
void DescQueueId(const void* d, std::string* o) {
  Describe(o, "queue_id=%u", Args<kfd_ioctl_destroy_queue_args>(d).queue_id);
}
void DescUpdateQueue(const void* d, std::string* o) {
  const auto& a = Args<kfd_ioctl_update_queue_args>(d);
  Describe(o, "queue_id=%u ring=0x%llx ring_size=0x%x", a.queue_id,
           (unsigned long long)a.ring_base_address, a.ring_size);
}

constexpr unsigned kTableSize = AMDKFD_COMMAND_END;  // 0x24 on 6.1

struct Table {
  IoctlDesc entries[kTableSize];
  Table() {
    auto set = [this](unsigned long cmd, IoctlHandler h, const char* name,
                      IoctlDescriber d = nullptr) {
      entries[_IOC_NR(cmd)] = IoctlDesc{cmd, h, name, d};
    };
    // Every number the 6.1 kernel defines gets its definition (sizes and directions matter for
    // dispatch even where vkfd has no handler yet).
    set(AMDKFD_IOC_GET_VERSION, GetVersion, "GET_VERSION",
        DescVersion);
    set(AMDKFD_IOC_CREATE_QUEUE, CreateQueue, "CREATE_QUEUE",
        DescCreateQueue);
    set(AMDKFD_IOC_DESTROY_QUEUE, DestroyQueue, "DESTROY_QUEUE",
        DescQueueId);
    set(AMDKFD_IOC_SET_MEMORY_POLICY, SetMemoryPolicy, "SET_MEMORY_POLICY",
        DescPolicy);
    set(AMDKFD_IOC_GET_CLOCK_COUNTERS, GetClockCounters, "GET_CLOCK_COUNTERS",
        DescClock);
    set(AMDKFD_IOC_GET_PROCESS_APERTURES, GetProcessApertures, "GET_PROCESS_APERTURES");
    set(AMDKFD_IOC_UPDATE_QUEUE, UpdateQueue, "UPDATE_QUEUE",
        DescUpdateQueue);
    set(AMDKFD_IOC_CREATE_EVENT, CreateEvent, "CREATE_EVENT",
        DescCreateEvent);
    set(AMDKFD_IOC_DESTROY_EVENT, DestroyEvent, "DESTROY_EVENT",
        DescEventId);
    set(AMDKFD_IOC_SET_EVENT, SetEvent, "SET_EVENT", DescEventId);
    set(AMDKFD_IOC_RESET_EVENT, ResetEvent, "RESET_EVENT",
        DescEventId);
    set(AMDKFD_IOC_WAIT_EVENTS, WaitEvents, "WAIT_EVENTS",
        DescWait);
    set(AMDKFD_IOC_DBG_REGISTER_DEPRECATED, DeprecatedDebug, "DBG_REGISTER");
    set(AMDKFD_IOC_DBG_UNREGISTER_DEPRECATED, DeprecatedDebug, "DBG_UNREGISTER");
    set(AMDKFD_IOC_DBG_ADDRESS_WATCH_DEPRECATED, DeprecatedDebug, "DBG_ADDRESS_WATCH");
    set(AMDKFD_IOC_DBG_WAVE_CONTROL_DEPRECATED, DeprecatedDebug, "DBG_WAVE_CONTROL");
    set(AMDKFD_IOC_SET_SCRATCH_BACKING_VA, SetScratchBackingVa, "SET_SCRATCH_BACKING_VA",
        DescScratch);
    set(AMDKFD_IOC_GET_TILE_CONFIG, GetTileConfig, "GET_TILE_CONFIG",
        DescTile);
    set(AMDKFD_IOC_SET_TRAP_HANDLER, SetTrapHandler, "SET_TRAP_HANDLER",
        DescTrap);
    set(AMDKFD_IOC_GET_PROCESS_APERTURES_NEW, GetProcessAperturesNew, "GET_PROCESS_APERTURES_NEW",
        DescAperturesNew);
    set(AMDKFD_IOC_ACQUIRE_VM, AcquireVm, "ACQUIRE_VM", DescAcquire);
    set(AMDKFD_IOC_ALLOC_MEMORY_OF_GPU, AllocMemoryOfGpu, "ALLOC_MEMORY_OF_GPU",
        DescAlloc);
    set(AMDKFD_IOC_FREE_MEMORY_OF_GPU, FreeMemoryOfGpu, "FREE_MEMORY_OF_GPU",
        DescFree);
    set(AMDKFD_IOC_MAP_MEMORY_TO_GPU, MapMemoryToGpu, "MAP_MEMORY_TO_GPU",
        DescMap);
    set(AMDKFD_IOC_UNMAP_MEMORY_FROM_GPU, UnmapMemoryFromGpu, "UNMAP_MEMORY_FROM_GPU",
        DescMap);
    set(AMDKFD_IOC_SET_CU_MASK, nullptr, "SET_CU_MASK");
    set(AMDKFD_IOC_GET_QUEUE_WAVE_STATE, nullptr, "GET_QUEUE_WAVE_STATE");
    set(AMDKFD_IOC_GET_DMABUF_INFO, nullptr, "GET_DMABUF_INFO");
    set(AMDKFD_IOC_IMPORT_DMABUF, nullptr, "IMPORT_DMABUF");
    set(AMDKFD_IOC_ALLOC_QUEUE_GWS, nullptr, "ALLOC_QUEUE_GWS");
    set(AMDKFD_IOC_SMI_EVENTS, nullptr, "SMI_EVENTS");
    set(AMDKFD_IOC_SVM, nullptr, "SVM");
    set(AMDKFD_IOC_SET_XNACK_MODE, SetXnackMode, "SET_XNACK_MODE",
        DescXnack);
    set(AMDKFD_IOC_CRIU_OP, CriuOp, "CRIU_OP");
    entries[_IOC_NR(AMDKFD_IOC_CRIU_OP)].checkpoint_restore = true;
    set(AMDKFD_IOC_AVAILABLE_MEMORY, AvailableMemory, "AVAILABLE_MEMORY",
        DescAvail);

    // The support matrix (docs/support-matrix.md is generated from this: `vkfd support-matrix`).
    auto note = [this](unsigned long cmd, const char* text) { entries[_IOC_NR(cmd)].support = text; };
    note(AMDKFD_IOC_GET_VERSION, "1.11, as 6.1");
    note(AMDKFD_IOC_CREATE_QUEUE, "bookkeeping: queue ids, doorbell slots and the 6.1 doorbell-offset "
                                  "encoding; nothing executes");
    note(AMDKFD_IOC_DESTROY_QUEUE, "bookkeeping");
    note(AMDKFD_IOC_SET_MEMORY_POLICY, "policies checked; GFX9 has no APE1, so any aperture is "
                                       "accepted, as 6.1; ESRCH unbound");
    note(AMDKFD_IOC_GET_CLOCK_COUNTERS, "CLOCK_MONOTONIC_RAW counters, system_clock_freq 1e9");
    note(AMDKFD_IOC_GET_PROCESS_APERTURES, "GFX9 apertures, at most 7 nodes");
    note(AMDKFD_IOC_UPDATE_QUEUE, "bookkeeping; EFAULT for an unknown queue, as 6.1");
    note(AMDKFD_IOC_CREATE_EVENT, "signal events with an event page (the client's BO or the kernel's), "
                                  "other types without");
    note(AMDKFD_IOC_DESTROY_EVENT, "wakes its waiters with FAIL");
    note(AMDKFD_IOC_SET_EVENT, "signal events; auto-reset semantics of set_event()");
    note(AMDKFD_IOC_RESET_EVENT, "signal events");
    note(AMDKFD_IOC_WAIT_EVENTS, "all/any, timeouts as user_timeout_to_jiffies, interruptible with the "
                                 "kernel's restart rule and remaining-time rewrite");
    for (unsigned long cmd : {AMDKFD_IOC_DBG_REGISTER_DEPRECATED, AMDKFD_IOC_DBG_UNREGISTER_DEPRECATED,
                              AMDKFD_IOC_DBG_ADDRESS_WATCH_DEPRECATED,
                              AMDKFD_IOC_DBG_WAVE_CONTROL_DEPRECATED}) {
      note(cmd, "EPERM, as 6.1 (deprecated)");
    }
    note(AMDKFD_IOC_SET_SCRATCH_BACKING_VA, "recorded per GPU");
    note(AMDKFD_IOC_GET_TILE_CONFIG, "gfx90a values");
    note(AMDKFD_IOC_SET_TRAP_HANDLER, "recorded per GPU");
    note(AMDKFD_IOC_GET_PROCESS_APERTURES_NEW, "count query, min(n, GPUs) entries; ENOMEM above 4 MiB");
    note(AMDKFD_IOC_ACQUIRE_VM, "render-node files only; maps the IB and CWSR pages; EBUSY for "
                                "another file");
    note(AMDKFD_IOC_ALLOC_MEMORY_OF_GPU, "VRAM, GTT, USERPTR, DOORBELL, MMIO_REMAP, AQL; 6.1 limits "
                                         "and check order (docs/semantics.md)");
    note(AMDKFD_IOC_FREE_MEMORY_OF_GPU, "EBUSY while mapped, EPERM for the event page");
    note(AMDKFD_IOC_MAP_MEMORY_TO_GPU, "n_success prefix, idempotent per GPU, interruptible wait "
                                       "(docs/semantics.md)");
    note(AMDKFD_IOC_UNMAP_MEMORY_FROM_GPU, "n_success prefix, not idempotent, heavyweight TLB flush");
    note(AMDKFD_IOC_SET_CU_MASK, "not implemented: EINVAL");
    note(AMDKFD_IOC_GET_QUEUE_WAVE_STATE, "not implemented: EINVAL");
    note(AMDKFD_IOC_GET_DMABUF_INFO, "not implemented: EINVAL (no dma-buf)");
    note(AMDKFD_IOC_IMPORT_DMABUF, "not implemented: EINVAL (no dma-buf)");
    note(AMDKFD_IOC_ALLOC_QUEUE_GWS, "not implemented: EINVAL");
    note(AMDKFD_IOC_SMI_EVENTS, "not implemented: EINVAL (ROCm 5.2 never sends it)");
    note(AMDKFD_IOC_SVM, "not implemented: EINVAL (no SVM)");
    note(AMDKFD_IOC_SET_XNACK_MODE, "query and set; EBUSY once queues exist; gfx90a: per process");
    note(AMDKFD_IOC_CRIU_OP, "EACCES without CAP_CHECKPOINT_RESTORE or CAP_SYS_ADMIN, as 6.1; "
                             "privileged callers get EINVAL (no checkpoint/restore)");
    note(AMDKFD_IOC_AVAILABLE_MEMORY, "VRAM left after the page-table reserve, 2 MiB steps");
  }
};

const Table& GetTable() {
  static const Table table;
  return table;
}

}  // namespace

const IoctlDesc* FindIoctl(unsigned nr) {
  if (nr >= kTableSize) return nullptr;
  const IoctlDesc& d = GetTable().entries[nr];
  return d.cmd == 0 ? nullptr : &d;
}

std::vector<const IoctlDesc*> AllIoctls() {
  std::vector<const IoctlDesc*> all;
  for (unsigned nr = 0; nr < kTableSize; ++nr) {
    if (const IoctlDesc* d = FindIoctl(nr)) all.push_back(d);
  }
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

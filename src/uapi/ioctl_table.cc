#include "uapi/ioctl_table.h"

#include <linux/kfd_ioctl.h>

#include <cinttypes>
#include <cstdio>

namespace vkfd::uapi {
namespace {

template <typename T, typename F>
IoctlDescriber Describe(F f) {
  (void)f;
  return [](const void* args, std::string* out) { F{}(*static_cast<const T*>(args), out); };
}

void Append(std::string* out, const char* fmt, uint64_t v) {
  char buf[64];
  snprintf(buf, sizeof(buf), fmt, v);
  if (!out->empty()) *out += ' ';
  *out += buf;
}

struct DescAlloc {
  void operator()(const kfd_ioctl_alloc_memory_of_gpu_args& a, std::string* o) const {
    Append(o, "gpu_id=0x%" PRIx64, a.gpu_id);
    Append(o, "va=0x%" PRIx64, a.va_addr);
    Append(o, "size=0x%" PRIx64, a.size);
    Append(o, "flags=0x%" PRIx64, a.flags);
    Append(o, "handle=0x%" PRIx64, a.handle);
    Append(o, "mmap_offset=0x%" PRIx64, a.mmap_offset);
  }
};
struct DescFree {
  void operator()(const kfd_ioctl_free_memory_of_gpu_args& a, std::string* o) const {
    Append(o, "handle=0x%" PRIx64, a.handle);
  }
};
struct DescMap {
  void operator()(const kfd_ioctl_map_memory_to_gpu_args& a, std::string* o) const {
    Append(o, "handle=0x%" PRIx64, a.handle);
    Append(o, "n_devices=%" PRIu64, a.n_devices);
    Append(o, "n_success=%" PRIu64, a.n_success);
  }
};
struct DescAcquire {
  void operator()(const kfd_ioctl_acquire_vm_args& a, std::string* o) const {
    Append(o, "drm_fd=%" PRIu64, a.drm_fd);
    Append(o, "gpu_id=0x%" PRIx64, a.gpu_id);
  }
};
struct DescAvail {
  void operator()(const kfd_ioctl_get_available_memory_args& a, std::string* o) const {
    Append(o, "gpu_id=0x%" PRIx64, a.gpu_id);
    Append(o, "available=0x%" PRIx64, a.available);
  }
};
struct DescVersion {
  void operator()(const kfd_ioctl_get_version_args& a, std::string* o) const {
    Append(o, "major=%" PRIu64, a.major_version);
    Append(o, "minor=%" PRIu64, a.minor_version);
  }
};

struct DescPolicy {
  void operator()(const kfd_ioctl_set_memory_policy_args& a, std::string* o) const {
    Append(o, "gpu_id=0x%" PRIx64, a.gpu_id);
    Append(o, "default=%" PRIu64, a.default_policy);
    Append(o, "alternate=%" PRIu64, a.alternate_policy);
  }
};
struct DescAperturesNew {
  void operator()(const kfd_ioctl_get_process_apertures_new_args& a, std::string* o) const {
    Append(o, "num_of_nodes=%" PRIu64, a.num_of_nodes);
  }
};
struct DescXnack {
  void operator()(const kfd_ioctl_set_xnack_mode_args& a, std::string* o) const {
    char buf[32];
    snprintf(buf, sizeof(buf), "xnack_enabled=%d", a.xnack_enabled);
    if (!o->empty()) *o += ' ';
    *o += buf;
  }
};
struct DescClock {
  void operator()(const kfd_ioctl_get_clock_counters_args& a, std::string* o) const {
    Append(o, "gpu_id=0x%" PRIx64, a.gpu_id);
    Append(o, "gpu_clock=%" PRIu64, a.gpu_clock_counter);
    Append(o, "system_clock_freq=%" PRIu64, a.system_clock_freq);
  }
};
struct DescCreateEvent {
  void operator()(const kfd_ioctl_create_event_args& a, std::string* o) const {
    Append(o, "type=%" PRIu64, a.event_type);
    Append(o, "auto_reset=%" PRIu64, a.auto_reset);
    Append(o, "event_page_offset=0x%" PRIx64, a.event_page_offset);
    Append(o, "event_id=%" PRIu64, a.event_id);
    Append(o, "slot=%" PRIu64, a.event_slot_index);
  }
};
struct DescEventId {
  void operator()(const kfd_ioctl_set_event_args& a, std::string* o) const {
    Append(o, "event_id=%" PRIu64, a.event_id);
  }
};
struct DescWait {
  void operator()(const kfd_ioctl_wait_events_args& a, std::string* o) const {
    Append(o, "num_events=%" PRIu64, a.num_events);
    Append(o, "wait_for_all=%" PRIu64, a.wait_for_all);
    Append(o, "timeout=%" PRIu64, a.timeout);
    Append(o, "wait_result=%" PRIu64, a.wait_result);
  }
};
struct DescScratch {
  void operator()(const kfd_ioctl_set_scratch_backing_va_args& a, std::string* o) const {
    Append(o, "gpu_id=0x%" PRIx64, a.gpu_id);
    Append(o, "va=0x%" PRIx64, a.va_addr);
  }
};
struct DescTrap {
  void operator()(const kfd_ioctl_set_trap_handler_args& a, std::string* o) const {
    Append(o, "gpu_id=0x%" PRIx64, a.gpu_id);
    Append(o, "tba=0x%" PRIx64, a.tba_addr);
    Append(o, "tma=0x%" PRIx64, a.tma_addr);
  }
};
struct DescTile {
  void operator()(const kfd_ioctl_get_tile_config_args& a, std::string* o) const {
    Append(o, "gpu_id=0x%" PRIx64, a.gpu_id);
    Append(o, "num_tile_configs=%" PRIu64, a.num_tile_configs);
    Append(o, "gb_addr_config=0x%" PRIx64, a.gb_addr_config);
  }
};
struct DescCreateQueue {
  void operator()(const kfd_ioctl_create_queue_args& a, std::string* o) const {
    Append(o, "gpu_id=0x%" PRIx64, a.gpu_id);
    Append(o, "type=%" PRIu64, a.queue_type);
    Append(o, "ring=0x%" PRIx64, a.ring_base_address);
    Append(o, "ring_size=0x%" PRIx64, a.ring_size);
    Append(o, "queue_id=%" PRIu64, a.queue_id);
    Append(o, "doorbell_offset=0x%" PRIx64, a.doorbell_offset);
  }
};
struct DescQueueId {
  void operator()(const kfd_ioctl_destroy_queue_args& a, std::string* o) const {
    Append(o, "queue_id=%" PRIu64, a.queue_id);
  }
};
struct DescUpdateQueue {
  void operator()(const kfd_ioctl_update_queue_args& a, std::string* o) const {
    Append(o, "queue_id=%" PRIu64, a.queue_id);
    Append(o, "ring=0x%" PRIx64, a.ring_base_address);
    Append(o, "ring_size=0x%" PRIx64, a.ring_size);
  }
};

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
        Describe<kfd_ioctl_get_version_args>(DescVersion{}));
    set(AMDKFD_IOC_CREATE_QUEUE, CreateQueue, "CREATE_QUEUE",
        Describe<kfd_ioctl_create_queue_args>(DescCreateQueue{}));
    set(AMDKFD_IOC_DESTROY_QUEUE, DestroyQueue, "DESTROY_QUEUE",
        Describe<kfd_ioctl_destroy_queue_args>(DescQueueId{}));
    set(AMDKFD_IOC_SET_MEMORY_POLICY, SetMemoryPolicy, "SET_MEMORY_POLICY",
        Describe<kfd_ioctl_set_memory_policy_args>(DescPolicy{}));
    set(AMDKFD_IOC_GET_CLOCK_COUNTERS, GetClockCounters, "GET_CLOCK_COUNTERS",
        Describe<kfd_ioctl_get_clock_counters_args>(DescClock{}));
    set(AMDKFD_IOC_GET_PROCESS_APERTURES, GetProcessApertures, "GET_PROCESS_APERTURES");
    set(AMDKFD_IOC_UPDATE_QUEUE, UpdateQueue, "UPDATE_QUEUE",
        Describe<kfd_ioctl_update_queue_args>(DescUpdateQueue{}));
    set(AMDKFD_IOC_CREATE_EVENT, CreateEvent, "CREATE_EVENT",
        Describe<kfd_ioctl_create_event_args>(DescCreateEvent{}));
    set(AMDKFD_IOC_DESTROY_EVENT, DestroyEvent, "DESTROY_EVENT",
        Describe<kfd_ioctl_set_event_args>(DescEventId{}));
    set(AMDKFD_IOC_SET_EVENT, SetEvent, "SET_EVENT", Describe<kfd_ioctl_set_event_args>(DescEventId{}));
    set(AMDKFD_IOC_RESET_EVENT, ResetEvent, "RESET_EVENT",
        Describe<kfd_ioctl_set_event_args>(DescEventId{}));
    set(AMDKFD_IOC_WAIT_EVENTS, WaitEvents, "WAIT_EVENTS",
        Describe<kfd_ioctl_wait_events_args>(DescWait{}));
    set(AMDKFD_IOC_DBG_REGISTER_DEPRECATED, DeprecatedDebug, "DBG_REGISTER");
    set(AMDKFD_IOC_DBG_UNREGISTER_DEPRECATED, DeprecatedDebug, "DBG_UNREGISTER");
    set(AMDKFD_IOC_DBG_ADDRESS_WATCH_DEPRECATED, DeprecatedDebug, "DBG_ADDRESS_WATCH");
    set(AMDKFD_IOC_DBG_WAVE_CONTROL_DEPRECATED, DeprecatedDebug, "DBG_WAVE_CONTROL");
    set(AMDKFD_IOC_SET_SCRATCH_BACKING_VA, SetScratchBackingVa, "SET_SCRATCH_BACKING_VA",
        Describe<kfd_ioctl_set_scratch_backing_va_args>(DescScratch{}));
    set(AMDKFD_IOC_GET_TILE_CONFIG, GetTileConfig, "GET_TILE_CONFIG",
        Describe<kfd_ioctl_get_tile_config_args>(DescTile{}));
    set(AMDKFD_IOC_SET_TRAP_HANDLER, SetTrapHandler, "SET_TRAP_HANDLER",
        Describe<kfd_ioctl_set_trap_handler_args>(DescTrap{}));
    set(AMDKFD_IOC_GET_PROCESS_APERTURES_NEW, GetProcessAperturesNew, "GET_PROCESS_APERTURES_NEW",
        Describe<kfd_ioctl_get_process_apertures_new_args>(DescAperturesNew{}));
    set(AMDKFD_IOC_ACQUIRE_VM, AcquireVm, "ACQUIRE_VM", Describe<kfd_ioctl_acquire_vm_args>(DescAcquire{}));
    set(AMDKFD_IOC_ALLOC_MEMORY_OF_GPU, AllocMemoryOfGpu, "ALLOC_MEMORY_OF_GPU",
        Describe<kfd_ioctl_alloc_memory_of_gpu_args>(DescAlloc{}));
    set(AMDKFD_IOC_FREE_MEMORY_OF_GPU, FreeMemoryOfGpu, "FREE_MEMORY_OF_GPU",
        Describe<kfd_ioctl_free_memory_of_gpu_args>(DescFree{}));
    set(AMDKFD_IOC_MAP_MEMORY_TO_GPU, MapMemoryToGpu, "MAP_MEMORY_TO_GPU",
        Describe<kfd_ioctl_map_memory_to_gpu_args>(DescMap{}));
    set(AMDKFD_IOC_UNMAP_MEMORY_FROM_GPU, UnmapMemoryFromGpu, "UNMAP_MEMORY_FROM_GPU",
        Describe<kfd_ioctl_map_memory_to_gpu_args>(DescMap{}));
    set(AMDKFD_IOC_SET_CU_MASK, nullptr, "SET_CU_MASK");
    set(AMDKFD_IOC_GET_QUEUE_WAVE_STATE, nullptr, "GET_QUEUE_WAVE_STATE");
    set(AMDKFD_IOC_GET_DMABUF_INFO, nullptr, "GET_DMABUF_INFO");
    set(AMDKFD_IOC_IMPORT_DMABUF, nullptr, "IMPORT_DMABUF");
    set(AMDKFD_IOC_ALLOC_QUEUE_GWS, nullptr, "ALLOC_QUEUE_GWS");
    set(AMDKFD_IOC_SMI_EVENTS, nullptr, "SMI_EVENTS");
    set(AMDKFD_IOC_SVM, nullptr, "SVM");
    set(AMDKFD_IOC_SET_XNACK_MODE, SetXnackMode, "SET_XNACK_MODE",
        Describe<kfd_ioctl_set_xnack_mode_args>(DescXnack{}));
    set(AMDKFD_IOC_CRIU_OP, CriuOp, "CRIU_OP");
    entries[_IOC_NR(AMDKFD_IOC_CRIU_OP)].checkpoint_restore = true;
    set(AMDKFD_IOC_AVAILABLE_MEMORY, AvailableMemory, "AVAILABLE_MEMORY",
        Describe<kfd_ioctl_get_available_memory_args>(DescAvail{}));

    // The support matrix (docs/support-matrix.md is generated from this: `vkfd support-matrix`).
    auto note = [this](unsigned long cmd, const char* text) { entries[_IOC_NR(cmd)].support = text; };
    note(AMDKFD_IOC_GET_VERSION, "1.11, as 6.1");
    note(AMDKFD_IOC_CREATE_QUEUE, "bookkeeping: queue ids, doorbell slots and the 6.1 doorbell-offset "
                                  "encoding; nothing executes");
    note(AMDKFD_IOC_DESTROY_QUEUE, "bookkeeping");
    note(AMDKFD_IOC_SET_MEMORY_POLICY, "policies and APE1 checked as 6.1; ESRCH unbound");
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

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
    set(AMDKFD_IOC_CREATE_QUEUE, nullptr, "CREATE_QUEUE");
    set(AMDKFD_IOC_DESTROY_QUEUE, nullptr, "DESTROY_QUEUE");
    set(AMDKFD_IOC_SET_MEMORY_POLICY, SetMemoryPolicy, "SET_MEMORY_POLICY");
    set(AMDKFD_IOC_GET_CLOCK_COUNTERS, nullptr, "GET_CLOCK_COUNTERS");
    set(AMDKFD_IOC_GET_PROCESS_APERTURES, GetProcessApertures, "GET_PROCESS_APERTURES");
    set(AMDKFD_IOC_UPDATE_QUEUE, nullptr, "UPDATE_QUEUE");
    set(AMDKFD_IOC_CREATE_EVENT, nullptr, "CREATE_EVENT");
    set(AMDKFD_IOC_DESTROY_EVENT, nullptr, "DESTROY_EVENT");
    set(AMDKFD_IOC_SET_EVENT, nullptr, "SET_EVENT");
    set(AMDKFD_IOC_RESET_EVENT, nullptr, "RESET_EVENT");
    set(AMDKFD_IOC_WAIT_EVENTS, nullptr, "WAIT_EVENTS");
    set(AMDKFD_IOC_DBG_REGISTER_DEPRECATED, nullptr, "DBG_REGISTER");
    set(AMDKFD_IOC_DBG_UNREGISTER_DEPRECATED, nullptr, "DBG_UNREGISTER");
    set(AMDKFD_IOC_DBG_ADDRESS_WATCH_DEPRECATED, nullptr, "DBG_ADDRESS_WATCH");
    set(AMDKFD_IOC_DBG_WAVE_CONTROL_DEPRECATED, nullptr, "DBG_WAVE_CONTROL");
    set(AMDKFD_IOC_SET_SCRATCH_BACKING_VA, nullptr, "SET_SCRATCH_BACKING_VA");
    set(AMDKFD_IOC_GET_TILE_CONFIG, nullptr, "GET_TILE_CONFIG");
    set(AMDKFD_IOC_SET_TRAP_HANDLER, nullptr, "SET_TRAP_HANDLER");
    set(AMDKFD_IOC_GET_PROCESS_APERTURES_NEW, GetProcessAperturesNew, "GET_PROCESS_APERTURES_NEW");
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
    set(AMDKFD_IOC_SET_XNACK_MODE, SetXnackMode, "SET_XNACK_MODE");
    set(AMDKFD_IOC_CRIU_OP, nullptr, "CRIU_OP");
    set(AMDKFD_IOC_AVAILABLE_MEMORY, AvailableMemory, "AVAILABLE_MEMORY",
        Describe<kfd_ioctl_get_available_memory_args>(DescAvail{}));
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

std::string IoctlName(unsigned long cmd) {
  const IoctlDesc* d = FindIoctl(_IOC_NR(cmd));
  if (d != nullptr && d->name != nullptr) return d->name;
  char buf[32];
  snprintf(buf, sizeof(buf), "0x%02x", static_cast<unsigned>(_IOC_NR(cmd)));
  return buf;
}

}  // namespace vkfd::uapi

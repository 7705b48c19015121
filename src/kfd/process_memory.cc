// Process: ALLOC and FREE (kfd_ioctl_alloc_memory_of_gpu / kfd_ioctl_free_memory_of_gpu).
#include <sys/mman.h>

#include <algorithm>

#include "kfd/driver.h"
#include "kfd/fault_points.h"
#include "kfd/mmap_offsets.h"
#include "kfd/process.h"

namespace vkfd::kfd {
namespace {

constexpr uint64_t kPage = hw::kPageSize;
uint64_t PageAlign(uint64_t size) { return (size + kPage - 1) & ~(kPage - 1); }

// Is [addr, addr + size) mapped in this address space? (What pinning user pages needs.)
bool UserRangeMapped(uint64_t addr, uint64_t size) {
  const uint64_t start = addr & ~(kPage - 1);
  const uint64_t end = PageAlign(addr + size);
  if (end <= start || end > (1ull << 47)) return false;
  unsigned char vec[256];
  for (uint64_t a = start; a < end;) {
    const uint64_t chunk = std::min<uint64_t>(end - a, sizeof(vec) * kPage);
    if (mincore(reinterpret_cast<void*>(a), chunk, vec) != 0) return false;
    a += chunk;
  }
  return true;
}

}  // namespace

Result<AllocResult> Process::AllocMemory(const AllocRequest& req) {
  if (req.size == 0) return Code::kInvalidArgs;
  MutexLock lock(&mu_);
  ProcessDevice* pdd = FindDeviceLocked(req.gpu_id);
  if (pdd == nullptr) return Code::kInvalidArgs;
  const hw::GpuSpec& spec = driver_->topology().gpus[pdd->gpu_index];
  if (req.attrs.cpu_visible && req.kind.vram && !spec.large_bar()) return Code::kInvalidArgs;
  auto bound = BindLocked(pdd);
  if (!bound.ok()) return bound.code();
  // kfd_ioctl_alloc_memory_of_gpu: DOORBELL's size rule, else MMIO_REMAP's — with both flags only the
  // doorbell slice is checked (if / else if), and the offset handed back is still the MMIO one.
  if (req.kind.doorbell) {
    if (req.size != kDoorbellProcessSlice) return Code::kInvalidArgs;
  } else if (req.kind.mmio_remap && req.size != kMmioRemapSize) {
    return Code::kInvalidArgs;
  }

  // amdgpu_amdkfd_gpuvm_alloc_memory_of_gpu: the first placement bit in this order wins.
  Domain domain;
  if (req.kind.vram) {
    domain = Domain::kVram;
  } else if (req.kind.gtt) {
    domain = Domain::kGtt;
  } else if (req.kind.userptr) {
    if (req.user_addr == 0) return Code::kInvalidArgs;
    domain = Domain::kUserptr;
  } else if (req.kind.doorbell) {
    domain = Domain::kDoorbell;
  } else if (req.kind.mmio_remap) {
    domain = Domain::kMmioRemap;
  } else {
    return Code::kInvalidArgs;
  }

  auto bo = std::make_unique<BufferObject>();
  bo->owner = static_cast<uint32_t>(pdd->gpu_index);
  bo->domain = domain;
  bo->attrs = req.attrs;
  bo->va = req.va;
  // AQL queue memory: a BO of half the size, mapped twice back to back.
  const uint64_t backing = PageAlign(req.attrs.aql_queue ? req.size >> 1 : req.size);
  if (backing == 0) return Code::kInvalidArgs;
  bo->backing_size = backing;
  bo->size = req.attrs.aql_queue ? 2 * backing : backing;

  const Charge charge = MemoryLimits::ChargeFor(pdd->gpu_index, domain, backing);
  const int gpu = static_cast<int>(pdd->gpu_index);
  if (auto d = CheckFault(FaultPoint::kAllocReserve, gpu); d.error != Code::kOk) {
    return d.error;
  }
  VKFD_RETURN_IF_ERROR(driver_->limits().Reserve(charge));
  if (auto d = CheckFault(FaultPoint::kAllocBacking, gpu); d.error != Code::kOk) {
    driver_->limits().Unreserve(charge);
    return d.error;
  }
  hw::GpuMemory& memory = *driver_->node().gpu(pdd->gpu_index).memory;
  // Large BOs get 2 MiB-aligned backing so they can be mapped with 2 MiB pages.
  const uint64_t align = backing >= hw::kHugePageSize ? hw::kHugePageSize : kPage;
  switch (domain) {
    case Domain::kVram: {
      auto offset = memory.AllocVram(backing, align);
      if (!offset.ok()) {
        driver_->limits().Unreserve(charge);
        return Code::kNoMemory;
      }
      bo->memfd_offset = offset.value();
      break;
    }
    case Domain::kGtt:
    case Domain::kDoorbell:
    case Domain::kMmioRemap: {
      auto offset = memory.AllocGtt(backing, align);
      if (!offset.ok()) {
        driver_->limits().Unreserve(charge);
        return Code::kNoMemory;
      }
      bo->memfd_offset = offset.value();
      break;
    }
    case Domain::kUserptr: {
      // Pinning the user pages fails on an unmapped range (hmm_range_fault: -EFAULT).
      if (!UserRangeMapped(req.user_addr, backing)) {
        driver_->limits().Unreserve(charge);
        return Code::kFault;
      }
      const uint64_t page_start = req.user_addr & ~(kPage - 1);
      auto bus = driver_->node().bus().MapDynamic(PageAlign(req.user_addr + backing) - page_start,
                                                  reinterpret_cast<uint8_t*>(page_start));
      if (!bus.ok()) {
        driver_->limits().Unreserve(charge);
        return Code::kNoMemory;
      }
      bo->user_addr = req.user_addr;
      bo->bus_addr = bus.value() + (req.user_addr - page_start);
      break;
    }
  }
  const uint32_t id = pdd->TakeId();
  bo->handle = MakeHandle(pdd->gpu_id, id);
  AllocResult result;
  result.handle = bo->handle;
  switch (domain) {
    case Domain::kDoorbell:
    case Domain::kMmioRemap:
      // 6.1 looks at the flag, not at the placement: DOORBELL|MMIO_REMAP gets the MMIO offset.
      result.mmap_offset =
          req.kind.mmio_remap ? kMmapTypeMmio | MmapGpuId(pdd->gpu_id) : bo->memfd_offset;
      break;
    case Domain::kUserptr:
      // A render-node offset exists for every BO; a userptr BO's cannot be mapped. Give a unique one
      // beyond the GTT window.
      result.mmap_offset = (2ull << 44) + (uint64_t{id} << 32);
      break;
    default:
      result.mmap_offset = bo->memfd_offset;
  }
  pdd->handles.emplace(id, std::move(bo));
  return result;
}

void Process::ReleaseBackingLocked(BufferObject* bo) {
  switch (bo->domain) {
    case Domain::kUserptr:
      driver_->node().bus().Unmap(bo->bus_addr & ~(kPage - 1));
      break;
    default:
      driver_->node().gpu(bo->owner).memory->Free(bo->memfd_offset, bo->backing_size);
  }
  driver_->limits().Unreserve(MemoryLimits::ChargeFor(bo->owner, bo->domain, bo->backing_size));
}

std::vector<FenceRef> Process::PendingFencesLocked(const BufferObject& bo) {
  std::vector<FenceRef> fences;
  for (const FenceRef& f : bo.last_update) {
    if (f && !f->signaled()) fences.push_back(f);
  }
  return fences;
}

void Process::DestroyBoLocked(ProcessDevice* pdd, BufferObject* bo) {
  // The backing may be reused only after the last page-table update that references it has run.
  WaitAllUninterruptible(PendingFencesLocked(*bo));
  ReleaseBackingLocked(bo);
}

Status Process::FreeMemory(uint64_t handle) {
  MutexLock lock(&mu_);
  if (has_signal_handle_ && signal_handle_ == handle) return Status(Code::kPermission);
  ProcessDevice* pdd = FindDeviceLocked(HandleGpuId(handle));
  if (pdd == nullptr) return Status(Code::kInvalidArgs);
  BufferObject* bo = pdd->Find(HandleIdr(handle));
  if (bo == nullptr) return Status(Code::kInvalidArgs);
  if (bo->mapped.any()) return Status(Code::kBusy);
  if (auto d = CheckFault(FaultPoint::kFree, int(pdd->gpu_index)); d.error != Code::kOk) {
    return Status(d.error);
  }
  DestroyBoLocked(pdd, bo);
  pdd->handles.erase(HandleIdr(handle));
  pdd->ReturnId(HandleIdr(handle));
  return Status::Ok();
}

}  // namespace vkfd::kfd

// Process: ALLOC and FREE (kfd_ioctl_alloc_memory_of_gpu / kfd_ioctl_free_memory_of_gpu).
#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <string>
#include <string_view>

#include "kfd/driver.h"
#include "kfd/fault_points.h"
#include "kfd/mmap_offsets.h"
#include "kfd/process.h"

namespace vkfd::kfd {
namespace {

constexpr uint64_t kPage = hw::kPageSize;
uint64_t PageAlign(uint64_t size) { return (size + kPage - 1) & ~(kPage - 1); }

// What amdgpu_ttm_tt_get_user_pages finds for [addr, addr + size) of the caller's address space on
// 6.1.y: vma_lookup of the start (none: -EFAULT), then hmm_range_fault asking for write access
// (KFD's userptr BOs are never read-only: amdgpu_ttm_tt_set_userptr(bo, addr, 0)), walking the
// range in address order so the first offending piece decides — a hole (hmm_vma_walk_hole) or a
// mapping without read permission or of a device (hmm_vma_walk_test) is -EFAULT, a mapping without
// write permission -EPERM (hmm_vma_fault). Read from /proc/self/maps.
Code UserRangeAccess(uint64_t addr, uint64_t size) {
  const uint64_t start = addr & ~(kPage - 1);
  const uint64_t end = PageAlign(addr + size);
  if (end <= start || end > (1ull << 47)) return Code::kFault;
  const int fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Code::kFault;
  std::string text;
  char buf[16384];
  for (ssize_t n; (n = read(fd, buf, sizeof(buf))) > 0;) text.append(buf, static_cast<size_t>(n));
  close(fd);
  uint64_t cursor = start;
  for (size_t pos = 0; pos < text.size() && cursor < end;) {
    size_t eol = text.find('\n', pos);
    if (eol == std::string::npos) eol = text.size();
    const size_t start_of_line = pos;
    unsigned long lo = 0, hi = 0;
    char perms[5] = {};
    const bool parsed =
        sscanf(text.c_str() + pos, "%lx-%lx %4s", &lo, &hi, perms) == 3;
    pos = eol + 1;
    if (!parsed || hi <= cursor) continue;
    if (lo > cursor) return Code::kFault;            // a hole before this mapping
    // A mapping of a device — a BO through the render node, doorbells, MMIO or the event page
    // through /dev/kfd — is VM_IO | VM_PFNMAP on 6.1 (hmm_vma_walk_test: -EFAULT); in vkfd those
    // are mappings of its memfds, all named "vkfd-...".
    const std::string_view line(text.data() + start_of_line, eol - start_of_line);
    if (line.find("/memfd:vkfd-") != std::string_view::npos) return Code::kFault;
    if (perms[0] != 'r') return Code::kFault;        // PROT_NONE (or write-only)
    if (perms[1] != 'w') return Code::kPermission;   // read-only
    cursor = hi;
  }
  return cursor < end ? Code::kFault : Code::kOk;
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
      // init_user_pages: the pages are got once, here (MAP never looks at them again).
      if (const Code access = UserRangeAccess(req.user_addr, backing); access != Code::kOk) {
        driver_->limits().Unreserve(charge);
        return access;
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
  // amdgpu_gem_object_create + drm_vma_node_allow(the render-node file ACQUIRE_VM bound): every BO,
  // userptr included, gets an offset on its GPU's render node; amdgpu_bo_mmap_offset is ALLOC's
  // mmap_offset. The memory and the charge now live as long as the object (kfd/gem_objects.h).
  GemRelease release;
  release.has_backing = domain != Domain::kUserptr;
  release.gpu = pdd->gpu_index;
  release.memfd_offset = bo->memfd_offset;
  release.backing_size = backing;
  release.charge = charge;
  auto gem = driver_->gem(pdd->gpu_index)
                 .Add(backing, pdd->drm_file_id, domain == Domain::kUserptr, bo->memfd_offset,
                      release);
  if (!gem.ok()) {
    if (domain == Domain::kUserptr) driver_->node().bus().Unmap(bo->bus_addr & ~(kPage - 1));
    driver_->ReleaseGem(release);
    return gem.code();
  }
  bo->gem_offset = gem.value();
  const uint32_t id = pdd->TakeId();
  bo->handle = MakeHandle(pdd->gpu_id, id);
  AllocResult result;
  result.handle = bo->handle;
  // MMIO is mapped through /dev/kfd: kfd_ioctl_alloc_memory_of_gpu replaces the offset. It looks at
  // the flag, not at the placement: DOORBELL|MMIO_REMAP gets the MMIO offset too.
  result.mmap_offset =
      req.kind.mmio_remap && (domain == Domain::kMmioRemap || domain == Domain::kDoorbell)
          ? kMmapTypeMmio | MmapGpuId(pdd->gpu_id)
          : bo->gem_offset;
  pdd->handles.emplace(id, std::move(bo));
  return result;
}

void Process::ReleaseBackingLocked(BufferObject* bo) {
  if (bo->domain == Domain::kUserptr) driver_->node().bus().Unmap(bo->bus_addr & ~(kPage - 1));
  if (bo->gem_offset != 0) {
    // The BO's reference to its GEM object: the memory and the charge go with the last reference,
    // which a CPU mapping through the render node may hold past FREE (drm_gem_vm_close).
    driver_->RevokeGem(bo->owner, bo->gem_offset);
    return;
  }
  // The driver's own BOs (IB, CWSR) have no GEM object.
  driver_->node().gpu(bo->owner).memory->Free(bo->memfd_offset, bo->backing_size);
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
  // mapped_to_gpu_memory > 0: any attachment mapped, the upper half of a failed AQL MAP included.
  if (bo->mapped.any() || bo->upper_mapped.any()) return Status(Code::kBusy);
  if (auto d = CheckFault(FaultPoint::kFree, int(pdd->gpu_index)); d.error != Code::kOk) {
    return Status(d.error);
  }
  DestroyBoLocked(pdd, bo);
  pdd->handles.erase(HandleIdr(handle));
  pdd->ReturnId(HandleIdr(handle));
  return Status::Ok();
}

}  // namespace vkfd::kfd

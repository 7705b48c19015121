#include "kfd/process.h"

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <set>

#include "kfd/fault_points.h"
#include "hw/page_walker.h"
#include "hw/pte.h"
#include "kfd/driver.h"
#include "kfd/mmap_offsets.h"

namespace vkfd::kfd {
namespace {

constexpr uint64_t kPage = hw::kPageSize;
uint64_t PageAlign(uint64_t size) { return (size + kPage - 1) & ~(kPage - 1); }

// GFX9 apertures (kfd_init_apertures_v9): LDS and scratch in the non-canonical hole, GPUVM from
// SVM_USER_BASE (16 KiB: below it sit the IB and CWSR pages) to the top of the x86-64 user half.
constexpr uint64_t kLdsBase = 1ull << 48;
constexpr uint64_t kScratchBase = 2ull << 48;
constexpr uint64_t kApertureSpan = 0xffffffffull;
constexpr uint64_t kGpuvmBase = 0x4000;
constexpr uint64_t kGpuvmLimit = (1ull << 47) - 1;
constexpr uint64_t kIbBase = 0x1000;
constexpr uint64_t kCwsrBase = 0x2000;

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

Process::Process(Driver* driver, int pid) : driver_(driver), pid_(pid) {
  MutexLock lock(&mu_);
  devices_.resize(driver->gpu_count());
  for (size_t i = 0; i < devices_.size(); ++i) {
    ProcessDevice& pdd = devices_[i];
    pdd.gpu_index = i;
    pdd.gpu_id = driver->gpu_id(i);
    pdd.apertures = Apertures{pdd.gpu_id,
                              kLdsBase,     kLdsBase + kApertureSpan,
                              kScratchBase, kScratchBase + kApertureSpan,
                              kGpuvmBase,   kGpuvmLimit};
  }
}

Process::~Process() { Teardown(); }

ProcessDevice* Process::DeviceByIdLocked(uint32_t gpu_id) {
  auto index = driver_->GpuIndex(gpu_id);
  if (!index) return nullptr;
  return &devices_[*index];
}

BufferObject* Process::FindBoLocked(uint64_t handle) {
  ProcessDevice* pdd = DeviceByIdLocked(HandleGpuId(handle));
  return pdd == nullptr ? nullptr : pdd->Find(HandleIdr(handle));
}

Result<ProcessDevice*> Process::BindLocked(uint32_t gpu_id) {
  ProcessDevice* pdd = DeviceByIdLocked(gpu_id);
  if (pdd == nullptr) return Code::kNoMemory;
  if (!pdd->vm) return Code::kNoDevice;
  return pdd;
}

void Process::set_signal_handle(uint64_t handle) {
  MutexLock lock(&mu_);
  signal_handle_ = handle;
  has_signal_handle_ = true;
}

void Process::set_has_queues(bool value) {
  MutexLock lock(&mu_);
  has_queues_ = value;
}

// ---------------------------------------------------------------------------------------------------
// Binding, apertures, policies

Result<std::unique_ptr<BufferObject>> Process::CreateKernelBoLocked(ProcessDevice* pdd, uint64_t va,
                                                                    uint64_t size, bool writable) {
  auto bo = std::make_unique<BufferObject>();
  bo->owner = static_cast<uint32_t>(pdd->gpu_index);
  bo->domain = Domain::kGtt;
  bo->attrs.writable = writable;
  bo->attrs.executable = true;
  bo->attrs.no_substitute = true;
  bo->va = va;
  bo->size = bo->backing_size = size;
  bo->kernel_internal = true;
  const Charge charge = MemoryLimits::ChargeFor(pdd->gpu_index, Domain::kGtt, size);
  VKFD_RETURN_IF_ERROR(driver_->limits().Reserve(charge));
  auto offset = driver_->node().gpu(pdd->gpu_index).memory->AllocGtt(size, kPage);
  if (!offset.ok()) {
    driver_->limits().Unreserve(charge);
    return Code::kNoMemory;
  }
  bo->memfd_offset = offset.value();
  Status mapped = MapOnGpuLocked(bo.get(), pdd, Injection::kOff);
  if (!mapped.ok()) {
    ReleaseBackingLocked(bo.get());
    return mapped.code();
  }
  return bo;
}

Status Process::AcquireVm(uint32_t gpu_id, const DrmFileRef& file) {
  std::vector<FenceRef> pending;
  {
    MutexLock lock(&mu_);
    ProcessDevice* pdd = DeviceByIdLocked(gpu_id);
    if (pdd == nullptr) return Status(Code::kInvalidArgs);
    if (pdd->drm_file_id != 0) {
      return Status(pdd->drm_file_id == file.file_id ? Code::kOk : Code::kBusy);
    }
    // amdgpu_file_to_fpriv: only this GPU's render node carries its VM.
    if (file.gpu_index != static_cast<int>(pdd->gpu_index)) return Status(Code::kInvalidArgs);
    auto vm = GpuVm::Create(&driver_->node(), pdd->gpu_index);
    if (!vm.ok()) return vm.status();
    pdd->vm = std::move(vm.value());
    // The IB page and the CWSR trap-handler pages the kernel maps into every compute VM.
    auto ib = CreateKernelBoLocked(pdd, kIbBase, kPage, /*writable=*/true);
    auto cwsr = ib.ok() ? CreateKernelBoLocked(pdd, kCwsrBase, 2 * kPage, /*writable=*/false)
                        : Result<std::unique_ptr<BufferObject>>(Code::kNoMemory);
    if (!ib.ok() || !cwsr.ok()) {
      if (ib.ok()) DestroyBoLocked(pdd, ib.value().get());
      pdd->vm.reset();
      return Status(Code::kNoMemory);
    }
    pdd->ib_bo = std::move(ib.value());
    pdd->cwsr_bo = std::move(cwsr.value());
    pdd->drm_file_id = file.file_id;
    pending = PendingFencesLocked(*pdd->ib_bo);
    auto more = PendingFencesLocked(*pdd->cwsr_bo);
    pending.insert(pending.end(), more.begin(), more.end());
  }
  // The kernel's kernel-BO mappings are synchronous and uninterruptible.
  WaitAllUninterruptible(pending);
  return Status::Ok();
}

std::vector<Apertures> Process::GetApertures() {
  MutexLock lock(&mu_);
  std::vector<Apertures> result;
  for (const ProcessDevice& pdd : devices_) result.push_back(pdd.apertures);
  return result;
}

Status Process::SetMemoryPolicy(uint32_t gpu_id, int default_policy, int alternate_policy,
                                uint64_t alternate_base, uint64_t alternate_size) {
  auto valid = [](int p) { return p == 0 || p == 1; };
  if (!valid(default_policy) || !valid(alternate_policy)) return Status(Code::kInvalidArgs);
  MutexLock lock(&mu_);
  ProcessDevice* pdd = DeviceByIdLocked(gpu_id);
  if (pdd == nullptr) return Status(Code::kInvalidArgs);
  if (!BindLocked(gpu_id).ok()) return Status(Code::kNoProcess);
  // GFX9 has no APE1: its queue manager has no set_cache_memory_policy of its own, so 6.1's
  // set_cache_memory_policy() returns success before it would check the alternate aperture (the
  // alignment checks are CIK/VI's). The values are only recorded.
  pdd->ape1_base = alternate_size == 0 ? 1 : alternate_base;
  pdd->ape1_limit = alternate_size == 0 ? 0 : alternate_base + alternate_size - 1;
  pdd->default_policy = default_policy;
  pdd->alternate_policy = alternate_policy;
  return Status::Ok();
}

Result<int> Process::SetXnackMode(int mode) {
  MutexLock lock(&mu_);
  if (mode < 0) return xnack_enabled_;
  if (has_queues_) return Code::kBusy;
  // gfx90a supports per-process XNACK selection, so enabling is always allowed here.
  xnack_enabled_ = mode != 0 ? 1 : 0;
  return xnack_enabled_;
}

Result<uint64_t> Process::AvailableMemory(uint32_t gpu_id) {
  MutexLock lock(&mu_);
  ProcessDevice* pdd = DeviceByIdLocked(gpu_id);
  if (pdd == nullptr) return Code::kInvalidArgs;
  return driver_->limits().AvailableVram(pdd->gpu_index);
}

// ---------------------------------------------------------------------------------------------------
// ALLOC / FREE

Result<AllocResult> Process::AllocMemory(const AllocRequest& req) {
  if (req.size == 0) return Code::kInvalidArgs;
  MutexLock lock(&mu_);
  ProcessDevice* pdd = DeviceByIdLocked(req.gpu_id);
  if (pdd == nullptr) return Code::kInvalidArgs;
  const hw::GpuSpec& spec = driver_->topology().gpus[pdd->gpu_index];
  if (req.attrs.cpu_visible && req.kind.vram && !spec.large_bar()) return Code::kInvalidArgs;
  auto bound = BindLocked(req.gpu_id);
  if (!bound.ok()) return bound.code();
  if (req.kind.doorbell && req.size != kDoorbellProcessSlice) return Code::kInvalidArgs;
  if (req.kind.mmio_remap && req.size != kMmioRemapSize) return Code::kInvalidArgs;

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
    case Domain::kMmioRemap:
      result.mmap_offset = kMmapTypeMmio | MmapGpuId(pdd->gpu_id);
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
  ProcessDevice* pdd = DeviceByIdLocked(HandleGpuId(handle));
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

// ---------------------------------------------------------------------------------------------------
// MAP / UNMAP

uint64_t Process::PteFlagsFor(const BufferObject& bo, size_t gpu) const {
  // get_pte_flags() for gfx90a (CHIP_ALDEBARAN).
  uint64_t flags = hw::kPteReadable;
  if (bo.attrs.writable) flags |= hw::kPteWriteable;
  if (bo.attrs.executable) flags |= hw::kPteExecutable;
  const bool uc = bo.attrs.uncached || bo.attrs.coherent;
  bool snoop = false;
  if (bo.domain == Domain::kVram) {
    if (bo.owner == gpu) {
      flags |= hw::PteMtype(bo.attrs.uncached   ? hw::Mtype::kUc
                            : bo.attrs.coherent ? hw::Mtype::kCc
                                                : hw::Mtype::kRw);
    } else {
      flags |= hw::PteMtype(uc ? hw::Mtype::kUc : hw::Mtype::kNc);
      snoop = driver_->topology().SameHive(gpu, bo.owner);
    }
  } else {
    flags |= hw::PteMtype(uc ? hw::Mtype::kUc : hw::Mtype::kNc);
    snoop = true;
  }
  if (snoop) flags |= hw::kPteSnooped;
  return flags;
}

std::vector<MapSegment> Process::SegmentsFor(const BufferObject& bo, size_t gpu) const {
  uint64_t pa;
  bool system;
  if (bo.domain == Domain::kUserptr) {
    pa = bo.bus_addr;
    system = true;
  } else {
    const hw::Route route = driver_->node().RouteTo(gpu, bo.owner, bo.memfd_offset);
    pa = route.addr;
    system = route.system;
  }
  const uint64_t flags = PteFlagsFor(bo, gpu) | (system ? hw::kPteSystem : 0);
  std::vector<MapSegment> segments;
  segments.push_back(MapSegment{bo.va, bo.backing_size, pa, flags});
  if (bo.attrs.aql_queue) {
    segments.push_back(MapSegment{bo.va + bo.backing_size, bo.backing_size, pa, flags});
  }
  return segments;
}

Status Process::CheckMapAccessLocked(const BufferObject& bo, const ProcessDevice& pdd,
                                     Injection injection) {
  const size_t gpu = pdd.gpu_index;
  // kfd_mem_attach runs at the first MAP on a VM only: the attachment outlives a failed map and
  // UNMAP (only FREE detaches), so VA 0 and peer access are decided once per (BO, VM).
  if (bo.attached.test(gpu)) return Status::Ok();
  if (bo.va == 0) return Status(Code::kInvalidArgs);
  // A peer's VRAM, doorbells and MMIO need an XGMI link or PCIe peer access; a peer's GTT is system
  // memory, always reachable, and gets no decision.
  if (gpu != bo.owner &&
      (bo.domain == Domain::kVram || bo.domain == Domain::kDoorbell ||
       bo.domain == Domain::kMmioRemap)) {
    const bool hive = bo.domain == Domain::kVram && driver_->topology().SameHive(gpu, bo.owner);
    if (!hive && !driver_->topology().PeerAccessible(gpu, bo.owner)) {
      return Status(Code::kInvalidArgs);
    }
    if (injection == Injection::kArmed) {
      if (auto d = CheckFault(FaultPoint::kMapPeerAccess, int(gpu));
          d.error != Code::kOk) {
        return Status(d.error);
      }
    }
  }
  return Status::Ok();
}

Status Process::DispatchMapLocked(BufferObject* bo, ProcessDevice* pdd, Injection injection) {
  const size_t gpu = pdd->gpu_index;
  bo->attached.set(gpu);  // kfd_mem_attach succeeded; it stays even if the mapping below fails
  // map.page_tables is checked in GpuVm::Map, after the range checks, where the kernel allocates.
  auto fence = pdd->vm->Map(bo, bo->va, bo->size, SegmentsFor(*bo, gpu), injection);
  if (!fence.ok()) return fence.status();
  bo->mapped.set(gpu);
  bo->last_update[gpu] = std::move(fence.value());
  return Status::Ok();
}

Status Process::TrialMapLocked(const BufferObject& bo, ProcessDevice* pdd) {
  return pdd->vm->TrialMap(bo.va, bo.size, SegmentsFor(bo, pdd->gpu_index));
}

Status Process::MapOnGpuLocked(BufferObject* bo, ProcessDevice* pdd, Injection injection) {
  if (bo->mapped.test(pdd->gpu_index)) return Status::Ok();  // is_mapped: nothing to do
  VKFD_RETURN_IF_ERROR(CheckMapAccessLocked(*bo, *pdd, injection));
  return DispatchMapLocked(bo, pdd, injection);
}

Result<BufferObject*> Process::MapTargetLocked(uint64_t handle) {
  ProcessDevice* pdd = DeviceByIdLocked(HandleGpuId(handle));
  if (pdd == nullptr) return Code::kInvalidArgs;
  auto bound = BindLocked(HandleGpuId(handle));
  if (!bound.ok()) return bound.code();
  BufferObject* bo = pdd->Find(HandleIdr(handle));
  if (bo == nullptr) return Code::kNoMemory;
  return bo;
}

Result<BufferObject*> Process::UnmapTargetLocked(uint64_t handle) {
  ProcessDevice* pdd = DeviceByIdLocked(HandleGpuId(handle));
  if (pdd == nullptr) return Code::kInvalidArgs;
  BufferObject* bo = pdd->Find(HandleIdr(handle));
  if (bo == nullptr) return Code::kNoMemory;
  return bo;
}

Status Process::MapGpusLocked(BufferObject* bo, std::span<const uint32_t> gpu_ids,
                              uint32_t* n_success) {
  for (uint32_t i = *n_success; i < gpu_ids.size(); ++i) {
    ProcessDevice* peer = DeviceByIdLocked(gpu_ids[i]);
    if (peer == nullptr) return Status(Code::kInvalidArgs);
    auto peer_bound = BindLocked(gpu_ids[i]);
    if (!peer_bound.ok()) return peer_bound.status();
    VKFD_RETURN_IF_ERROR(MapOnGpuLocked(bo, peer));
    *n_success = i + 1;
  }
  return Status::Ok();
}

Status Process::UnmapGpusLocked(BufferObject* bo, std::span<const uint32_t> gpu_ids,
                                uint32_t* n_success) {
  for (uint32_t i = *n_success; i < gpu_ids.size(); ++i) {
    ProcessDevice* peer = DeviceByIdLocked(gpu_ids[i]);
    if (peer == nullptr) return Status(Code::kInvalidArgs);
    VKFD_RETURN_IF_ERROR(UnmapOnGpuLocked(bo, peer));
    *n_success = i + 1;
  }
  return Status::Ok();
}

void Process::FlushTlbsLocked(std::span<const uint32_t> gpu_ids, bool heavyweight) {
  for (uint32_t gpu_id : gpu_ids) {
    ProcessDevice* peer = DeviceByIdLocked(gpu_id);
    if (peer != nullptr && peer->vm) peer->vm->FlushTlb(heavyweight);
  }
}

Status Process::MapMemory(uint64_t handle, std::span<const uint32_t> gpu_ids, uint32_t* n_success) {
  std::vector<FenceRef> pending;
  {
    MutexLock lock(&mu_);
    auto bo = MapTargetLocked(handle);
    if (!bo.ok()) return bo.status();
    VKFD_RETURN_IF_ERROR(MapGpusLocked(bo.value(), gpu_ids, n_success));
    pending = PendingFencesLocked(*bo.value());
  }
  // amdgpu_amdkfd_gpuvm_sync_memory(intr=true), outside the process lock.
  if (auto d = CheckFault(FaultPoint::kMapWait); d.error != Code::kOk || d.interrupted) {
    return Status(Code::kInterrupted);
  }
  VKFD_RETURN_IF_ERROR(WaitAll(pending));
  MutexLock lock(&mu_);
  FlushTlbsLocked(gpu_ids, /*heavyweight=*/false);
  return Status::Ok();
}

Status Process::UnmapOnGpuLocked(BufferObject* bo, ProcessDevice* pdd, Injection injection) {
  const size_t gpu = pdd->gpu_index;
  if (!bo->mapped.test(gpu) || !pdd->vm) return Status(Code::kInvalidArgs);
  if (injection == Injection::kArmed) {
    if (auto d = CheckFault(FaultPoint::kUnmapGpu, int(gpu)); d.error != Code::kOk) {
      return Status(d.error);
    }
  }
  auto fence = pdd->vm->Unmap(bo->va, injection);
  if (!fence.ok()) return fence.status();
  bo->mapped.reset(gpu);
  bo->last_update[gpu] = std::move(fence.value());
  return Status::Ok();
}

FenceRef Process::RevertMapLocked(BufferObject* bo, ProcessDevice* pdd) {
  const size_t gpu = pdd->gpu_index;
  // The caller's mapping is there: cannot fail. Unwinding passes no fault point.
  auto fence = pdd->vm->Unmap(bo->va, Injection::kOff);
  if (!fence.ok()) return nullptr;
  bo->mapped.reset(gpu);
  bo->last_update[gpu] = fence.value();
  return std::move(fence.value());
}

Status Process::UnmapMemory(uint64_t handle, std::span<const uint32_t> gpu_ids,
                            uint32_t* n_success) {
  std::vector<FenceRef> pending;
  {
    MutexLock lock(&mu_);
    auto bo = UnmapTargetLocked(handle);
    if (!bo.ok()) return bo.status();
    VKFD_RETURN_IF_ERROR(UnmapGpusLocked(bo.value(), gpu_ids, n_success));
    pending = PendingFencesLocked(*bo.value());
  }
  // gfx90a flushes the TLB after unmap (kfd_flush_tlb_after_unmap), so it waits for the updates.
  if (auto d = CheckFault(FaultPoint::kUnmapWait); d.error != Code::kOk || d.interrupted) {
    return Status(Code::kInterrupted);
  }
  VKFD_RETURN_IF_ERROR(WaitAll(pending));
  MutexLock lock(&mu_);
  FlushTlbsLocked(gpu_ids, /*heavyweight=*/true);
  return Status::Ok();
}

// ---------------------------------------------------------------------------------------------------
// Inspection and teardown

Result<std::string> Process::DumpVm(uint32_t gpu_id) {
  MutexLock lock(&mu_);
  ProcessDevice* pdd = DeviceByIdLocked(gpu_id);
  if (pdd == nullptr) return Code::kInvalidArgs;
  if (!pdd->vm) return std::string();
  return pdd->vm->DumpText();
}

std::optional<std::vector<size_t>> Process::DebugMappedGpus(uint64_t handle) {
  MutexLock lock(&mu_);
  ProcessDevice* pdd = DeviceByIdLocked(HandleGpuId(handle));
  if (pdd == nullptr) return std::nullopt;
  BufferObject* bo = pdd->Find(HandleIdr(handle));
  if (bo == nullptr) return std::nullopt;
  std::vector<size_t> gpus;
  for (size_t i = 0; i < kMaxGpus; ++i) {
    if (bo->mapped.test(i)) gpus.push_back(i);
  }
  return gpus;
}

size_t Process::DebugBoCount() {
  MutexLock lock(&mu_);
  size_t n = 0;
  for (const ProcessDevice& pdd : devices_) n += pdd.handles.size();
  return n;
}

Process::Usage Process::DebugUsage() {
  MutexLock lock(&mu_);
  Usage usage;
  for (const ProcessDevice& pdd : devices_) {
    for (const auto& [id, bo] : pdd.handles) {
      ++usage.bos;
      if (bo->mapped.any()) ++usage.mapped_bos;
    }
  }
  return usage;
}

std::string Process::DebugCheckPageTables() {
  std::vector<FenceRef> pending;
  {
    MutexLock lock(&mu_);
    for (ProcessDevice& pdd : devices_) {
      for (auto& [id, bo] : pdd.handles) {
        auto f = PendingFencesLocked(*bo);
        pending.insert(pending.end(), f.begin(), f.end());
      }
    }
  }
  WaitAllUninterruptible(pending);
  MutexLock lock(&mu_);
  char why[256];
  for (ProcessDevice& pdd : devices_) {
    if (!pdd.vm) continue;
    // Expected: every BO (user or kernel) mapped on this GPU, page by page.
    std::vector<const BufferObject*> bos;
    for (auto& [id, bo] : pdd.handles) bos.push_back(bo.get());
    for (ProcessDevice& other : devices_) {
      for (auto& [id, bo] : other.handles) {
        if (&other != &pdd) bos.push_back(bo.get());
      }
    }
    if (pdd.ib_bo) bos.push_back(pdd.ib_bo.get());
    if (pdd.cwsr_bo) bos.push_back(pdd.cwsr_bo.get());
    std::set<const BufferObject*> unique(bos.begin(), bos.end());
    uint64_t expected_pages = 0;
    hw::PageWalker walker(driver_->node(), pdd.gpu_index);
    for (const BufferObject* bo : unique) {
      if (!bo->mapped.test(pdd.gpu_index)) continue;
      const auto segments = SegmentsFor(*bo, pdd.gpu_index);
      for (const MapSegment& s : segments) {
        for (uint64_t off = 0; off < s.size; off += kPage) {
          auto t = walker.Translate(pdd.vm->root_phys(), s.va + off);
          const uint64_t want = s.pte_flags | hw::kPteValid;
          const uint64_t mask = hw::kPteValid | hw::kPteSystem | hw::kPteSnooped |
                                hw::kPteExecutable | hw::kPteReadable | hw::kPteWriteable |
                                hw::kPteMtypeMask;
          if (!t.ok()) {
            snprintf(why, sizeof(why), "gpu %zu: va 0x%lx of handle 0x%lx not mapped", pdd.gpu_index,
                     static_cast<unsigned long>(s.va + off), static_cast<unsigned long>(bo->handle));
            return why;
          }
          if (t->phys != s.pa + off || (t->entry & mask) != (want & mask) || t->host == nullptr) {
            snprintf(why, sizeof(why), "gpu %zu: va 0x%lx maps phys 0x%lx flags 0x%lx, want 0x%lx 0x%lx",
                     pdd.gpu_index, static_cast<unsigned long>(s.va + off),
                     static_cast<unsigned long>(t->phys), static_cast<unsigned long>(t->entry & mask),
                     static_cast<unsigned long>(s.pa + off), static_cast<unsigned long>(want & mask));
            return why;
          }
          ++expected_pages;
        }
      }
    }
    // Nothing else is mapped: the walker's runs cover exactly the expected number of pages.
    uint64_t walked_pages = 0;
    for (const hw::MappedRun& run : walker.Dump(pdd.vm->root_phys())) {
      walked_pages += (run.end - run.start) / kPage;
    }
    if (walked_pages != expected_pages) {
      snprintf(why, sizeof(why), "gpu %zu: page tables map %lu pages, BOs account for %lu",
               pdd.gpu_index, static_cast<unsigned long>(walked_pages),
               static_cast<unsigned long>(expected_pages));
      return why;
    }
  }
  return std::string();
}

void Process::Teardown() {
  MutexLock lock(&mu_);
  if (torn_down_) return;
  torn_down_ = true;
  // Unmap every BO everywhere, then free them, then release the VMs.
  auto unmap_all = [&](BufferObject* bo) REQUIRES(mu_) {
    for (ProcessDevice& pdd : devices_) {
      if (bo->mapped.test(pdd.gpu_index)) {
        UnmapOnGpuLocked(bo, &pdd, Injection::kOff).IgnoreError();  // mapped and unarmed: cannot fail
      }
    }
  };
  for (ProcessDevice& pdd : devices_) {
    for (auto& [id, bo] : pdd.handles) unmap_all(bo.get());
    if (pdd.ib_bo) unmap_all(pdd.ib_bo.get());
    if (pdd.cwsr_bo) unmap_all(pdd.cwsr_bo.get());
  }
  for (ProcessDevice& pdd : devices_) {
    for (auto& [id, bo] : pdd.handles) DestroyBoLocked(&pdd, bo.get());
    pdd.handles.clear();
    if (pdd.ib_bo) DestroyBoLocked(&pdd, pdd.ib_bo.get());
    if (pdd.cwsr_bo) DestroyBoLocked(&pdd, pdd.cwsr_bo.get());
    pdd.ib_bo.reset();
    pdd.cwsr_bo.reset();
    pdd.vm.reset();
    pdd.drm_file_id = 0;
  }
  // kfd_process_destroy_pdds / kfd_event_free_process: the events (and the kernel event page) and
  // the queues go too. A caller still holding a table keeps it alive until it is done.
  events_.reset();
  queues_.reset();
  has_signal_handle_ = false;
  has_queues_ = false;
}

}  // namespace vkfd::kfd

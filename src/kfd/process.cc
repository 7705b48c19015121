// Process: life cycle, binding, ACQUIRE_VM, apertures and policies (see process.h for the map of files).
#include "kfd/process.h"

#include "kfd/driver.h"
#include "kfd/mmap_offsets.h"

namespace vkfd::kfd {
namespace {

constexpr uint64_t kPage = hw::kPageSize;

// GFX9 apertures (kfd_init_apertures_v9): LDS and scratch in the non-canonical hole, GPUVM from
// SVM_USER_BASE (16 KiB: below it sit the IB and CWSR pages) to the top of the x86-64 user half.
constexpr uint64_t kLdsBase = 1ull << 48;
constexpr uint64_t kScratchBase = 2ull << 48;
constexpr uint64_t kApertureSpan = 0xffffffffull;
constexpr uint64_t kGpuvmBase = 0x4000;
constexpr uint64_t kGpuvmLimit = (1ull << 47) - 1;
constexpr uint64_t kIbBase = 0x1000;
constexpr uint64_t kCwsrBase = 0x2000;

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

ProcessDevice* Process::FindDeviceLocked(uint32_t gpu_id) {
  auto index = driver_->GpuIndex(gpu_id);
  if (!index) return nullptr;
  return &devices_[*index];
}

Result<ProcessDevice*> Process::BindLocked(ProcessDevice* pdd, Code unbound) {
  if (!pdd->vm) return unbound;
  return pdd;
}

Result<ProcessDevice*> Process::BoundDeviceLocked(uint32_t gpu_id, Code unbound) {
  ProcessDevice* pdd = FindDeviceLocked(gpu_id);
  if (pdd == nullptr) return Code::kInvalidArgs;
  return BindLocked(pdd, unbound);
}

BufferObject* Process::FindBoLocked(uint64_t handle) {
  ProcessDevice* pdd = FindDeviceLocked(HandleGpuId(handle));
  return pdd == nullptr ? nullptr : pdd->Find(HandleIdr(handle));
}

void Process::set_signal_handle(uint64_t handle) {
  MutexLock lock(&mu_);
  signal_handle_ = handle;
  has_signal_handle_ = true;
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
    ProcessDevice* pdd = FindDeviceLocked(gpu_id);
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
  auto bound = BoundDeviceLocked(gpu_id, Code::kNoProcess);
  if (!bound.ok()) return bound.status();
  ProcessDevice* pdd = bound.value();
  // GFX9 has no APE1: its queue manager has no set_cache_memory_policy of its own, so 6.1's
  // set_cache_memory_policy() returns success before it would check the alternate aperture (the
  // alignment checks are CIK/VI's). The values are only recorded.
  pdd->ape1_base = alternate_size == 0 ? 1 : alternate_base;
  pdd->ape1_limit = alternate_size == 0 ? 0 : alternate_base + alternate_size - 1;
  pdd->default_policy = default_policy;
  pdd->alternate_policy = alternate_policy;
  return Status::Ok();
}

Result<uint64_t> Process::AvailableMemory(uint32_t gpu_id) {
  MutexLock lock(&mu_);
  ProcessDevice* pdd = FindDeviceLocked(gpu_id);
  if (pdd == nullptr) return Code::kInvalidArgs;
  return driver_->limits().AvailableVram(pdd->gpu_index);
}

// ---------------------------------------------------------------------------------------------------
// Teardown

void Process::Teardown() {
  MutexLock lock(&mu_);
  if (torn_down_) return;
  torn_down_ = true;
  // kfd_process_dequeue_from_all_devices first: the queues' engines stop (the packets in flight
  // finish) before the memory and the VMs they use go away.
  queues_.reset();
  // Unmap every BO everywhere, then free them, then release the VMs.
  auto unmap_all = [&](BufferObject* bo) REQUIRES(mu_) {
    for (ProcessDevice& pdd : devices_) {
      if (bo->mapped.test(pdd.gpu_index) || bo->upper_mapped.test(pdd.gpu_index)) {
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
    if (pdd.doorbell_slice != 0) {
      driver_->node().gpu(pdd.gpu_index).doorbells->FreeSlice(pdd.doorbell_slice);
      pdd.doorbell_slice = 0;
    }
  }
  // kfd_process_destroy_pdds / kfd_event_free_process: the events (and the kernel event page) and
  // the queues go too. A caller still holding a table keeps it alive until it is done.
  events_.reset();
  queues_.reset();
  has_signal_handle_ = false;
}

}  // namespace vkfd::kfd

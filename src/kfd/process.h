// Process: one client address space as KFD sees it (kfd_process) — its per-GPU devices, buffer
// objects and VMs, and the operations on them with the reference kernel's semantics, quirks included.
//
// Life cycle: created by Driver::OpenProcess at the first open of /dev/kfd by an address space (one per
// mm, however often the device is opened); Teardown runs what the kernel runs when the mm goes away, and
// after it the object holds nothing but its identity.
//
// Locking: mu_ is the kernel's p->mutex. Every operation takes it for its bookkeeping. MAP and UNMAP
// also hold it through their interruptible wait for the page-table updates, as 6.1.y does (the
// March 2023 kgd_mem use-after-free fix; 6.1.0 unlocked first): another thread's ioctls of this
// process — any that take p->mutex — wait (uninterruptibly, like mutex_lock) until that wait ends or
// is interrupted; MAP's TLB flush runs after unlocking. The extension designs wait without it. The
// driver's own synchronous waits — ACQUIRE_VM's kernel mappings, FREE and teardown waiting for the
// last update of the memory they release — hold it too. All of these wait for DMA jobs only, and a
// DMA completion never takes a Process lock, so none can deadlock (kfd/driver.h has the lock order).
//
// Status codes are the kernel's error choices (uapi/ only translates them 1:1 to errno): e.g. an
// unknown handle in MAP is kNoMemory, FREE of a mapped BO is kBusy, a repeated MAP on a GPU is a no-op
// success, a repeated UNMAP is kInvalidArgs. MAP and UNMAP walk the GPU list from *n_success and
// advance it after each GPU, so a failed call reports how far it got and a retry with the same value
// resumes there; when the final wait is interrupted, *n_success already equals the list length and the
// retry only waits.
//
// The implementation is spread by job: process.cc (life cycle, binding, ACQUIRE_VM, policies),
// process_memory.cc (ALLOC/FREE), process_map.cc (MAP/UNMAP and their building blocks), pte_policy.h
// (which PTEs a BO gets), process_checks.cc (test support: invariant 1), process_queues.cc (events,
// queues, trap/scratch registers, /dev/kfd mmaps).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "base/status.h"
#include "base/thread_annotations.h"
#include "kfd/buffer_object.h"
#include "kfd/process_device.h"

namespace vkfd::kfd {

class Driver;
class EventTable;
class QueueTable;
struct CreatedQueue;
struct QueueProperties;
struct WaveState;

// The placement bits of an ALLOC request, as given (several may be set; the kernel's order decides).
struct AllocKind {
  bool vram = false;
  bool gtt = false;
  bool userptr = false;
  bool doorbell = false;
  bool mmio_remap = false;
};

struct AllocRequest {
  uint32_t gpu_id = 0;
  uint64_t va = 0;
  uint64_t size = 0;
  AllocKind kind;
  BoAttributes attrs;
  uint64_t user_addr = 0;  // USERPTR: the CPU address (ALLOC's mmap_offset input)
};

struct AllocResult {
  uint64_t handle = 0;
  uint64_t mmap_offset = 0;
};

enum class CachePolicy { kCoherent = 0, kNonCoherent = 1 };

class Process {
 public:
  Process(Driver* driver, int pid);
  ~Process();
  Process(const Process&) = delete;
  Process& operator=(const Process&) = delete;

  int pid() const { return pid_; }
  Driver& driver() { return *driver_; }

  // ACQUIRE_VM. kInvalidArgs: unknown gpu, or `file` is not that GPU's render node; kBusy: another
  // file was acquired already (the same file again is a no-op).
  Status AcquireVm(uint32_t gpu_id, const DrmFileRef& file) EXCLUDES(mu_);
  std::vector<Apertures> GetApertures() EXCLUDES(mu_);
  Status SetMemoryPolicy(uint32_t gpu_id, int default_policy, int alternate_policy,
                         uint64_t alternate_base, uint64_t alternate_size) EXCLUDES(mu_);
  Result<uint64_t> AvailableMemory(uint32_t gpu_id) EXCLUDES(mu_);

  Result<AllocResult> AllocMemory(const AllocRequest& request) EXCLUDES(mu_);
  Status FreeMemory(uint64_t handle) EXCLUDES(mu_);
  Status MapMemory(uint64_t handle, std::span<const uint32_t> gpu_ids, uint32_t* n_success)
      EXCLUDES(mu_);
  Status UnmapMemory(uint64_t handle, std::span<const uint32_t> gpu_ids, uint32_t* n_success)
      EXCLUDES(mu_);

  // Inspection: the page-table view of one GPU (kInvalidArgs for an unknown gpu; empty without a VM).
  Result<std::string> DumpVm(uint32_t gpu_id) EXCLUDES(mu_);
  // Test support (process_checks.cc): checks invariant 1 on every GPU — the walker's view of the page
  // tables equals the union of the BOs marked mapped, with the expected flags. Empty string when it
  // holds, else why not.
  std::string DebugCheckPageTables() EXCLUDES(mu_);
  // Test support: the GPU indices a handle is mapped on, or nullopt if the handle does not exist.
  std::optional<std::vector<size_t>> DebugMappedGpus(uint64_t handle) EXCLUDES(mu_);
  size_t DebugBoCount() EXCLUDES(mu_);
  // The client's BOs (not the driver's IB/CWSR pages): how many exist and how many are mapped on at
  // least one GPU. What is left at exit after the client's own cleanup is leaked.
  struct Usage {
    size_t bos = 0;
    size_t mapped_bos = 0;
  };
  Usage DebugUsage() EXCLUDES(mu_);

  // The event-page BO, which FREE refuses (set by CREATE_EVENT).
  void set_signal_handle(uint64_t handle) EXCLUDES(mu_);

  // Process exit: unmaps and frees every BO on every GPU and releases the VMs. Idempotent.
  void Teardown() EXCLUDES(mu_);

  // ---- Building blocks for other map designs (kfd/ extensions); the caller holds mutex(). ----
  Mutex& mutex() RETURN_CAPABILITY(mu_) { return mu_; }
  // kfd_process_device_data_by_id: this process's data for a GPU, or null for an unknown gpu_id.
  ProcessDevice* FindDeviceLocked(uint32_t gpu_id) REQUIRES(mu_);
  // kfd_bind_process_to_device: the device once ACQUIRE_VM bound a VM; until then `unbound` — the
  // kernel's own kNoDevice, which most ioctls pass through (CREATE_QUEUE, SET_MEMORY_POLICY and
  // SET_TRAP_HANDLER turn it into kNoProcess, -ESRCH).
  static Result<ProcessDevice*> BindLocked(ProcessDevice* pdd, Code unbound = Code::kNoDevice);
  // Both, as most ioctls do them one after the other: kInvalidArgs for an unknown gpu_id, then bind.
  Result<ProcessDevice*> BoundDeviceLocked(uint32_t gpu_id, Code unbound = Code::kNoDevice)
      REQUIRES(mu_);
  // The BO of a handle, or null.
  BufferObject* FindBoLocked(uint64_t handle) REQUIRES(mu_);
  // MAP's and UNMAP's prologue: the BO of `handle`. kInvalidArgs if the handle's GPU is unknown;
  // MAP only: binding errors (kNoDevice) for that GPU; kNoMemory (sic) if the handle is unknown.
  Result<BufferObject*> MapTargetLocked(uint64_t handle) REQUIRES(mu_);
  Result<BufferObject*> UnmapTargetLocked(uint64_t handle) REQUIRES(mu_);
  // MAP's and UNMAP's loop over the GPU list, from *n_success on, advancing it after each GPU:
  // unknown gpu kInvalidArgs, (MAP) binding errors, then the per-GPU step below.
  Status MapGpusLocked(BufferObject* bo, std::span<const uint32_t> gpu_ids, uint32_t* n_success)
      REQUIRES(mu_);
  Status UnmapGpusLocked(BufferObject* bo, std::span<const uint32_t> gpu_ids, uint32_t* n_success)
      REQUIRES(mu_);
  // One GPU's step of MAP (already mapped: no-op) and of UNMAP (not mapped: kInvalidArgs), with the
  // kernel's checks and fault points; the update's fence is stored in bo->last_update[gpu].
  // MapOnGpuLocked is CheckMapAccessLocked followed by DispatchMapLocked. Injection::kOff: the
  // driver's own mappings and teardown, which pass no fault point.
  Status MapOnGpuLocked(BufferObject* bo, ProcessDevice* pdd,
                        Injection injection = Injection::kArmed) REQUIRES(mu_);
  Status UnmapOnGpuLocked(BufferObject* bo, ProcessDevice* pdd,
                          Injection injection = Injection::kArmed) REQUIRES(mu_);
  // The checks of one GPU's MAP step that change nothing, in the kernel's order (kfd_mem_attach,
  // made once per (BO, VM): an attached BO passes): VA 0, peer VRAM, doorbell or MMIO without an
  // XGMI hive or PCIe peer access (both kInvalidArgs), then the map.peer_access fault point. The BO
  // must not be mapped there.
  Status CheckMapAccessLocked(const BufferObject& bo, const ProcessDevice& pdd,
                              Injection injection = Injection::kArmed) REQUIRES(mu_);
  // The rest of the MAP step: the attachment, then the page-table update (VA conflict kInvalidArgs,
  // the map.page_tables and dma.submit fault points, page tables kNoMemory), whose fence becomes
  // last_update.
  Status DispatchMapLocked(BufferObject* bo, ProcessDevice* pdd,
                           Injection injection = Injection::kArmed) REQUIRES(mu_);
  // What DispatchMapLocked checks and allocates, changing nothing and submitting no job: VA range and
  // conflicts (kInvalidArgs), page-table memory by a trial allocation given back (kNoMemory). No
  // fault point. The GPU must be bound and the BO not mapped there.
  Status TrialMapLocked(const BufferObject& bo, ProcessDevice* pdd) REQUIRES(mu_);
  // Unwinding: unmaps a mapping the caller made on `pdd` — no fault point, cannot fail — and returns
  // the update's fence (also stored in last_update).
  FenceRef RevertMapLocked(BufferObject* bo, ProcessDevice* pdd) REQUIRES(mu_);
  // MAP's (lightweight) and UNMAP's (heavyweight) TLB flush bookkeeping for the listed GPUs.
  void FlushTlbsLocked(std::span<const uint32_t> gpu_ids, bool heavyweight) REQUIRES(mu_);
  // The VAs at which `bo` has a mapping on GPU `gpu`, in the order the kernel's attachment list
  // has them (the upper half of AQL queue memory first).
  static std::vector<uint64_t> MappedVasLocked(const BufferObject& bo, size_t gpu);
  // Page-table updates of `bo` not yet signalled.
  std::vector<FenceRef> PendingFencesLocked(const BufferObject& bo) REQUIRES(mu_);

 private:
  void ReleaseBackingLocked(BufferObject* bo) REQUIRES(mu_);
  Result<std::unique_ptr<BufferObject>> CreateKernelBoLocked(ProcessDevice* pdd, uint64_t va,
                                                             uint64_t size, bool writable)
      REQUIRES(mu_);
  void DestroyBoLocked(ProcessDevice* pdd, BufferObject* bo) REQUIRES(mu_);

  Driver* const driver_;
  const int pid_;
  Mutex mu_;
  std::vector<ProcessDevice> devices_ GUARDED_BY(mu_);
  uint64_t signal_handle_ GUARDED_BY(mu_) = 0;
  bool has_signal_handle_ GUARDED_BY(mu_) = false;
  bool torn_down_ GUARDED_BY(mu_) = false;

  // ---- Events, queues, per-GPU trap/scratch state and /dev/kfd mmaps (process_queues.cc) ----
 public:
  // Where an mmap of /dev/kfd at some offset lands: bytes `offset..` of the file `fd` (owned by the
  // driver: a GPU's memfd or the kernel event page), or fresh zeroed pages when fd is -1.
  struct KfdMmapTarget {
    int fd = -1;
    uint64_t offset = 0;
  };
  // Held by the caller for as long as it uses it: Teardown drops the process's reference.
  std::shared_ptr<EventTable> events() EXCLUDES(mu_);
  // CREATE_EVENT's event_page_offset: the GTT BO `handle` becomes the event page and FREE refuses it.
  // kInvalidArgs: a page exists, unknown gpu or handle, a userptr/DOORBELL/MMIO_REMAP BO, smaller than
  // 32 KiB; binding errors passed through.
  Status SetEventPage(uint64_t handle) EXCLUDES(mu_);
  // SET_SCRATCH_BACKING_VA (kInvalidArgs unknown gpu, kNoDevice unbound) and SET_TRAP_HANDLER
  // (kInvalidArgs unknown gpu, kNoProcess unbound).
  Status SetScratchBackingVa(uint32_t gpu_id, uint64_t va) EXCLUDES(mu_);
  Status SetTrapHandler(uint32_t gpu_id, uint64_t tba, uint64_t tma) EXCLUDES(mu_);
  bool HasGpu(uint32_t gpu_id) EXCLUDES(mu_);
  // kfd_process_device_data_by_id then kfd_bind_process_to_device, as IMPORT_DMABUF does them:
  // kInvalidArgs unknown gpu, kNoDevice without a VM.
  Status BindDevice(uint32_t gpu_id) EXCLUDES(mu_);
  // CREATE_QUEUE after argument checks: kInvalidArgs unknown gpu, kNoProcess unbound, kNoMemory
  // when the GPU has no doorbell slice left; then QueueTable::Create's errors.
  Result<CreatedQueue> CreateQueue(uint32_t gpu_id, const QueueProperties& props) EXCLUDES(mu_);
  Status DestroyQueue(uint32_t queue_id) EXCLUDES(mu_);
  // UPDATE_QUEUE, SET_CU_MASK, GET_QUEUE_WAVE_STATE (kfd/queue.h has their errors).
  Status UpdateQueue(uint32_t queue_id, uint64_t ring_base, uint32_t ring_size, uint32_t percentage,
                     uint32_t priority) EXCLUDES(mu_);
  Status SetCuMask(uint32_t queue_id, const std::vector<uint32_t>& mask) EXCLUDES(mu_);
  Result<WaveState> GetQueueWaveState(uint32_t queue_id) EXCLUDES(mu_);
  // kfd_ioctl_alloc_queue_gws: kInvalidArgs unknown queue, kNoDevice for a GPU without GWS, then
  // pqm_set_gws's errors; *touched tells whether pqm_set_gws ran (first_gws is written then).
  Status AllocQueueGws(uint32_t queue_id, bool acquire, bool* touched) EXCLUDES(mu_);
  std::shared_ptr<QueueTable> queues() EXCLUDES(mu_);
  // VKFD_IOC_SUBMIT: QueueTable::Submit, without the process lock (a dispatch does not wait for a
  // MAP in another thread, as a doorbell write would not).
  Result<uint64_t> SubmitToQueue(uint32_t queue_id, std::span<const uint8_t> packets, bool run_here)
      EXCLUDES(mu_);
  // kfd_mmap: kNoDevice for an unknown gpu (doorbell, MMIO, reserved), kInvalidArgs for a wrong size
  // (doorbells: the process slice; MMIO: one page; reserved: KFD_CWSR_TBA_TMA_SIZE) or an event page
  // that does not exist. Doorbells are allocated on demand, MMIO needs no BO.
  Result<KfdMmapTarget> ResolveKfdMmap(uint64_t offset, uint64_t size) EXCLUDES(mu_);

 private:
  // kfd_alloc_process_doorbells, once per (process, GPU).
  Status EnsureDoorbellsLocked(ProcessDevice* pdd) REQUIRES(mu_);

  std::shared_ptr<EventTable> events_ GUARDED_BY(mu_);
  std::shared_ptr<QueueTable> queues_ GUARDED_BY(mu_);
};

}  // namespace vkfd::kfd

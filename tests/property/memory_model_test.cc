// Property-based tests of the memory ioctls: random sequences of ALLOC / MAP / UNMAP / FREE, issued
// as raw ioctls (linux/kfd_ioctl.h structs) on a fresh emulated node, agree step by step with a small
// model of the kernel's rules written here (../shared/reference/kfd-semantics.md §3–§4).
//
// What is checked after every step: the return value, errno, `n_success` (copied out also on error),
// the handle ALLOC returns, the page-table walker's view of every GPU (`DumpVm`, parsed into
// "0x<start>-0x<end> RWXS" runs) and AVAILABLE_MEMORY of every GPU; and vkfd's own invariant 1
// check (which also waits for page-table updates a failed MAP/UNMAP left in flight, so the walker
// sees the final tables). Each case ends by unmapping and freeing everything: the walker must then
// see only the kernel's pages and AVAILABLE_MEMORY its baseline (invariant 3).
//
// The inputs: device lists with valid, unknown and duplicated ids in random order; on `small-bar`
// peers without access to each other's VRAM, on `mi210x4` PCIe peers (SYSTEM bit), on `mi250x8` an
// XGMI hive (no SYSTEM bit); a random starting `n_success` (also > n_devices, and n_devices == 0);
// unknown and stale handles; VAs from a few page-aligned slots so that mappings overlap, plus VA 0, a
// misaligned VA, the kernel's CWSR pages and the last page below 2^48; and up to two armed fault
// rules (FaultInjector spec language, errors only), seeded from the case.
//
// The model (KernelModel below) uses nothing from src/: a map handle → {owner GPU, VA, size, flags,
// the VMs it is attached to, the GPUs it is mapped on}; per GPU an interval set of the VM's mappings
// (starting with the IB page at 0x1000 and the CWSR pages at 0x2000–0x3fff that ACQUIRE_VM maps);
// per GPU the lowest free IDR number; the VRAM charged per GPU in 2 MiB steps; and the fault rules
// with their call counters. Its order of checks is the kernel's: the argument checks, the handle,
// then for i = n_success .. n_devices-1: the device; "already mapped → skip" (MAP is idempotent per
// GPU); at the first MAP on that VM, VA 0 and the peer-access decision (kfd_mem_attach); the range
// checks (amdgpu_vm_bo_map); the page-table update; n_success = i + 1. Then the wait. UNMAP: the
// device, "not mapped → EINVAL" (UNMAP is not idempotent), the unmap. A fault point is reached where
// the kernel has the failure it stands for, so a rule's nth call is the model's nth call too.
//
// Replay and scale: rapidcheck prints the seed at start ("Using configuration: seed=N") and, after a
// failure, the shrunk counterexample (the generated values and the ioctl trace) and a line
//   RC_PARAMS="reproduce=..."
// Run `RC_PARAMS="seed=N" ./property_test` to rerun the same cases, or the printed reproduce string
// to rerun only the shrunk counterexample. 100 cases per topology by default, at most ~60 operations
// each; a fifth of that when VKFD_TEST_SCALE=sanitizer (unless RC_PARAMS sets max_success); a long
// local run: `RC_PARAMS="max_success=5000" ./property_test`. See docs/testing.md.
#include <errno.h>
#include <gtest/gtest.h>
#include <linux/kfd_ioctl.h>
#include <rapidcheck.h>

#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "base/fault_inject.h"
#include "uapi/fault_spec.h"
#include "uapi/backend.h"

namespace vkfd::property {
namespace {

constexpr uint64_t kPage = 0x1000;
constexpr uint64_t kMiB = 1ull << 20;
// AVAILABLE_MEMORY counts VRAM in 2 MiB steps (vram_used_aligned, §4.1); the limit itself counts
// pages, which the sizes drawn here never reach.
constexpr uint64_t kVramStep = 2 * kMiB;
constexpr uint64_t kVaLimit = 1ull << 48;  // GFX9: 48-bit VA (§6); amdgpu_vm_bo_map's max_pfn
constexpr uint64_t kUserBase = 0x7f0000000000ull;
constexpr uint64_t kBadUserPointer = 16;  // never mapped: copy_from_user fails

uint64_t PageAlign(uint64_t v) { return (v + kPage - 1) & ~(kPage - 1); }
uint64_t VramCharge(uint64_t size) { return (PageAlign(size) + kVramStep - 1) & ~(kVramStep - 1); }

// ---------------------------------------------------------------------------------------------------
// What the model knows about each topology: facts of the hardware (presets/*.toml), not rules.

struct TopologyFacts {
  const char* name;
  size_t gpus;
  bool peer_vram;  // may a GPU map another GPU's VRAM at all
  bool hive;       // ... over XGMI (no SYSTEM bit) rather than over PCIe (SYSTEM bit)
  bool small_bar;  // VRAM not fully CPU-visible: PUBLIC VRAM is refused
};

constexpr TopologyFacts kMi210x4{"mi210x4", 4, /*peer_vram=*/true, /*hive=*/false, false};
constexpr TopologyFacts kSmallBar{"small-bar", 2, /*peer_vram=*/false, /*hive=*/false, true};
constexpr TopologyFacts kMi250x8{"mi250x8", 8, /*peer_vram=*/true, /*hive=*/true, false};

// The pages ACQUIRE_VM maps into every GPU's VM: the IB page (GTT, writable, executable) and the
// two CWSR trap-handler pages (GTT, executable), at SVM_IB_BASE and SVM_CWSR_BASE.
struct KernelPages {
  uint64_t start, end;
  const char* flags;
};
constexpr KernelPages kKernelPages[] = {{0x1000, 0x2000, "RWXS"}, {0x2000, 0x4000, "R-XS"}};

// ---------------------------------------------------------------------------------------------------
// The generated operations. Handles and devices are referred to by index into what exists when the
// operation runs, so removing operations while shrinking keeps the rest meaningful.

struct VaSlot {
  uint64_t va;
  size_t weight;
};
// Page-aligned slots close together so that BOs of the sizes below overlap, plus the edge cases.
constexpr VaSlot kVaSlots[] = {
    {kUserBase, 6},
    {kUserBase + 0x1000, 3},
    {kUserBase + 0x2000, 3},
    {kUserBase + 2 * kMiB, 4},
    {kUserBase + 4 * kMiB, 3},
    {kUserBase + 64 * kMiB, 2},  // far from the others: room for BOs that stay mapped
    {kUserBase + 128 * kMiB, 2},
    {kUserBase + 0x800, 1},   // misaligned: EINVAL at MAP, not at ALLOC
    {0, 1},                   // VA 0: EINVAL at MAP
    {0x3000, 1},              // inside the CWSR pages
    {0x4000, 1},              // the first page above them
    {kVaLimit - kPage, 1},    // the last page: only a one-page BO fits
};
struct SizeSlot {
  uint64_t size;
  size_t weight;
};
constexpr SizeSlot kSizes[] = {
    {0x1000, 5}, {0x2000, 3}, {0x1800, 2}, {2 * kMiB, 3}, {4 * kMiB, 1}, {0, 1},
};

enum class OpKind : uint8_t { kAlloc, kMap, kUnmap, kFree, kRetry };
enum class Placement : uint8_t { kVram, kGtt, kNone };

struct DeviceRef {
  bool known = true;
  uint32_t index = 0;  // known: GPU index (mod n); else index into the unknown ids (mod count)
};

struct HandleRef {
  enum class Kind : uint8_t { kLive, kIssued, kUnknownIdr, kUnknownGpu };
  Kind kind = Kind::kLive;
  uint32_t index = 0;  // kLive: into the live handles; kIssued: into every handle ever issued,
                       // freed ones included (mod count)
};

struct Op {
  OpKind kind = OpKind::kAlloc;
  // ALLOC
  DeviceRef gpu;
  uint32_t va_slot = 0;
  uint32_t size_slot = 0;
  Placement placement = Placement::kVram;
  bool writable = false;
  bool executable = false;
  bool cpu_visible = false;
  // MAP, UNMAP, FREE (RETRY repeats the last MAP/UNMAP from the n_success it copied out)
  HandleRef handle;
  std::vector<DeviceRef> devices;
  uint32_t n_success = 0;
  bool bad_device_pointer = false;
};

const char* OpName(OpKind kind) {
  switch (kind) {
    case OpKind::kAlloc: return "ALLOC";
    case OpKind::kMap: return "MAP";
    case OpKind::kUnmap: return "UNMAP";
    case OpKind::kFree: return "FREE";
    case OpKind::kRetry: return "RETRY";
  }
  return "?";
}

void showValue(const DeviceRef& d, std::ostream& os) {
  os << (d.known ? "gpu#" : "unknown#") << d.index;
}

void showValue(const HandleRef& h, std::ostream& os) {
  switch (h.kind) {
    case HandleRef::Kind::kLive: os << "live#" << h.index; break;
    case HandleRef::Kind::kIssued: os << "issued#" << h.index; break;
    case HandleRef::Kind::kUnknownIdr: os << "unknown-idr#" << h.index; break;
    case HandleRef::Kind::kUnknownGpu: os << "unknown-gpu#" << h.index; break;
  }
}

void showValue(const Op& op, std::ostream& os) {
  os << OpName(op.kind);
  switch (op.kind) {
    case OpKind::kAlloc:
      os << " ";
      showValue(op.gpu, os);
      os << " va=0x" << std::hex << kVaSlots[op.va_slot].va << " size=0x"
         << kSizes[op.size_slot].size << std::dec
         << (op.placement == Placement::kVram  ? " VRAM"
             : op.placement == Placement::kGtt ? " GTT"
                                               : " no-placement")
         << (op.writable ? "|W" : "") << (op.executable ? "|X" : "")
         << (op.cpu_visible ? "|PUBLIC" : "");
      break;
    case OpKind::kMap:
    case OpKind::kUnmap:
      os << " ";
      showValue(op.handle, os);
      os << " [";
      for (size_t i = 0; i < op.devices.size(); ++i) {
        if (i) os << " ";
        showValue(op.devices[i], os);
      }
      os << "] n_success=" << op.n_success << (op.bad_device_pointer ? " bad-pointer" : "");
      break;
    case OpKind::kFree:
      os << " ";
      showValue(op.handle, os);
      break;
    case OpKind::kRetry:
      break;
  }
}

// A number in [min, max) drawn from the whole range whatever rapidcheck's current size (inRange
// scales the range with the size, which would pin every choice to `min` in short containers);
// shrinks towards `min`.
template <typename T>
rc::Gen<T> Uniform(T min, T max) {
  return rc::gen::resize(100, rc::gen::inRange<T>(min, max));
}

// An index drawn with the given weights; shrinks towards index 0.
rc::Gen<uint32_t> WeightedIndex(std::vector<size_t> weights) {
  size_t total = 0;
  for (size_t w : weights) total += w;
  return rc::gen::map(Uniform<size_t>(0, total), [weights](size_t r) {
    uint32_t i = 0;
    while (r >= weights[i]) r -= weights[i++];
    return i;
  });
}

template <typename Slot, size_t N>
rc::Gen<uint32_t> SlotIndex(const Slot (&slots)[N]) {
  std::vector<size_t> weights;
  for (const Slot& s : slots) weights.push_back(s.weight);
  return WeightedIndex(weights);
}

// True with probability `weight_true / (weight_true + weight_false)`; shrinks towards false.
rc::Gen<bool> Sometimes(size_t weight_true, size_t weight_false) {
  return rc::gen::map(WeightedIndex({weight_false, weight_true}), [](uint32_t i) { return i == 1; });
}

rc::Gen<DeviceRef> GenDevice() {
  return rc::gen::build<DeviceRef>(rc::gen::set(&DeviceRef::known, Sometimes(12, 1)),
                                   rc::gen::set(&DeviceRef::index, Uniform<uint32_t>(0, 16)));
}

rc::Gen<Op> GenOp(size_t gpus) {
  const auto kind = rc::gen::weightedElement<OpKind>({{3, OpKind::kAlloc},
                                                      {4, OpKind::kMap},
                                                      {2, OpKind::kUnmap},
                                                      {2, OpKind::kFree},
                                                      {1, OpKind::kRetry}});
  const auto handle = rc::gen::build<HandleRef>(
      rc::gen::set(&HandleRef::kind,
                   rc::gen::weightedElement<HandleRef::Kind>({{10, HandleRef::Kind::kLive},
                                                              {3, HandleRef::Kind::kIssued},
                                                              {1, HandleRef::Kind::kUnknownIdr},
                                                              {1, HandleRef::Kind::kUnknownGpu}})),
      rc::gen::set(&HandleRef::index, Uniform<uint32_t>(0, 64)));
  // Lists up to two longer than the node, so duplicates are common and empty lists happen.
  const auto devices = rc::gen::resize(static_cast<int>(gpus) + 2,
                                       rc::gen::container<std::vector<DeviceRef>>(GenDevice()));
  // Mostly 0, as a first call has it; else anything up to past the end of the list.
  const auto n_success = rc::gen::weightedOneOf<uint32_t>(
      {{6, rc::gen::just<uint32_t>(0)},
       {2, Uniform<uint32_t>(0, static_cast<uint32_t>(gpus) + 4)}});
  const auto placement = rc::gen::weightedElement<Placement>(
      {{6, Placement::kVram}, {4, Placement::kGtt}, {1, Placement::kNone}});
  return rc::gen::build<Op>(
      rc::gen::set(&Op::kind, kind), rc::gen::set(&Op::gpu, GenDevice()),
      rc::gen::set(&Op::va_slot, SlotIndex(kVaSlots)),
      rc::gen::set(&Op::size_slot, SlotIndex(kSizes)), rc::gen::set(&Op::placement, placement),
      rc::gen::set(&Op::writable, rc::gen::arbitrary<bool>()),
      rc::gen::set(&Op::executable, rc::gen::arbitrary<bool>()),
      rc::gen::set(&Op::cpu_visible, Sometimes(1, 4)), rc::gen::set(&Op::handle, handle),
      rc::gen::set(&Op::devices, devices), rc::gen::set(&Op::n_success, n_success),
      rc::gen::set(&Op::bad_device_pointer, Sometimes(1, 30)));
}

// ---------------------------------------------------------------------------------------------------
// Fault rules, in the FaultInjector's spec language. Only error effects (no signals, no delays).

enum Point : uint8_t {
  kAllocReserve,
  kAllocBacking,
  kMapPeerAccess,
  kMapPageTables,
  kDmaSubmit,
  kMapWait,
  kUnmapGpu,
  kUnmapWait,
  kFree,
  kPointCount,
};

struct PointInfo {
  const char* name;
  bool per_gpu;
  std::vector<int> errors;  // what the kernel can return where this point stands
};

const PointInfo& Info(uint8_t point) {
  static const PointInfo kPoints[kPointCount] = {
      {"alloc.reserve", true, {ENOMEM}},          // amdgpu_amdkfd_reserve_mem_limit
      {"alloc.backing", true, {ENOMEM}},          // amdgpu_bo_create
      {"map.peer_access", true, {EINVAL}},        // kfd_mem_attach: peer VRAM refused
      {"map.page_tables", true, {ENOMEM, EINVAL, EINTR}},  // VA mapping and page tables
      {"dma.submit", true, {ENOMEM, EINTR}},      // building the page-table job
      {"map.wait", false, {EINTR}},               // amdgpu_amdkfd_gpuvm_sync_memory
      {"unmap.gpu", true, {ENOMEM, EINTR}},       // per-GPU unmap
      {"unmap.wait", false, {EINTR}},             // the wait before the TLB flush after unmap
      {"free", true, {ENOMEM, EINTR}},            // amdgpu_amdkfd_gpuvm_free_memory_of_gpu
  };
  return kPoints[point];
}

const char* ErrnoName(int e) {
  switch (e) {
    case 0: return "0";
    case EINVAL: return "EINVAL";
    case ENOMEM: return "ENOMEM";
    case EINTR: return "EINTR";
    case EBUSY: return "EBUSY";
    case EFAULT: return "EFAULT";
    case ENODEV: return "ENODEV";
    case EPERM: return "EPERM";
  }
  return strerror(e);
}

enum class Trigger : uint8_t { kNth, kEvery, kAlways, kProbabilityOne, kProbabilityZero };

struct FaultRule {
  uint8_t point = 0;
  int gpu = -1;  // the GPU index the rule names; -1: any (always -1 for points without a GPU)
  Trigger trigger = Trigger::kNth;
  uint32_t n = 1;      // nth= / every=
  uint32_t times = 0;  // times= (0: unlimited)
  uint32_t error = 0;  // index into Info(point).errors

  int errno_value() const { return Info(point).errors[error % Info(point).errors.size()]; }

  std::string Spec() const {
    std::vector<std::string> options;
    if (gpu >= 0) options.push_back("gpu=" + std::to_string(gpu));
    switch (trigger) {
      case Trigger::kNth: options.push_back("nth=" + std::to_string(n)); break;
      case Trigger::kEvery: options.push_back("every=" + std::to_string(n)); break;
      case Trigger::kAlways: break;
      case Trigger::kProbabilityOne: options.push_back("p=1"); break;
      case Trigger::kProbabilityZero: options.push_back("p=0"); break;
    }
    if (times != 0) options.push_back("times=" + std::to_string(times));
    std::string spec = Info(point).name;
    for (size_t i = 0; i < options.size(); ++i) spec += (i == 0 ? "[" : ",") + options[i];
    if (!options.empty()) spec += "]";
    return spec + ":" + ErrnoName(errno_value());
  }
};

void showValue(const FaultRule& rule, std::ostream& os) { os << rule.Spec(); }

// Up to two rules, at most one per point (so the order of rules never matters).
rc::Gen<std::vector<FaultRule>> GenFaultRules(size_t gpus) {
  const auto rule = rc::gen::build<FaultRule>(
      rc::gen::set(&FaultRule::point, Uniform<uint8_t>(0, kPointCount)),
      rc::gen::set(&FaultRule::gpu,
                   rc::gen::weightedOneOf<int>({{1, rc::gen::just(-1)},
                                                {2, Uniform<int>(0, static_cast<int>(gpus))}})),
      rc::gen::set(&FaultRule::trigger,
                   rc::gen::weightedElement<Trigger>({{5, Trigger::kNth},
                                                      {2, Trigger::kEvery},
                                                      {1, Trigger::kAlways},
                                                      {1, Trigger::kProbabilityOne},
                                                      {1, Trigger::kProbabilityZero}})),
      rc::gen::set(&FaultRule::n, Uniform<uint32_t>(1, 6)),
      rc::gen::set(&FaultRule::times, rc::gen::weightedElement<uint32_t>({{2, 0}, {2, 1}, {1, 2}})),
      rc::gen::set(&FaultRule::error, Uniform<uint32_t>(0, 3)));
  const auto one_per_point = [](std::vector<FaultRule> rules) {
    std::vector<FaultRule> kept;
    for (FaultRule r : rules) {
      if (!Info(r.point).per_gpu) r.gpu = -1;
      const auto same_point = [&](const FaultRule& k) { return k.point == r.point; };
      if (std::none_of(kept.begin(), kept.end(), same_point)) kept.push_back(r);
    }
    return kept;
  };
  return rc::gen::map(rc::gen::resize(2, rc::gen::container<std::vector<FaultRule>>(rule)),
                      one_per_point);
}

// ---------------------------------------------------------------------------------------------------
// The reference model.

// One run of the walker's view: consecutive pages with the same R/W/X/S flags.
struct Run {
  uint64_t start = 0, end = 0;
  std::string flags;
};

std::string RunsText(const std::vector<Run>& runs) {
  std::string text;
  char line[96];
  for (const Run& r : runs) {
    snprintf(line, sizeof(line), "0x%" PRIx64 "-0x%" PRIx64 " %s\n", r.start, r.end, r.flags.c_str());
    text += line;
  }
  return text.empty() ? "(nothing mapped)\n" : text;
}

// What one ioctl returned: -1/errno or 0, the n_success copied out, the handle ALLOC returned.
struct Outcome {
  int ret = 0;
  int err = 0;
  uint32_t n_success = 0;
  uint64_t handle = 0;
  bool operator==(const Outcome& o) const {
    return ret == o.ret && err == o.err && n_success == o.n_success && handle == o.handle;
  }
};

void showValue(const Outcome& o, std::ostream& os) {
  os << (o.ret == 0 ? "0" : "-1/") << (o.ret == 0 ? "" : ErrnoName(o.err))
     << " n_success=" << o.n_success << " handle=0x" << std::hex << o.handle << std::dec;
}

Outcome Fail(int err, uint32_t n_success = 0) { return Outcome{-1, err, n_success, 0}; }
Outcome Succeed(uint32_t n_success = 0) { return Outcome{0, 0, n_success, 0}; }

struct AllocRequest {
  uint32_t gpu_id = 0;
  uint64_t va = 0;
  uint64_t size = 0;
  uint32_t flags = 0;
};

struct MapRequest {
  uint64_t handle = 0;
  std::vector<uint32_t> ids;
  uint32_t n_success = 0;
  bool bad_device_pointer = false;
};

class KernelModel {
 public:
  KernelModel(const TopologyFacts& facts, std::vector<uint32_t> gpu_ids, std::vector<FaultRule> rules)
      : facts_(facts), gpu_ids_(std::move(gpu_ids)), rules_(std::move(rules)),
        rule_calls_(rules_.size(), 0), rule_fired_(rules_.size(), 0), vm_(gpu_ids_.size()),
        free_idr_(gpu_ids_.size()), next_idr_(gpu_ids_.size(), 0), vram_charged_(gpu_ids_.size(), 0) {
    for (auto& vm : vm_) {
      for (const KernelPages& k : kKernelPages) vm.emplace(k.start, k.end);
    }
  }

  void DisarmFaults() { rules_.clear(); }

  // kfd_ioctl_alloc_memory_of_gpu → amdgpu_amdkfd_gpuvm_alloc_memory_of_gpu (§4.1).
  Outcome Alloc(const AllocRequest& req) {
    if (req.size == 0) return Fail(EINVAL);
    const int gpu = IndexOf(req.gpu_id);
    if (gpu < 0) return Fail(EINVAL);
    const bool vram = req.flags & KFD_IOC_ALLOC_MEM_FLAGS_VRAM;
    const bool gtt = req.flags & KFD_IOC_ALLOC_MEM_FLAGS_GTT;
    if (vram && (req.flags & KFD_IOC_ALLOC_MEM_FLAGS_PUBLIC) && facts_.small_bar) return Fail(EINVAL);
    if (!vram && !gtt) return Fail(EINVAL);  // no placement (the sizes here never hit the limits)
    if (int e = Reach(kAllocReserve, gpu)) return Fail(e);
    if (int e = Reach(kAllocBacking, gpu)) return Fail(e);
    const uint32_t idr = TakeIdr(gpu);
    const uint64_t handle = (uint64_t{req.gpu_id} << 32) | idr;
    Bo bo;
    bo.owner = static_cast<size_t>(gpu);
    bo.va = req.va;
    bo.size = PageAlign(req.size);
    bo.vram = vram;
    bo.writable = req.flags & KFD_IOC_ALLOC_MEM_FLAGS_WRITABLE;
    bo.executable = req.flags & KFD_IOC_ALLOC_MEM_FLAGS_EXECUTABLE;
    bos_.emplace(handle, bo);
    if (vram) vram_charged_[gpu] += VramCharge(req.size);
    if (std::find(issued_.begin(), issued_.end(), handle) == issued_.end()) issued_.push_back(handle);
    Outcome o = Succeed();
    o.handle = handle;
    return o;
  }

  // kfd_ioctl_map_memory_to_gpu (§4.3).
  Outcome Map(const MapRequest& req) {
    const uint32_t n = static_cast<uint32_t>(req.ids.size());
    if (n == 0 || req.n_success > n) return Fail(EINVAL, req.n_success);
    if (req.bad_device_pointer) return Fail(EFAULT, req.n_success);
    if (IndexOf(HandleGpuId(req.handle)) < 0) return Fail(EINVAL, req.n_success);
    auto it = bos_.find(req.handle);
    if (it == bos_.end()) return Fail(ENOMEM, req.n_success);  // sic
    Bo& bo = it->second;
    for (uint32_t i = req.n_success; i < n; ++i) {
      const int gpu = IndexOf(req.ids[i]);
      if (gpu < 0) return Fail(EINVAL, i);
      if (int e = MapOn(&bo, static_cast<size_t>(gpu))) return Fail(e, i);
    }
    if (int e = Reach(kMapWait, -1)) return Fail(e, n);  // everything dispatched
    return Succeed(n);
  }

  // kfd_ioctl_unmap_memory_from_gpu (§4.4).
  Outcome Unmap(const MapRequest& req) {
    const uint32_t n = static_cast<uint32_t>(req.ids.size());
    if (n == 0 || req.n_success > n) return Fail(EINVAL, req.n_success);
    if (req.bad_device_pointer) return Fail(EFAULT, req.n_success);
    if (IndexOf(HandleGpuId(req.handle)) < 0) return Fail(EINVAL, req.n_success);
    auto it = bos_.find(req.handle);
    if (it == bos_.end()) return Fail(ENOMEM, req.n_success);  // sic
    Bo& bo = it->second;
    for (uint32_t i = req.n_success; i < n; ++i) {
      const int gpu = IndexOf(req.ids[i]);
      if (gpu < 0) return Fail(EINVAL, i);
      if (!bo.mapped.count(static_cast<size_t>(gpu))) return Fail(EINVAL, i);  // not idempotent
      if (int e = Reach(kUnmapGpu, gpu)) return Fail(e, i);
      vm_[gpu].erase(bo.va);
      bo.mapped.erase(static_cast<size_t>(gpu));
    }
    if (int e = Reach(kUnmapWait, -1)) return Fail(e, n);
    return Succeed(n);
  }

  // kfd_ioctl_free_memory_of_gpu (§4.2).
  Outcome Free(uint64_t handle) {
    const int gpu = IndexOf(HandleGpuId(handle));
    if (gpu < 0) return Fail(EINVAL);
    auto it = bos_.find(handle);
    if (it == bos_.end()) return Fail(EINVAL);
    if (!it->second.mapped.empty()) return Fail(EBUSY);  // the handle stays valid
    if (int e = Reach(kFree, gpu)) return Fail(e);
    if (it->second.vram) vram_charged_[gpu] -= VramCharge(it->second.size);
    free_idr_[gpu].insert(HandleIdr(handle));
    bos_.erase(it);
    return Succeed();
  }

  // The walker's view of one GPU: every mapping with its PTE flags, adjacent equal runs merged.
  std::vector<Run> Runs(size_t gpu) const {
    std::vector<Run> pieces;
    for (const KernelPages& k : kKernelPages) pieces.push_back(Run{k.start, k.end, k.flags});
    for (const auto& [handle, bo] : bos_) {
      if (bo.mapped.count(gpu)) pieces.push_back(Run{bo.va, bo.va + bo.size, FlagsOn(bo, gpu)});
    }
    std::sort(pieces.begin(), pieces.end(),
              [](const Run& a, const Run& b) { return a.start < b.start; });
    std::vector<Run> runs;
    for (const Run& p : pieces) {
      if (!runs.empty() && runs.back().end == p.start && runs.back().flags == p.flags) {
        runs.back().end = p.end;
      } else {
        runs.push_back(p);
      }
    }
    return runs;
  }

  uint64_t vram_charged(size_t gpu) const { return vram_charged_[gpu]; }
  const std::vector<uint64_t>& issued() const { return issued_; }
  // Live handles and the GPUs each is mapped on (for the final cleanup).
  std::vector<std::pair<uint64_t, std::vector<uint32_t>>> Live() const {
    std::vector<std::pair<uint64_t, std::vector<uint32_t>>> live;
    for (const auto& [handle, bo] : bos_) {
      std::vector<uint32_t> ids;
      for (size_t g : bo.mapped) ids.push_back(gpu_ids_[g]);
      live.emplace_back(handle, ids);
    }
    return live;
  }

 private:
  struct Bo {
    size_t owner = 0;
    uint64_t va = 0, size = 0;
    bool vram = false, writable = false, executable = false;
    std::set<size_t> attached;  // VMs kfd_mem_attach added the BO to
    std::set<size_t> mapped;
  };

  static uint32_t HandleGpuId(uint64_t handle) { return static_cast<uint32_t>(handle >> 32); }
  static uint32_t HandleIdr(uint64_t handle) { return static_cast<uint32_t>(handle); }

  int IndexOf(uint32_t gpu_id) const {
    for (size_t i = 0; i < gpu_ids_.size(); ++i) {
      if (gpu_ids_[i] == gpu_id) return static_cast<int>(i);
    }
    return -1;
  }

  // idr_alloc(.., 0, 0): the lowest free number.
  uint32_t TakeIdr(int gpu) {
    auto& free = free_idr_[gpu];
    if (!free.empty()) {
      const uint32_t idr = *free.begin();
      free.erase(free.begin());
      return idr;
    }
    return next_idr_[gpu]++;
  }

  // The fault point is reached (by `gpu`, -1 for points without one): the error a rule injects, or 0.
  int Reach(Point point, int gpu) {
    for (size_t i = 0; i < rules_.size(); ++i) {
      const FaultRule& r = rules_[i];
      if (r.point != point || (r.gpu >= 0 && r.gpu != gpu)) continue;
      const uint64_t call = ++rule_calls_[i];
      if (r.times != 0 && rule_fired_[i] >= r.times) continue;
      bool fire = false;
      switch (r.trigger) {
        case Trigger::kNth: fire = call == r.n; break;
        case Trigger::kEvery: fire = call % r.n == 0; break;
        case Trigger::kAlways:
        case Trigger::kProbabilityOne: fire = true; break;
        case Trigger::kProbabilityZero: fire = false; break;
      }
      if (fire) {
        ++rule_fired_[i];
        return r.errno_value();
      }
    }
    return 0;
  }

  bool Overlaps(size_t gpu, uint64_t start, uint64_t end) const {
    const auto& vm = vm_[gpu];
    auto next = vm.lower_bound(start);
    if (next != vm.end() && next->first < end) return true;
    return next != vm.begin() && std::prev(next)->second > start;
  }

  // amdgpu_amdkfd_gpuvm_map_memory_to_gpu on one GPU's VM.
  int MapOn(Bo* bo, size_t gpu) {
    if (bo->mapped.count(gpu)) return 0;  // per-(BO, VM) is_mapped: skipped, success
    // kfd_mem_attach, once per (BO, VM): VA 0, then the peer-access decision, made for a peer's
    // VRAM only. The attachment outlives a failed map and UNMAP; only FREE detaches.
    if (!bo->attached.count(gpu)) {
      if (bo->va == 0) return EINVAL;
      if (gpu != bo->owner && bo->vram) {
        if (!facts_.peer_vram) return EINVAL;
        if (int e = Reach(kMapPeerAccess, static_cast<int>(gpu))) return e;
      }
      bo->attached.insert(gpu);
    }
    // amdgpu_vm_bo_map: alignment, range, overlap in this GPU's VM — before anything is allocated.
    const uint64_t end = bo->va + bo->size;
    if (bo->va % kPage != 0 || end <= bo->va || end > kVaLimit || Overlaps(gpu, bo->va, end)) {
      return EINVAL;
    }
    // The mapping and page tables, then the page-table job.
    if (int e = Reach(kMapPageTables, static_cast<int>(gpu))) return e;
    if (int e = Reach(kDmaSubmit, static_cast<int>(gpu))) return e;
    vm_[gpu].emplace(bo->va, end);
    bo->mapped.insert(gpu);
    return 0;
  }

  // get_pte_flags as the walker shows it: R always, W and X from the flags, S when the route goes
  // over the system bus (GTT; a peer's VRAM over PCIe, not over XGMI).
  std::string FlagsOn(const Bo& bo, size_t gpu) const {
    std::string flags = "R---";
    if (bo.writable) flags[1] = 'W';
    if (bo.executable) flags[2] = 'X';
    const bool system = !bo.vram || (gpu != bo.owner && !facts_.hive);
    if (system) flags[3] = 'S';
    return flags;
  }

  const TopologyFacts facts_;
  const std::vector<uint32_t> gpu_ids_;
  std::vector<FaultRule> rules_;
  std::vector<uint64_t> rule_calls_, rule_fired_;
  std::map<uint64_t, Bo> bos_;
  std::vector<std::map<uint64_t, uint64_t>> vm_;  // per GPU: start → end of every mapping
  std::vector<std::set<uint32_t>> free_idr_;      // per GPU: numbers below next_idr_ free again
  std::vector<uint32_t> next_idr_;
  std::vector<uint64_t> vram_charged_;
  std::vector<uint64_t> issued_;  // every handle value ever returned, first issue first
};

// ---------------------------------------------------------------------------------------------------
// The real side: one fresh emulated node per case, raw ioctls through the in-process backend.

std::vector<Run> ParseDump(const std::string& text) {
  std::vector<Run> runs;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    Run r;
    char flags[8] = {};
    if (sscanf(line.c_str(), "0x%" SCNx64 "-0x%" SCNx64 " %7s", &r.start, &r.end, flags) != 3) {
      r.flags = "unparsed: " + line;
    } else {
      r.flags = flags;
    }
    runs.push_back(r);
  }
  return runs;
}

class Node {
 public:
  explicit Node(const TopologyFacts& facts) : backend_(conformance::CreateBackend(facts.name)) {}
  Node(const Node&) = delete;
  Node& operator=(const Node&) = delete;
  ~Node() {
    // Disarm before anything else: a case that failed mid-way must not leave rules for the next.
    FaultInjector::Global().Reset();
    for (int fd : render_) backend_->Close(fd);
    if (kfd_ >= 0) backend_->Close(kfd_);
  }

  // Opens /dev/kfd and every render node and acquires every GPU's VM. Empty on success.
  std::string Open() {
    kfd_ = backend_->OpenKfd();
    if (kfd_ < 0) return "open kfd failed";
    ids_ = backend_->GpuIds();
    const std::vector<int> minors = backend_->RenderMinors();
    for (size_t i = 0; i < ids_.size(); ++i) {
      const int fd = backend_->OpenRender(minors[i]);
      if (fd < 0) return "open render node failed";
      render_.push_back(fd);
      kfd_ioctl_acquire_vm_args acquire{};
      acquire.drm_fd = static_cast<uint32_t>(fd);
      acquire.gpu_id = ids_[i];
      if (backend_->Ioctl(kfd_, AMDKFD_IOC_ACQUIRE_VM, &acquire) != 0) {
        return std::string("ACQUIRE_VM: ") + strerror(errno);
      }
    }
    return {};
  }

  const std::vector<uint32_t>& ids() const { return ids_; }
  bool PeerAccessible(size_t i, size_t j) { return backend_->PeerAccessible(i, j); }

  Outcome Alloc(const AllocRequest& req) {
    kfd_ioctl_alloc_memory_of_gpu_args args{};
    args.va_addr = req.va;
    args.size = req.size;
    args.gpu_id = req.gpu_id;
    args.flags = req.flags;
    Outcome o = Call(AMDKFD_IOC_ALLOC_MEMORY_OF_GPU, &args);
    if (o.ret == 0) o.handle = args.handle;
    return o;
  }

  Outcome MapOrUnmap(unsigned long cmd, const MapRequest& req) {
    std::vector<uint32_t> ids = req.ids;
    kfd_ioctl_map_memory_to_gpu_args args{};
    args.handle = req.handle;
    args.device_ids_array_ptr =
        req.bad_device_pointer ? kBadUserPointer : reinterpret_cast<uint64_t>(ids.data());
    args.n_devices = static_cast<uint32_t>(ids.size());
    args.n_success = req.n_success;
    Outcome o = Call(cmd, &args);
    o.n_success = args.n_success;
    return o;
  }

  Outcome Free(uint64_t handle) {
    kfd_ioctl_free_memory_of_gpu_args args{};
    args.handle = handle;
    return Call(AMDKFD_IOC_FREE_MEMORY_OF_GPU, &args);
  }

  std::optional<uint64_t> Available(size_t gpu) {
    kfd_ioctl_get_available_memory_args args{};
    args.gpu_id = ids_[gpu];
    if (backend_->Ioctl(kfd_, AMDKFD_IOC_AVAILABLE_MEMORY, &args) != 0) return std::nullopt;
    return args.available;
  }

  // vkfd's invariant 1 check; it waits for every outstanding page-table update first.
  std::string CheckInvariant() { return backend_->CheckInvariant(); }
  std::vector<Run> Runs(size_t gpu) { return ParseDump(backend_->DumpVm(ids_[gpu])); }

 private:
  Outcome Call(unsigned long cmd, void* args) {
    errno = 0;
    Outcome o;
    o.ret = backend_->Ioctl(kfd_, cmd, args);
    o.err = o.ret == 0 ? 0 : errno;
    return o;
  }

  std::unique_ptr<conformance::Backend> backend_;
  int kfd_ = -1;
  std::vector<int> render_;
  std::vector<uint32_t> ids_;
};

// How often each (ioctl, result) happened over a whole property run: printed, so that a generator
// that stops reaching a path shows.
using Coverage = std::map<std::string, uint64_t>;

// One case: the node and the model side by side, compared after every step.
class CaseRunner {
 public:
  CaseRunner(const TopologyFacts& facts, Node* node, std::vector<FaultRule> rules, Coverage* coverage)
      : facts_(facts), node_(node), model_(facts, node->ids(), std::move(rules)),
        coverage_(coverage) {
    const uint32_t highest = *std::max_element(node->ids().begin(), node->ids().end());
    unknown_ids_ = {0, highest + 1, 0xffffffffu};
  }

  void RecordBaseline() {
    for (size_t g = 0; g < facts_.gpus; ++g) {
      const auto available = node_->Available(g);
      RC_ASSERT(available.has_value());
      baseline_.push_back(*available);
    }
  }

  void Step(size_t index, const Op& op) {
    char what[64];
    snprintf(what, sizeof(what), "step %zu", index);
    switch (op.kind) {
      case OpKind::kAlloc: {
        AllocRequest req;
        req.gpu_id = ResolveDevice(op.gpu);
        req.va = kVaSlots[op.va_slot].va;
        req.size = kSizes[op.size_slot].size;
        req.flags = (op.placement == Placement::kVram  ? KFD_IOC_ALLOC_MEM_FLAGS_VRAM
                     : op.placement == Placement::kGtt ? KFD_IOC_ALLOC_MEM_FLAGS_GTT
                                                       : 0u) |
                    (op.writable ? KFD_IOC_ALLOC_MEM_FLAGS_WRITABLE : 0u) |
                    (op.executable ? KFD_IOC_ALLOC_MEM_FLAGS_EXECUTABLE : 0u) |
                    (op.cpu_visible ? KFD_IOC_ALLOC_MEM_FLAGS_PUBLIC : 0u);
        const Outcome want = model_.Alloc(req);
        const Outcome got = node_->Alloc(req);
        RC_LOG() << what << ": ALLOC gpu=0x" << std::hex << req.gpu_id << " va=0x" << req.va
                 << " size=0x" << req.size << " flags=0x" << req.flags << std::dec << " -> "
                 << Show(got) << "\n";
        Compare("ALLOC", want, got);
        break;
      }
      case OpKind::kMap:
      case OpKind::kUnmap: {
        MapRequest req;
        req.handle = ResolveHandle(op.handle);
        for (const DeviceRef& d : op.devices) req.ids.push_back(ResolveDevice(d));
        req.n_success = op.n_success;
        req.bad_device_pointer = op.bad_device_pointer;
        RunMapOrUnmap(what, op.kind == OpKind::kMap, req);
        break;
      }
      case OpKind::kRetry: {
        if (!last_) {
          RC_LOG() << what << ": RETRY with nothing to retry\n";
          break;
        }
        MapRequest req = last_->request;
        req.n_success = last_->copied_out;  // the same struct again, as a restarted call sees it
        RunMapOrUnmap(what, last_->map, req);
        break;
      }
      case OpKind::kFree: {
        const uint64_t handle = ResolveHandle(op.handle);
        const Outcome want = model_.Free(handle);
        const Outcome got = node_->Free(handle);
        RC_LOG() << what << ": FREE 0x" << std::hex << handle << std::dec << " -> " << Show(got)
                 << "\n";
        Compare("FREE", want, got);
        break;
      }
    }
    CheckState(what);
  }

  // Disarms the faults, unmaps and frees everything the model says is live, and checks that the
  // node is back to its baseline: only the kernel's pages mapped, AVAILABLE_MEMORY as at the start.
  void CleanUp() {
    FaultInjector::Global().Reset();
    model_.DisarmFaults();
    for (const auto& [handle, ids] : model_.Live()) {
      if (!ids.empty()) RunMapOrUnmap("cleanup", /*map=*/false, MapRequest{handle, ids, 0, false});
      const Outcome want = model_.Free(handle);
      const Outcome got = node_->Free(handle);
      RC_ASSERT(want == Succeed());
      Compare("FREE (cleanup)", want, got);
    }
    CheckState("after cleanup");
    for (size_t g = 0; g < facts_.gpus; ++g) RC_ASSERT(model_.vram_charged(g) == 0u);
  }

 private:
  struct LastMap {
    bool map;
    MapRequest request;
    uint32_t copied_out;
  };

  template <typename T>
  static std::string Show(const T& value) {
    std::ostringstream os;
    showValue(value, os);
    return os.str();
  }

  uint32_t ResolveDevice(const DeviceRef& d) const {
    if (d.known) return node_->ids()[d.index % node_->ids().size()];
    return unknown_ids_[d.index % unknown_ids_.size()];
  }

  uint64_t ResolveHandle(const HandleRef& h) const {
    const std::vector<uint32_t>& ids = node_->ids();
    switch (h.kind) {
      case HandleRef::Kind::kLive:
        if (const auto live = model_.Live(); !live.empty()) return live[h.index % live.size()].first;
        [[fallthrough]];  // nothing live: perhaps a freed one
      case HandleRef::Kind::kIssued:
        if (!model_.issued().empty()) return model_.issued()[h.index % model_.issued().size()];
        [[fallthrough]];  // nothing issued yet: a handle that was never issued
      case HandleRef::Kind::kUnknownIdr:
        return (uint64_t{ids[h.index % ids.size()]} << 32) | (0x10000u + h.index);
      case HandleRef::Kind::kUnknownGpu:
        return (uint64_t{unknown_ids_[h.index % unknown_ids_.size()]} << 32) | (h.index % 4);
    }
    return 0;
  }

  void RunMapOrUnmap(const char* what, bool map, const MapRequest& req) {
    const Outcome want = map ? model_.Map(req) : model_.Unmap(req);
    const Outcome got =
        node_->MapOrUnmap(map ? AMDKFD_IOC_MAP_MEMORY_TO_GPU : AMDKFD_IOC_UNMAP_MEMORY_FROM_GPU, req);
    std::ostringstream ids;
    for (uint32_t id : req.ids) ids << " 0x" << std::hex << id;
    RC_LOG() << what << ": " << (map ? "MAP" : "UNMAP") << " 0x" << std::hex << req.handle << std::dec
             << " [" << ids.str() << " ] n_success=" << req.n_success
             << (req.bad_device_pointer ? " bad-pointer" : "") << " -> " << Show(got) << "\n";
    Compare(map ? "MAP" : "UNMAP", want, got);
    last_ = LastMap{map, req, got.n_success};
  }

  void Compare(const char* ioctl, const Outcome& want, const Outcome& got) {
    ++(*coverage_)[std::string(ioctl) + " " + (want.ret == 0 ? "ok" : ErrnoName(want.err))];
    if (!(want == got)) RC_LOG() << "  model says " << Show(want) << "\n";
    RC_ASSERT(want == got);
  }

  void CheckState(const char* what) {
    // First, because it waits for the page-table updates a failed MAP/UNMAP left in flight; asserted
    // last, so that a difference shows as the model's view against the walker's.
    const std::string invariant = node_->CheckInvariant();
    for (size_t g = 0; g < facts_.gpus; ++g) {
      const std::string want = RunsText(model_.Runs(g));
      const std::string got = RunsText(node_->Runs(g));
      if (want != got) {
        RC_LOG() << what << ": GPU " << g << " page tables:\n" << got << "  model says:\n" << want;
      }
      RC_ASSERT(want == got);
      const auto available = node_->Available(g);
      RC_ASSERT(available.has_value());
      RC_ASSERT(*available == baseline_[g] - model_.vram_charged(g));
    }
    if (!invariant.empty()) RC_LOG() << what << ": invariant 1: " << invariant << "\n";
    RC_ASSERT(invariant.empty());
  }

  const TopologyFacts& facts_;
  Node* const node_;
  KernelModel model_;
  Coverage* const coverage_;
  std::vector<uint32_t> unknown_ids_;
  std::vector<uint64_t> baseline_;
  std::optional<LastMap> last_;
};

// The property: any sequence of operations under any fault rules keeps vkfd and the model in step.
void MemoryIoctlsFollowTheModel(const TopologyFacts& facts, Coverage* coverage) {
  const auto rules = *GenFaultRules(facts.gpus).as("fault rules");
  const auto fault_seed = *rc::gen::arbitrary<uint64_t>().as("fault seed");
  // At most ~60 operations (rapidcheck's size grows to 100 over a run).
  const auto ops =
      *rc::gen::scale(0.6, rc::gen::container<std::vector<Op>>(GenOp(facts.gpus))).as("operations");

  Node node(facts);
  const std::string opened = node.Open();
  if (!opened.empty()) RC_LOG() << opened << "\n";
  RC_ASSERT(opened.empty());
  RC_ASSERT(node.ids().size() == facts.gpus);
  for (size_t i = 0; i < facts.gpus; ++i) {
    for (size_t j = 0; j < facts.gpus; ++j) {
      RC_ASSERT(node.PeerAccessible(i, j) == (i == j || facts.peer_vram));  // the facts are right
    }
  }
  CaseRunner runner(facts, &node, rules, coverage);
  runner.RecordBaseline();

  // Armed after ACQUIRE_VM (which maps the kernel's pages through the same points) so that a rule's
  // call numbers count only the generated operations.
  std::string spec;
  for (const FaultRule& r : rules) spec += (spec.empty() ? "" : ";") + r.Spec();
  RC_LOG() << "faults: \"" << spec << "\" seed " << fault_seed << "\n";
  RC_ASSERT(uapi::ArmFaultInjection(spec, fault_seed).ok());

  for (size_t i = 0; i < ops.size(); ++i) runner.Step(i, ops[i]);
  runner.CleanUp();
}

// Runs the property with rapidcheck's configuration (RC_PARAMS), scaled down for sanitizer builds.
void CheckProperty(const std::string& name, const TopologyFacts& facts) {
  rc::detail::TestParams params = rc::detail::configuration().testParams;
  const char* scale = getenv("VKFD_TEST_SCALE");
  const char* rc_params = getenv("RC_PARAMS");
  const bool count_given = rc_params != nullptr && strstr(rc_params, "max_success") != nullptr;
  if (scale != nullptr && strcmp(scale, "sanitizer") == 0 && !count_given) {
    params.maxSuccess = std::max(1, params.maxSuccess / 5);
  }
  rc::detail::TestMetadata metadata;
  metadata.id = "MemoryModelProperty/" + name;
  metadata.description = name + ": memory ioctls follow the kernel model on " + facts.name;
  Coverage coverage;
  const auto result = rc::detail::checkTestable([&] { MemoryIoctlsFollowTheModel(facts, &coverage); },
                                                metadata, params);
  std::ostringstream report;
  rc::detail::printResultMessage(result, report);
  printf("%s: %s\n", metadata.id.c_str(), report.str().c_str());
  std::string table;
  for (const auto& [outcome, count] : coverage) {
    table += "  " + outcome + ": " + std::to_string(count) + "\n";
  }
  printf("outcomes over all cases (and shrinks, if any):\n%s", table.c_str());
  if (!result.template is<rc::detail::SuccessResult>()) FAIL() << report.str();
  // Not vacuous: a full run (not a replay of one counterexample) mapped and unmapped something.
  if (rc::detail::configuration().reproduce.empty() && params.maxSuccess >= 20) {
    EXPECT_GT(coverage["MAP ok"], 0u);
    EXPECT_GT(coverage["UNMAP ok"], 0u);
  }
}

TEST(MemoryModelProperty, Mi210x4PciePeers) { CheckProperty("Mi210x4PciePeers", kMi210x4); }
TEST(MemoryModelProperty, SmallBarNoPeerVram) { CheckProperty("SmallBarNoPeerVram", kSmallBar); }
TEST(MemoryModelProperty, Mi250x8XgmiHive) { CheckProperty("Mi250x8XgmiHive", kMi250x8); }

}  // namespace
}  // namespace vkfd::property

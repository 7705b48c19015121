// CREATE/DESTROY/SET/RESET/WAIT_EVENTS: ABI structs in, kfd::EventTable calls, ABI structs out.
#include <linux/kfd_ioctl.h>

#include <cstddef>
#include <utility>
#include <vector>

#include "base/user_memory.h"
#include "kfd/event.h"
#include "kfd/mmap_offsets.h"
#include "kfd/process.h"
#include "uapi/ioctl_table.h"

namespace vkfd::uapi {
namespace {

constexpr uint64_t kEventWaiterBytes = 56;        // sizeof(struct kfd_event_waiter) on 6.1, x86-64
constexpr uint64_t kKmallocMaxBytes = 4ull << 20;  // KMALLOC_MAX_SIZE

}  // namespace

Code CreateEvent(IoctlContext& ctx, kfd_ioctl_create_event_args& args) {
  if (args.event_page_offset != 0) {
    const Status page = ctx.process->SetEventPage(args.event_page_offset);
    if (!page.ok()) return page.code();
  }
  auto created = ctx.process->events()->Create(args.event_type, args.auto_reset != 0);
  if (!created.ok()) return created.code();
  args.event_id = created->id;
  args.event_trigger_data = created->id;
  if (created->signal) {
    args.event_page_offset = kfd::kMmapTypeEvents;
    args.event_slot_index = created->id;
  } else {
    args.event_page_offset = 0;
  }
  return Code::kOk;
}

Code DestroyEvent(IoctlContext& ctx, kfd_ioctl_destroy_event_args& args) {
  return ctx.process->events()->Destroy(args.event_id).code();
}

Code SetEvent(IoctlContext& ctx, kfd_ioctl_set_event_args& args) {
  return ctx.process->events()->Set(args.event_id).code();
}

Code ResetEvent(IoctlContext& ctx, kfd_ioctl_reset_event_args& args) {
  return ctx.process->events()->Reset(args.event_id).code();
}

Code WaitEvents(IoctlContext& ctx, kfd_ioctl_wait_events_args& args) {
  // kfd_wait_on_events: kcalloc of one waiter per event (56 bytes each) fails past KMALLOC_MAX_SIZE.
  if (uint64_t{args.num_events} * kEventWaiterBytes > kKmallocMaxBytes) {
    args.wait_result = KFD_IOC_WAIT_RESULT_FAIL;
    return Code::kNoMemory;
  }
  // Then each kfd_event_data is copied in and its waiter initialised, one by one (only event_id
  // matters for the events vkfd raises): the first entry that fails decides between EFAULT (bad
  // pointer) and EINVAL (unknown event), and the entries before it have already been initialised —
  // a signaled auto-reset event among them stays consumed (kfd_wait_on_events, init_event_waiter).
  std::vector<uint32_t> ids;
  ids.reserve(args.num_events);
  Code bad_tail = Code::kOk;
  for (uint32_t i = 0; i < args.num_events; ++i) {
    kfd_event_data event;
    if (!CopyFromUser(&event, args.events_ptr + uint64_t{i} * sizeof(event)).ok()) {
      bad_tail = Code::kFault;
      break;
    }
    ids.push_back(event.event_id);
  }
  kfd::WaitResult result = kfd::WaitResult::kFail;
  uint32_t remaining = args.timeout;
  std::vector<std::pair<size_t, kfd::MemoryException>> memory;
  const Status status = ctx.process->events()->Wait(ids, args.wait_for_all != 0, args.timeout,
                                                    &result, &remaining, &memory, bad_tail);
  args.wait_result = static_cast<uint32_t>(result);
  const Code code = status.code();
  // copy_signaled_event_data: the exception data of each activated MEMORY event goes back into its
  // kfd_event_data entry; a bad pointer there makes the whole wait EFAULT / FAIL.
  for (const auto& [i, data] : memory) {
    kfd_hsa_memory_exception_data out{};
    out.failure.NotPresent = data.not_present;
    out.failure.ReadOnly = data.read_only;
    out.failure.NoExecute = data.no_execute;
    out.failure.imprecise = data.imprecise;
    out.va = data.va;
    out.gpu_id = data.gpu_id;
    out.ErrorType = data.error_type;
    const uint64_t dst = args.events_ptr + uint64_t{i} * sizeof(kfd_event_data) +
                         offsetof(kfd_event_data, memory_exception_data);
    if (!CopyToUser(dst, &out, sizeof(out)).ok()) {
      args.wait_result = KFD_IOC_WAIT_RESULT_FAIL;
      return Code::kFault;
    }
  }
  // An interrupted wait reports the time left, so that a restart waits only for the rest.
  if (code == Code::kInterrupted) args.timeout = remaining;
  return code;
}

}  // namespace vkfd::uapi

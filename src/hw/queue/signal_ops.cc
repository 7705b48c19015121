#include "hw/queue/signal_ops.h"

namespace vkfd::hw::signal {

Status Notify(const VmAccess& vm, uint64_t signal, QueueClient* client, VmFault* fault) {
  auto mailbox = vm.Load64(signal + kMailbox, fault);
  if (!mailbox.ok()) return mailbox.status();
  if (mailbox.value() == 0) return Status::Ok();
  auto event_id = vm.Load32(signal + kEventId, fault);
  if (!event_id.ok()) return event_id.status();
  VKFD_RETURN_IF_ERROR(vm.Store64(static_cast<uint64_t>(mailbox.value()), event_id.value(), fault));
  if (client != nullptr) client->OnInterrupt(event_id.value(), 32);
  return Status::Ok();
}

Status Complete(const VmAccess& vm, uint64_t signal, QueueClient* client, const Timestamps* ts,
                VmFault* fault) {
  if (ts != nullptr) {
    VKFD_RETURN_IF_ERROR(vm.Store64(signal + kStartTs, ts->start, fault));
    VKFD_RETURN_IF_ERROR(vm.Store64(signal + kEndTs, ts->end, fault));
  }
  auto value = vm.AtomicAdd64(signal + kValue, -1, fault);
  if (!value.ok()) return value.status();
  return Notify(vm, signal, client, fault);
}

Status Assign(const VmAccess& vm, uint64_t signal, int64_t value, QueueClient* client,
              VmFault* fault) {
  VKFD_RETURN_IF_ERROR(vm.Store64(signal + kValue, static_cast<uint64_t>(value), fault));
  return Notify(vm, signal, client, fault);
}

}  // namespace vkfd::hw::signal

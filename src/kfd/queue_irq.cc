#include "kfd/queue_irq.h"

#include <cinttypes>

#include "base/log.h"
#include "kfd/event.h"
#include "kfd/queue.h"

namespace vkfd::kfd {

void QueueIrq::OnInterrupt(uint32_t context_id, int valid_bits) {
  events_->SignalFromInterrupt(context_id, valid_bits);
}

void QueueIrq::OnVmFault(const hw::VmFault& fault) {
  LogLine("process %d: GPU page fault on gpu 0x%x (queue %u) at address 0x%" PRIx64 " (%s%s); the "
          "process's queues on that GPU stop",
          pid_, gpu_id_, queue_id_, static_cast<uint64_t>(fault.va & ~uint64_t{0xfff}), fault.write ? "write" : "read",
          fault.present ? ", page present: protection" : ", page not present");
  table_->EvictGpu(gpu_index_, engine_);
  MemoryException data;
  // gfx9: NotPresent from the fault's protection-valid bit, ReadOnly from its write bit.
  data.not_present = fault.present ? 0 : 1;
  data.read_only = fault.write && fault.present ? 1 : 0;
  data.va = fault.va & ~0xfffull;
  data.gpu_id = gpu_id_;
  events_->SignalVmFault(data);
}

void QueueIrq::OnQueueError(uint32_t code, const std::string& what) {
  LogLine("process %d: %s", pid_, what.c_str());
}

}  // namespace vkfd::kfd

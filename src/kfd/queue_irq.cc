#include "kfd/queue_irq.h"

#include <fcntl.h>
#include <unistd.h>

#include <cinttypes>

#include "base/log.h"
#include "kfd/event.h"
#include "kfd/queue.h"
#include "kfd/smi_events.h"

namespace vkfd::kfd {
namespace {

// The task name the VM recorded (amdgpu_vm_set_task_info at ACQUIRE_VM: get_task_comm of the caller);
// vkfd takes the process's, which is the same for ROCr, whose hsa_init acquires from the main thread.
std::string ProcessName() {
  char name[32] = {};
  const int fd = open("/proc/self/comm", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return std::string();
  const ssize_t n = read(fd, name, sizeof(name) - 1);
  close(fd);
  std::string s(name, n > 0 ? static_cast<size_t>(n) : 0);
  while (!s.empty() && s.back() == '\n') s.pop_back();
  return s;
}

}  // namespace

void QueueIrq::OnInterrupt(uint32_t context_id, int valid_bits) {
  events_->SignalFromInterrupt(context_id, valid_bits);
}

void QueueIrq::OnVmFault(const hw::VmFault& fault) {
  LogLine("process %d: GPU page fault on gpu 0x%x (queue %u) at address 0x%" PRIx64 " (%s%s); the "
          "process's queues on that GPU stop",
          pid_, gpu_id_, queue_id_, static_cast<uint64_t>(fault.va & ~uint64_t{0xfff}), fault.write ? "write" : "read",
          fault.present ? ", page present: protection" : ", page not present");
  // event_interrupt_wq_v9 for a VMC/UTCL2 fault: kfd_smi_event_update_vmfault first, then
  // kfd_dqm_evict_pasid, then kfd_signal_vm_fault_event.
  if (smi_ != nullptr) smi_->VmFault(pid_, ProcessName());
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
  // A PM4 queue's error is the CP's bad-opcode interrupt (SOC15_INTSRC_CP_BAD_OPCODE), which 6.1's
  // event_interrupt_wq_v9 turns into kfd_signal_hw_exception_event. AQL packet errors reach the
  // runtime through the queue's error signal, SDMA's through no KFD event at all (v9 ignores them).
  if (engine_ != nullptr && engine_->config().kind == hw::QueueKind::kPm4) {
    events_->SignalHwException();
  }
}

}  // namespace vkfd::kfd

// The queue ioctls (kfd_chardev.c, 6.1.y): CREATE/DESTROY/UPDATE_QUEUE, SET_CU_MASK,
// GET_QUEUE_WAVE_STATE, ALLOC_QUEUE_GWS — the argument checks in the kernel's order, then kfd::Process.
#include <linux/kfd_ioctl.h>

#include <vector>

#include "base/user_memory.h"
#include "kfd/process.h"
#include "kfd/queue.h"
#include "uapi/ioctl_table.h"

namespace vkfd::uapi {
namespace {

constexpr uint32_t kMinQueueRingSize = KFD_MIN_QUEUE_RING_SIZE;
constexpr uint32_t kMaxQueuePercentage = KFD_MAX_QUEUE_PERCENTAGE;
constexpr uint32_t kMaxCuMaskBits = 1024;  // kfd_ioctl_set_cu_mask's max_num_cus

bool IsPowerOfTwo(uint64_t v) { return v != 0 && (v & (v - 1)) == 0; }

}  // namespace

// set_queue_properties_from_user, then kfd_ioctl_create_queue.
Code CreateQueue(IoctlContext& ctx, kfd_ioctl_create_queue_args& args) {
  if (args.queue_percentage > kMaxQueuePercentage) return Code::kInvalidArgs;
  if (args.queue_priority > KFD_MAX_QUEUE_PRIORITY) return Code::kInvalidArgs;
  if (args.ring_base_address != 0 && !AccessOk(args.ring_base_address, sizeof(uint64_t))) {
    return Code::kFault;
  }
  if (!IsPowerOfTwo(args.ring_size) && args.ring_size != 0) return Code::kInvalidArgs;
  // Written into the ioctl's buffer: the caller reads the clamped size back (also on a failure).
  if (args.ring_size < kMinQueueRingSize) args.ring_size = kMinQueueRingSize;
  if (!AccessOk(args.read_pointer_address, sizeof(uint32_t))) return Code::kFault;
  if (!AccessOk(args.write_pointer_address, sizeof(uint32_t))) return Code::kFault;
  if (args.eop_buffer_address != 0 && !AccessOk(args.eop_buffer_address, sizeof(uint32_t))) {
    return Code::kFault;
  }
  if (args.ctx_save_restore_address != 0 &&
      !AccessOk(args.ctx_save_restore_address, sizeof(uint32_t))) {
    return Code::kFault;
  }
  kfd::QueueProperties props;
  switch (args.queue_type) {
    case KFD_IOC_QUEUE_TYPE_COMPUTE: props.type = kfd::QueueType::kCompute; break;
    case KFD_IOC_QUEUE_TYPE_SDMA: props.type = kfd::QueueType::kSdma; break;
    case KFD_IOC_QUEUE_TYPE_COMPUTE_AQL: props.type = kfd::QueueType::kComputeAql; break;
    case KFD_IOC_QUEUE_TYPE_SDMA_XGMI: props.type = kfd::QueueType::kSdmaXgmi; break;
    default: return Code::kNotSupp;  // -ENOTSUPP (524), as 6.1 returns it to user space
  }
  props.ring_base = args.ring_base_address;
  props.ring_size = args.ring_size;
  props.percentage = args.queue_percentage;
  props.priority = args.queue_priority;
  props.read_ptr = args.read_pointer_address;
  props.write_ptr = args.write_pointer_address;
  props.eop_base = args.eop_buffer_address;
  props.eop_size = args.eop_buffer_size;
  props.ctx_save_base = args.ctx_save_restore_address;
  props.ctx_save_size = args.ctx_save_restore_size;
  props.ctl_stack_size = args.ctl_stack_size;
  auto created = ctx.process->CreateQueue(args.gpu_id, props);
  if (!created.ok()) return created.code();
  args.queue_id = created->queue_id;
  args.doorbell_offset = created->doorbell_offset;
  return Code::kOk;
}

Code DestroyQueue(IoctlContext& ctx, kfd_ioctl_destroy_queue_args& args) {
  return ctx.process->DestroyQueue(args.queue_id).code();
}

Code UpdateQueue(IoctlContext& ctx, kfd_ioctl_update_queue_args& args) {
  if (args.queue_percentage > kMaxQueuePercentage) return Code::kInvalidArgs;
  if (args.queue_priority > KFD_MAX_QUEUE_PRIORITY) return Code::kInvalidArgs;
  if (args.ring_base_address != 0 && !AccessOk(args.ring_base_address, sizeof(uint64_t))) {
    return Code::kFault;
  }
  if (!IsPowerOfTwo(args.ring_size) && args.ring_size != 0) return Code::kInvalidArgs;
  if (args.ring_size < kMinQueueRingSize) args.ring_size = kMinQueueRingSize;  // _IOW: not seen
  return ctx.process
      ->UpdateQueue(args.queue_id, args.ring_base_address, args.ring_size, args.queue_percentage,
                    args.queue_priority)
      .code();
}

Code SetCuMask(IoctlContext& ctx, kfd_ioctl_set_cu_mask_args& args) {
  if (args.num_cu_mask % 32 != 0 || args.num_cu_mask == 0) return Code::kInvalidArgs;
  // Bits past 1024 are dropped rather than refused.
  const uint32_t bits = args.num_cu_mask > kMaxCuMaskBits ? kMaxCuMaskBits : args.num_cu_mask;
  std::vector<uint32_t> mask(bits / 32);
  if (!CopyFromUser(mask.data(), args.cu_mask_ptr, mask.size() * sizeof(uint32_t)).ok()) {
    return Code::kFault;  // before the queue is looked up
  }
  return ctx.process->SetCuMask(args.queue_id, mask).code();
}

Code GetQueueWaveState(IoctlContext& ctx, kfd_ioctl_get_queue_wave_state_args& args) {
  auto state = ctx.process->GetQueueWaveState(args.queue_id);
  if (!state.ok()) return state.code();
  // get_wave_state (kfd_mqd_manager_v9.c): the sizes first, then the control stack.
  args.ctl_stack_used_size = state->ctl_stack_used_size;
  args.save_area_used_size = state->save_area_used_size;
  if (state->ctl_stack_copy_bytes != 0) {
    const std::vector<uint8_t> zeros(state->ctl_stack_copy_bytes, 0);
    if (!CopyToUser(args.ctl_stack_address, zeros.data(), zeros.size()).ok()) return Code::kFault;
  }
  return Code::kOk;
}

Code AllocQueueGws(IoctlContext& ctx, kfd_ioctl_alloc_queue_gws_args& args) {
  bool touched = false;
  const Status status = ctx.process->AllocQueueGws(args.queue_id, args.num_gws != 0, &touched);
  if (touched) args.first_gws = 0;  // written once pqm_set_gws ran, whatever it returned
  return status.code();
}

}  // namespace vkfd::uapi

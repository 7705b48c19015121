// CREATE/DESTROY/UPDATE_QUEUE: argument checks of kfd_ioctl_create_queue / set_queue_properties_from_user,
// then kfd::Process bookkeeping. No queue executes.
#include <linux/kfd_ioctl.h>

#include "base/user_memory.h"
#include "kfd/process.h"
#include "kfd/queue.h"
#include "uapi/ioctl_table.h"

namespace vkfd::uapi {
namespace {

constexpr uint32_t kMinQueueRingSize = 1024;  // KFD_MIN_QUEUE_RING_SIZE

bool IsPowerOfTwo(uint64_t v) { return v != 0 && (v & (v - 1)) == 0; }

}  // namespace

Code CreateQueue(IoctlContext& ctx, kfd_ioctl_create_queue_args& args) {
  if (args.queue_percentage > 100) return Code::kInvalidArgs;
  if (args.queue_priority > kfd::kMaxQueuePriority) return Code::kInvalidArgs;
  if (args.ring_base_address != 0 && !AccessOk(args.ring_base_address, args.ring_size)) {
    return Code::kFault;
  }
  if (args.read_pointer_address != 0 && !AccessOk(args.read_pointer_address, 8)) return Code::kFault;
  if (args.write_pointer_address != 0 && !AccessOk(args.write_pointer_address, 8)) {
    return Code::kFault;
  }
  if (args.eop_buffer_address != 0 && !AccessOk(args.eop_buffer_address, args.eop_buffer_size)) {
    return Code::kFault;
  }
  if (args.ctx_save_restore_address != 0 &&
      !AccessOk(args.ctx_save_restore_address, args.ctx_save_restore_size)) {
    return Code::kFault;
  }
  if (args.ring_size != 0 && !IsPowerOfTwo(args.ring_size)) return Code::kInvalidArgs;
  kfd::QueueProperties props;
  switch (args.queue_type) {
    case KFD_IOC_QUEUE_TYPE_COMPUTE: props.type = kfd::QueueType::kCompute; break;
    case KFD_IOC_QUEUE_TYPE_SDMA: props.type = kfd::QueueType::kSdma; break;
    case KFD_IOC_QUEUE_TYPE_COMPUTE_AQL: props.type = kfd::QueueType::kComputeAql; break;
    case KFD_IOC_QUEUE_TYPE_SDMA_XGMI: props.type = kfd::QueueType::kSdmaXgmi; break;
    default:
      // The kernel answers -ENOTSUPP (524), which has no Code; EINVAL is the nearest documented one.
      return Code::kInvalidArgs;
  }
  props.ring_base = args.ring_base_address;
  props.ring_size = args.ring_size < kMinQueueRingSize ? kMinQueueRingSize : args.ring_size;
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
  if (args.queue_percentage > 100) return Code::kInvalidArgs;
  if (args.queue_priority > kfd::kMaxQueuePriority) return Code::kInvalidArgs;
  if (args.ring_base_address != 0 && !AccessOk(args.ring_base_address, args.ring_size)) {
    return Code::kFault;
  }
  if (args.ring_size != 0 && !IsPowerOfTwo(args.ring_size)) return Code::kInvalidArgs;
  return ctx.process->queues()
      ->Update(args.queue_id, args.ring_base_address, args.ring_size, args.queue_percentage,
              args.queue_priority)
      .code();
}

}  // namespace vkfd::uapi

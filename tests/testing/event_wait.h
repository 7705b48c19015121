// OneEventWait: the arguments of a WAIT_EVENTS on one event, as the raw-ioctl programs (tests,
// benchmarks, the soak) write them again and again — the event's kfd_event_data and the args pointing
// at it. Not copyable: `args` points into the object.
#pragma once

#include <linux/kfd_ioctl.h>

#include <cstdint>

namespace vkfd::testing {

struct OneEventWait {
  OneEventWait(uint32_t event_id, uint32_t timeout_ms, bool wait_for_all = false) {
    data.event_id = event_id;
    args.events_ptr = reinterpret_cast<uint64_t>(&data);
    args.num_events = 1;
    args.wait_for_all = wait_for_all ? 1 : 0;
    args.timeout = timeout_ms;
  }
  OneEventWait(const OneEventWait&) = delete;
  OneEventWait& operator=(const OneEventWait&) = delete;

  kfd_event_data data{};
  kfd_ioctl_wait_events_args args{};
};

}  // namespace vkfd::testing

#include "kfd/event.h"

#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <iterator>

#include "base/private_fds.h"
#include "kfd/fence.h"

namespace vkfd::kfd {
namespace {

constexpr uint64_t kUnsignaledSlot = ~uint64_t{0};
// Until the client maps the kernel-allocated page, only its first 256 slots are usable.
constexpr uint64_t kDefaultMappedSize = 256 * 8;

}  // namespace

EventTable::EventTable() = default;

EventTable::~EventTable() {
  MutexLock lock(&mu_);
  for (auto& [id, ev] : events_) {
    for (Waiter* w : ev->waiters) {
      w->event = nullptr;
      w->word->Wake();
    }
    delete ev;
  }
  events_.clear();
  if (kernel_page_fd_ >= 0) {
    munmap(page_, kEventPageBytes);
    UnmarkPrivateFd(kernel_page_fd_);
    close(kernel_page_fd_);
  }
}

EventTable::Event* EventTable::FindLocked(uint32_t id) const {
  auto it = events_.find(id);
  return it == events_.end() ? nullptr : it->second;
}

void EventTable::IdRange::Take(uint32_t id) {
  if (!holes.empty() && *holes.begin() == id) {
    holes.erase(holes.begin());
  } else {
    next = id + 1;  // id == next: the only other candidate Lowest() gives
  }
}

void EventTable::IdRange::Release(uint32_t id) {
  if (id + 1 == next) {
    --next;
    // Holes right below the new top are free too: fold them back into `next`.
    while (!holes.empty() && *holes.rbegin() + 1 == next) {
      holes.erase(std::prev(holes.end()));
      --next;
    }
  } else {
    holes.insert(id);
  }
}

Status EventTable::EnsureKernelPageLocked() {
  if (page_ != nullptr) return Status::Ok();
  const int fd = memfd_create("vkfd-events", MFD_CLOEXEC);
  if (fd < 0) return Status(Code::kNoMemory);
  if (ftruncate(fd, kEventPageBytes) != 0) {
    close(fd);
    return Status(Code::kNoMemory);
  }
  void* p = mmap(nullptr, kEventPageBytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (p == MAP_FAILED) {
    close(fd);
    return Status(Code::kNoMemory);
  }
  page_ = static_cast<uint8_t*>(p);
  memset(page_, 0xff, kEventPageBytes);  // every slot UNSIGNALED
  kernel_page_fd_ = fd;
  MarkPrivateFd(fd);
  mapped_size_ = kDefaultMappedSize;
  return Status::Ok();
}

bool EventTable::has_page() const {
  MutexLock lock(&mu_);
  return page_ != nullptr;
}

Status EventTable::SetUserPage(uint8_t* host, uint64_t size) {
  MutexLock lock(&mu_);
  if (page_ != nullptr) return Status(Code::kInvalidArgs);
  // kfd_event_page_set: a BO smaller than KFD_SIGNAL_EVENT_LIMIT slots is -EINVAL; the first 4096
  // slots become UNSIGNALED.
  if (size < kEventPageBytes) return Status(Code::kInvalidArgs);
  std::fill_n(reinterpret_cast<uint64_t*>(host), kSignalEventLimit, kUnsignaledSlot);
  page_ = host;
  mapped_size_ = size;
  user_page_ = true;
  return Status::Ok();
}

Result<int> EventTable::MapKernelPage(uint64_t size) {
  MutexLock lock(&mu_);
  if (size > kEventPageBytes) return Code::kInvalidArgs;
  // kfd_event_mmap: no page yet (no signal event created, no BO given) is -EINVAL; the page is
  // never made here. A client's BO as the page: 6.1.y would remap __pa() of its vmap address (a
  // kernel bug: arbitrary physical pages); vkfd refuses it instead (docs/semantics.md).
  if (page_ == nullptr || user_page_) return Code::kInvalidArgs;
  mapped_size_ = size;
  return kernel_page_fd_;
}

Result<CreatedEvent> EventTable::Create(uint32_t type, bool auto_reset) {
  MutexLock lock(&mu_);
  const bool signal = type == kEventTypeSignal || type == kEventTypeDebug;
  uint32_t id = 0;
  if (signal) {
    VKFD_RETURN_IF_ERROR(EnsureKernelPageLocked());
    const uint64_t slots = std::min<uint64_t>(mapped_size_, kEventPageBytes) / 8;
    if (signal_event_count_ >= slots) return Code::kNoSpace;
    // idr_alloc(.., 0, slots): the lowest free id; 0 is reserved.
    id = signal_ids_.Lowest();
    if (id >= slots) return Code::kNoSpace;
    signal_ids_.Take(id);
    ++signal_event_count_;
  } else {
    // idr_alloc(.., KFD_FIRST_NONSIGNAL_EVENT_ID, KFD_LAST_NONSIGNAL_EVENT_ID): the lowest free id.
    id = other_ids_.Lowest();
    if (id == 0 || id >= 0xffffffffu) return Code::kNoSpace;
    other_ids_.Take(id);
  }
  auto* ev = new Event();
  ev->id = id;
  ev->type = type;  // a DEBUG event keeps its type: the GPU may signal it, the CPU may not
  ev->auto_reset = auto_reset;
  events_.emplace(id, ev);
  if (signal) reinterpret_cast<uint64_t*>(page_)[id] = kUnsignaledSlot;
  return CreatedEvent{id, signal};
}

void EventTable::WakeLocked(Event* ev) {
  for (Waiter* w : ev->waiters) w->word->Wake();
}

Status EventTable::Destroy(uint32_t id) {
  MutexLock lock(&mu_);
  auto it = events_.find(id);
  if (it == events_.end()) return Status(Code::kInvalidArgs);
  Event* ev = it->second;
  for (Waiter* w : ev->waiters) {
    w->event = nullptr;
    w->word->Wake();
  }
  if (ev->id < kFirstNonSignalEventId) {
    --signal_event_count_;
    signal_ids_.Release(ev->id);
  } else {
    other_ids_.Release(ev->id);
  }
  events_.erase(it);
  delete ev;
  return Status::Ok();
}

// set_event(): an auto-reset event stays signalled only when nobody was waiting for it.
void EventTable::SetLocked(Event* ev) {
  ev->signaled = !ev->auto_reset || ev->waiters.empty();
  for (Waiter* w : ev->waiters) w->activated = true;
}

// kfd_set_event/kfd_reset_event: event_can_be_cpu_signaled() — SIGNAL events only; DEBUG, MEMORY,
// HW_EXCEPTION and every other type are -EINVAL.
Status EventTable::Set(uint32_t id) {
  MutexLock lock(&mu_);
  Event* ev = FindLocked(id);
  if (ev == nullptr || ev->type != kEventTypeSignal) return Status(Code::kInvalidArgs);
  SetLocked(ev);
  WakeLocked(ev);
  return Status::Ok();
}

Status EventTable::Reset(uint32_t id) {
  MutexLock lock(&mu_);
  Event* ev = FindLocked(id);
  if (ev == nullptr || ev->type != kEventTypeSignal) return Status(Code::kInvalidArgs);
  ev->signaled = false;
  return Status::Ok();
}

WaitResult EventTable::TestLocked(std::span<Waiter> waiters, bool wait_all) {
  size_t activated = 0;
  for (Waiter& w : waiters) {
    if (w.event == nullptr) return WaitResult::kFail;
    if (w.activated) {
      if (!wait_all) return WaitResult::kComplete;
      ++activated;
    }
  }
  return activated == waiters.size() ? WaitResult::kComplete : WaitResult::kTimeout;
}

void EventTable::FreeWaitersLocked(std::span<Waiter> waiters, bool undo_auto_reset) {
  for (Waiter& w : waiters) {
    if (w.event == nullptr) continue;
    auto& list = w.event->waiters;
    list.erase(std::remove(list.begin(), list.end(), &w), list.end());
    if (undo_auto_reset && w.activated && w.event->auto_reset) {
      SetLocked(w.event);
      WakeLocked(w.event);
    }
    w.event = nullptr;
  }
}

Status EventTable::Wait(std::span<const uint32_t> ids, bool wait_all, uint32_t timeout_ms,
                        WaitResult* result, uint32_t* remaining_ms,
                        std::vector<std::pair<size_t, MemoryException>>* activated_memory,
                        Code bad_tail) {
  // copy_signaled_event_data, under the event lock after a COMPLETE result.
  auto collect = [&](std::span<Waiter> ws) REQUIRES(mu_) {
    if (activated_memory == nullptr) return;
    for (size_t i = 0; i < ws.size(); ++i) {
      if (ws[i].activated && ws[i].event != nullptr && ws[i].event->type == kEventTypeMemory) {
        activated_memory->emplace_back(i, ws[i].event->memory);
      }
    }
  };
  *result = WaitResult::kFail;
  WakeWord word;
  // user_timeout_to_jiffies: finite timeouts are capped at 0x7FFFFFFF ms and get one more tick.
  int64_t deadline = 0;
  if (timeout_ms != kWaitInfinite && timeout_ms != kWaitImmediate) {
    const int64_t ms = std::min<uint32_t>(timeout_ms, 0x7fffffffu);
    deadline = MonotonicNowNs() + (ms + 1) * 1000000;
  }
  std::vector<Waiter> waiters(ids.size());
  MutexLock lock(&mu_);
  for (size_t i = 0; i < ids.size(); ++i) {
    Event* ev = FindLocked(ids[i]);
    if (ev == nullptr) {
      FreeWaitersLocked(std::span(waiters.data(), i), false);
      return Status(Code::kInvalidArgs);
    }
    waiters[i].event = ev;
    waiters[i].activated = ev->signaled;
    waiters[i].word = &word;
    ev->signaled = ev->signaled && !ev->auto_reset;
  }
  // kfd_wait_on_events: an entry that cannot be copied in fails the wait after the entries before it
  // have been initialised — their auto-reset events consumed, not given back (free_waiters without
  // undo_auto_reset).
  if (bad_tail != Code::kOk) {
    FreeWaitersLocked(waiters, false);
    return Status(bad_tail);
  }
  WaitResult state = TestLocked(waiters, wait_all);
  if (state == WaitResult::kComplete) {
    collect(waiters);
    FreeWaitersLocked(waiters, false);
    *result = state;
    return Status::Ok();
  }
  for (Waiter& w : waiters) {
    if (!w.activated) w.event->waiters.push_back(&w);
  }
  Code code = Code::kOk;
  for (;;) {
    state = TestLocked(waiters, wait_all);
    if (state != WaitResult::kTimeout) break;
    if (timeout_ms == kWaitImmediate) break;
    if (deadline != 0 && MonotonicNowNs() >= deadline) break;
    word.Reset();  // under mu_: a Set after this point wakes the sleep below
    mu_.Unlock();
    const FutexResult slept = word.Sleep(deadline);
    mu_.Lock();
    if (slept == FutexResult::kInterrupted) {
      code = Code::kInterrupted;
      break;
    }
  }
  if (code == Code::kInterrupted) {
    if (deadline != 0) {
      // kfd_wait_on_events: jiffies_to_msecs(max(0, timeout - 1)) — the tick the conversion added
      // is taken back, so a retry with the written-back timeout ends at the same time. Rounded to
      // the nearest millisecond: many retries neither gain nor lose time on average.
      const int64_t left_ms = (std::max<int64_t>(0, deadline - MonotonicNowNs()) + 500000) / 1000000;
      *remaining_ms = static_cast<uint32_t>(std::max<int64_t>(0, left_ms - 1));
    }
    FreeWaitersLocked(waiters, /*undo_auto_reset=*/true);
    *result = WaitResult::kFail;
    return Status(code);
  }
  if (state == WaitResult::kComplete) collect(waiters);
  FreeWaitersLocked(waiters, false);
  *result = state;
  if (state == WaitResult::kFail) return Status(Code::kIo);
  return Status::Ok();
}

void EventTable::SignalFromInterrupt(uint32_t partial_id, int valid_bits) {
  MutexLock lock(&mu_);
  if (page_ == nullptr) return;
  auto* slots = reinterpret_cast<uint64_t*>(page_);
  // The page always has KFD_SIGNAL_EVENT_LIMIT slots (a client's page is at least that large,
  // kfd_event_page_set), and the kernel reads all of them whatever size is mapped.
  const uint64_t slot_count = kSignalEventLimit;
  auto acknowledge = [&](Event* ev) REQUIRES(mu_) {
    __atomic_store_n(&slots[ev->id], kUnsignaledSlot, __ATOMIC_RELAXED);
    SetLocked(ev);
    WakeLocked(ev);
  };
  // lookup_signaled_event_by_partial_id: the first event (of any type) whose slot was written, by
  // the whole id or by every id matching the partial one; set_event_from_interrupt then sets it only
  // if the GPU may signal it (SIGNAL or DEBUG). Only when no such event is found does the kernel scan.
  auto gpu_signalable = [](const Event* ev) {
    return ev->type == kEventTypeSignal || ev->type == kEventTypeDebug;
  };
  Event* found = nullptr;
  if (valid_bits > 0 && partial_id < kSignalEventLimit) {
    if (valid_bits > 31 || (uint64_t{1} << valid_bits) >= kSignalEventLimit) {
      if (partial_id < slot_count &&
          __atomic_load_n(&slots[partial_id], __ATOMIC_RELAXED) != kUnsignaledSlot) {
        found = FindLocked(partial_id);
      }
    } else {
      const uint32_t step = 1u << valid_bits;
      for (uint32_t id = partial_id; id < slot_count && found == nullptr; id += step) {
        if (__atomic_load_n(&slots[id], __ATOMIC_RELAXED) == kUnsignaledSlot) continue;
        found = FindLocked(id);
      }
    }
  }
  if (found != nullptr) {
    if (gpu_signalable(found)) acknowledge(found);
    return;
  }
  // No event by that id: set every signal event whose slot was written (the kernel's full scan).
  for (auto& [id, ev] : events_) {
    if (gpu_signalable(ev) && ev->id < slot_count &&
        __atomic_load_n(&slots[ev->id], __ATOMIC_RELAXED) != kUnsignaledSlot) {
      acknowledge(ev);
    }
  }
}

void EventTable::SignalVmFault(const MemoryException& data) {
  MutexLock lock(&mu_);
  for (auto& [id, ev] : events_) {
    if (ev->type != kEventTypeMemory) continue;
    ev->memory = data;
    SetLocked(ev);
    WakeLocked(ev);
  }
}

void EventTable::SignalHwException() {
  MutexLock lock(&mu_);
  for (auto& [id, ev] : events_) {
    if (ev->type != kEventTypeHwException) continue;
    SetLocked(ev);
    WakeLocked(ev);
  }
}

MemoryException EventTable::MemoryExceptionOf(uint32_t id) const {
  MutexLock lock(&mu_);
  const Event* ev = FindLocked(id);
  return ev != nullptr ? ev->memory : MemoryException{};
}

bool EventTable::Exists(uint32_t id) const {
  MutexLock lock(&mu_);
  return FindLocked(id) != nullptr;
}

size_t EventTable::DebugEventCount() const {
  MutexLock lock(&mu_);
  return events_.size();
}

}  // namespace vkfd::kfd

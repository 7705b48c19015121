// EventTable: one process's KFD events (kfd_events.c) — signal events with slots in the event page,
// the other event types, and the waits on them.
//
// Life cycle: created with the process (lazily, on the first event ioctl); events live from Create to
// Destroy or until the table dies, which wakes every waiter with FAIL, as DESTROY_EVENT does.
// Ids: signal (and debug) events take the lowest free id in [1, mapped slots) — id 0 is reserved, as
// the kernel's idr_alloc(NULL, 0, 1) reserves it; every other type takes the lowest free id from 4096
// upward (create_other_event's idr_alloc from KFD_FIRST_NONSIGNAL_EVENT_ID). Lookups and id
// allocation are O(log n): thousands of events cost no more per call than a few.
//
// Waits sleep on the waiting thread's WakeWord (base/wake_word.h) with the wait's absolute deadline;
// Set/Destroy wake the waiters of an event. The host kernel applies the exact SA_RESTART rule to the
// sleep: after a handler with SA_RESTART it is restarted transparently (the wait continues towards the
// same deadline, which is what the kernel's rewrite of args->timeout achieves), after one without it
// fails with EINTR and Wait reports kInterrupted. Every wake-up is re-checked under mu_, so spurious
// or stale wake-ups cost one loop and no wake-up can be lost: the waiter resets its word and wakers
// wake it under the same lock. No file descriptor and no per-thread object is involved.
//
// Thread-safe; mu_ is a leaf (taken after Process::mu_, never while waiting).
#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <span>
#include <vector>

#include "base/status.h"
#include "base/wake_word.h"
#include "base/thread_annotations.h"

namespace vkfd::kfd {

inline constexpr uint32_t kSignalEventLimit = 4096;       // KFD_SIGNAL_EVENT_LIMIT
inline constexpr uint32_t kFirstNonSignalEventId = 4096;  // KFD_FIRST_NONSIGNAL_EVENT_ID
inline constexpr uint64_t kEventPageBytes = uint64_t{kSignalEventLimit} * 8;
inline constexpr uint32_t kWaitInfinite = 0xffffffffu;    // KFD_EVENT_TIMEOUT_INFINITE
inline constexpr uint32_t kWaitImmediate = 0;             // KFD_EVENT_TIMEOUT_IMMEDIATE

// Event types as the ABI numbers them (HSA_EVENTTYPE).
inline constexpr uint32_t kEventTypeSignal = 0;
inline constexpr uint32_t kEventTypeHwException = 3;
inline constexpr uint32_t kEventTypeDebug = 5;

inline constexpr uint32_t kEventTypeMemory = 8;

enum class WaitResult : uint32_t { kComplete = 0, kTimeout = 1, kFail = 2 };

// kfd_hsa_memory_exception_data, as kfd_signal_vm_fault_event fills it for a GPU page fault.
struct MemoryException {
  uint32_t not_present = 0;
  uint32_t read_only = 0;
  uint32_t no_execute = 0;
  uint32_t imprecise = 0;
  uint64_t va = 0;
  uint32_t gpu_id = 0;
  uint32_t error_type = 0;
};

struct CreatedEvent {
  uint32_t id = 0;
  bool signal = false;  // has a slot in the event page (event_slot_index == id)
};

class EventTable {
 public:
  EventTable();
  ~EventTable();
  EventTable(const EventTable&) = delete;
  EventTable& operator=(const EventTable&) = delete;

  // CREATE_EVENT. The type is not validated (as in the kernel). kNoSpace when every slot of the event
  // page is taken; kNoMemory if the kernel-side page cannot be made.
  Result<CreatedEvent> Create(uint32_t type, bool auto_reset) EXCLUDES(mu_);
  // kInvalidArgs for an unknown id. Waiters on it finish with kFail.
  Status Destroy(uint32_t id) EXCLUDES(mu_);
  // kInvalidArgs for an unknown id or a type the CPU cannot signal (only signal events can be).
  Status Set(uint32_t id) EXCLUDES(mu_);
  Status Reset(uint32_t id) EXCLUDES(mu_);

  bool has_page() const EXCLUDES(mu_);
  // Installs the client's event page (the BO given to CREATE_EVENT): every slot becomes UNSIGNALED
  // and the usable slot count follows the BO size. kInvalidArgs if a page exists already or the BO
  // is smaller than 32 KiB (kfd_event_page_set).
  Status SetUserPage(uint8_t* host, uint64_t size) EXCLUDES(mu_);
  // The kernel-allocated page (made at the first signal event without a user page), for mmap of the
  // EVENTS offset of /dev/kfd: its memfd. Mapping it sets the usable size. kInvalidArgs above 32 KiB,
  // before any page exists, and when the page is the client's BO.
  Result<int> MapKernelPage(uint64_t size) EXCLUDES(mu_);

  // WAIT_EVENTS. `timeout_ms` in the ABI's encoding (0 immediate, ~0u infinite); *remaining_ms gets
  // the time left when the wait is interrupted. Returns kOk with *result COMPLETE or TIMEOUT;
  // kInvalidArgs for an unknown id; kInterrupted after a signal handler without SA_RESTART;
  // kIo when an event was destroyed during the wait (*result FAIL). On COMPLETE, `activated_memory`
  // (when given) receives, for each entry i whose event is a MEMORY event that was signaled in this
  // wait, (i, its exception data): what copy_signaled_event_data copies back. `bad_tail` is how the
  // entry after `ids` failed to copy in (kFault), or kOk: the entries in `ids` are initialised first
  // (auto-reset events that were signaled are consumed), then the wait fails with that code, as
  // kfd_wait_on_events does.
  Status Wait(std::span<const uint32_t> ids, bool wait_all, uint32_t timeout_ms, WaitResult* result,
              uint32_t* remaining_ms,
              std::vector<std::pair<size_t, MemoryException>>* activated_memory = nullptr,
              Code bad_tail = Code::kOk) EXCLUDES(mu_);

  // kfd_signal_event_interrupt: an engine raised an interrupt carrying `partial_id` (its low
  // `valid_bits` meaningful) after writing the event's mailbox slot. A signal event whose id matches
  // and whose slot was written has its slot reset to UNSIGNALED and is set (a DEBUG event too: the
  // GPU may signal it); when no event matches (an invalid id, a slot not written), every such event
  // whose slot was written is. Called by the GPU side with no kfd lock held.
  void SignalFromInterrupt(uint32_t partial_id, int valid_bits) EXCLUDES(mu_);
  // kfd_signal_vm_fault_event: every MEMORY event of the process receives the exception data and is
  // set. (WAIT_EVENTS copies the data out for activated MEMORY events.)
  void SignalVmFault(const MemoryException& data) EXCLUDES(mu_);
  // kfd_signal_hw_exception_event (a CP bad opcode on gfx9, event_interrupt_wq_v9): every
  // HW_EXCEPTION event of the process is set. (With none, 6.1 logs, or sends SIGTERM only with
  // amdkfd.send_sigterm=1, whose default is 0: vkfd does nothing.)
  void SignalHwException() EXCLUDES(mu_);
  // The exception data of a MEMORY event (zero before a fault).
  MemoryException MemoryExceptionOf(uint32_t id) const EXCLUDES(mu_);

  // Whether an event with this id exists now (WAIT_EVENTS checks each entry as it copies it in).
  bool Exists(uint32_t id) const EXCLUDES(mu_);
  size_t DebugEventCount() const EXCLUDES(mu_);

 private:
  struct Event;
  struct Waiter {
    Event* event = nullptr;  // null once the event is destroyed
    bool activated = false;
    WakeWord* word = nullptr;  // the waiting thread's
  };
  struct Event {
    uint32_t id = 0;
    uint32_t type = 0;
    bool auto_reset = false;
    bool signaled = false;
    std::vector<Waiter*> waiters;
    MemoryException memory;  // MEMORY events: the last fault's data
  };

  Event* FindLocked(uint32_t id) const REQUIRES(mu_);
  void WakeLocked(Event* ev) REQUIRES(mu_);
  static void SetLocked(Event* ev);
  WaitResult TestLocked(std::span<Waiter> waiters, bool wait_all) REQUIRES(mu_);
  void FreeWaitersLocked(std::span<Waiter> waiters, bool undo_auto_reset) REQUIRES(mu_);
  Status EnsureKernelPageLocked() REQUIRES(mu_);

  // An id range handing out the lowest free id, as idr_alloc does, in O(log n): every id below
  // `next` is taken except those in `holes`.
  struct IdRange {
    uint32_t next;
    std::set<uint32_t> holes;
    uint32_t Lowest() const { return holes.empty() ? next : *holes.begin(); }
    void Take(uint32_t id);
    void Release(uint32_t id);
  };

  mutable Mutex mu_;
  std::map<uint32_t, Event*> events_ GUARDED_BY(mu_);  // owned, by id
  IdRange signal_ids_ GUARDED_BY(mu_){1, {}};           // id 0 is reserved
  IdRange other_ids_ GUARDED_BY(mu_){kFirstNonSignalEventId, {}};
  uint8_t* page_ GUARDED_BY(mu_) = nullptr;     // slots (user page or kernel page)
  uint64_t mapped_size_ GUARDED_BY(mu_) = 0;    // usable bytes of the page
  bool user_page_ GUARDED_BY(mu_) = false;
  int kernel_page_fd_ GUARDED_BY(mu_) = -1;
  uint32_t signal_event_count_ GUARDED_BY(mu_) = 1;  // id 0 is reserved
};

}  // namespace vkfd::kfd

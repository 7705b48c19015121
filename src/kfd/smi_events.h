// SmiEvents: one GPU's SMI event clients (6.1.y's kfd_smi_events.c, `struct kfd_smi_client` on
// `kfd_dev->smi_clients`): SMI_EVENTS opens one, the driver's event sources add text lines to the
// clients that enabled the event.
//
// A client is a real fd: one end of an AF_UNIX stream socket pair, the other end kept here. The client
// writes its 64-bit event mask (KFD_SMI_EVENT_MASK_FROM_INDEX bits) with write(2) and reads the
// events with read(2), in the kernel's format: "<event in hex> <event text>\n", e.g. "1 1f2e:hipapp\n"
// for a VM fault (kfd_smi_event_update_vmfault). Its end is non-blocking, so a read with nothing
// queued is EAGAIN, as kfd_smi_ev_read answers whatever the file's flags; poll(2) reports POLLIN
// when a line is queued. Masks written are taken in 8-byte units when an event is added (the
// kernel takes them at write(2); the order of masks and events is the same).
// A client whose end is closed everywhere is dropped at the next event (kfd_smi_ev_release).
// Differences, documented in docs/semantics.md: the queue is the socket's buffer (the kernel's kfifo
// holds 1024 bytes and drops events that do not fit); a write of fewer than 8 bytes is accepted
// (the kernel returns EFAULT) and a longer one is read as several masks (the kernel takes the first 8).
//
// Thread-safe; mu_ is a leaf.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "base/status.h"
#include "base/thread_annotations.h"

namespace vkfd::kfd {

inline constexpr uint32_t kSmiEventVmFault = 1;         // KFD_SMI_EVENT_VMFAULT
inline constexpr uint32_t kSmiEventAllProcess = 64;     // KFD_SMI_EVENT_ALL_PROCESS

class SmiEvents {
 public:
  SmiEvents() = default;
  ~SmiEvents();
  SmiEvents(const SmiEvents&) = delete;
  SmiEvents& operator=(const SmiEvents&) = delete;

  // kfd_smi_event_open: a new client of process `pid` (`suser`: CAP_SYS_ADMIN), no event enabled.
  // Returns the client's fd (O_RDWR, not close-on-exec, as anon_inode_getfd gives it); kTooManyFiles
  // or kNoMemory when the sockets cannot be made.
  Result<int> Open(int pid, bool suser) EXCLUDES(mu_);
  // kfd_smi_event_add: "<event hex> <text>" to every client that enabled `event` and may see events
  // of process `pid` (its own, or any with ALL_PROCESS and CAP_SYS_ADMIN; pid 0: every client).
  void Add(int pid, uint32_t event, const std::string& text) EXCLUDES(mu_);
  // kfd_smi_event_update_vmfault: "<pid hex>:<task name>\n" for process `pid`.
  void VmFault(int pid, const std::string& task_name);

  size_t DebugClientCount() const EXCLUDES(mu_);

 private:
  struct Client {
    int fd = -1;  // vkfd's end
    int pid = 0;
    bool suser = false;
    uint64_t events = 0;
    std::string pending;  // mask bytes written but not yet a whole 8
  };
  // Reads the masks the client wrote; false once its end is closed.
  static bool DrainMasks(Client* client);

  mutable Mutex mu_;
  std::vector<Client> clients_ GUARDED_BY(mu_);
};

}  // namespace vkfd::kfd

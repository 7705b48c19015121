#include "kfd/smi_events.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstdio>
#include <cstring>

namespace vkfd::kfd {
namespace {

constexpr size_t kMessageSize = 96;  // KFD_SMI_EVENT_MSG_SIZE: longer lines are cut there

uint64_t MaskOf(uint32_t event) { return uint64_t{1} << (event - 1); }

}  // namespace

SmiEvents::~SmiEvents() {
  MutexLock lock(&mu_);
  for (Client& c : clients_) close(c.fd);
}

Result<int> SmiEvents::Open(int pid, bool suser) {
  int fds[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0) {
    return errno == EMFILE || errno == ENFILE ? Code::kTooManyFiles : Code::kNoMemory;
  }
  // The client's end: O_RDWR without close-on-exec; non-blocking, so an empty queue reads EAGAIN.
  if (fcntl(fds[1], F_SETFD, 0) != 0 || fcntl(fds[1], F_SETFL, O_NONBLOCK) != 0) {
    close(fds[0]);
    close(fds[1]);
    return Code::kNoMemory;
  }
  MutexLock lock(&mu_);
  Client c;
  c.fd = fds[0];
  c.pid = pid;
  c.suser = suser;
  clients_.push_back(c);
  return fds[1];
}

bool SmiEvents::DrainMasks(Client* client) {
  char buf[256];
  for (;;) {
    const ssize_t n = recv(client->fd, buf, sizeof(buf), MSG_DONTWAIT);
    if (n == 0) return false;  // every copy of the client's end is closed
    if (n < 0) return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR;
    client->pending.append(buf, static_cast<size_t>(n));
    while (client->pending.size() >= sizeof(uint64_t)) {
      memcpy(&client->events, client->pending.data(), sizeof(uint64_t));  // WRITE_ONCE(events)
      client->pending.erase(0, sizeof(uint64_t));
    }
  }
}

void SmiEvents::Add(int pid, uint32_t event, const std::string& text) {
  char line[kMessageSize];
  const int head = snprintf(line, sizeof(line), "%x ", event);
  snprintf(line + head, sizeof(line) - static_cast<size_t>(head), "%s", text.c_str());
  const size_t len = strlen(line);
  MutexLock lock(&mu_);
  for (size_t i = 0; i < clients_.size();) {
    Client& c = clients_[i];
    if (!DrainMasks(&c)) {
      close(c.fd);
      clients_.erase(clients_.begin() + static_cast<std::ptrdiff_t>(i));
      continue;
    }
    ++i;
    // kfd_smi_ev_enabled
    if (pid != 0 && c.pid != pid && !(c.suser && (c.events & MaskOf(kSmiEventAllProcess)))) {
      continue;
    }
    if ((c.events & MaskOf(event)) == 0) continue;
    // A whole line or nothing (kfifo_avail >= len), never blocking the GPU side: a full buffer drops
    // the line, as a full kfifo does.
    (void)send(c.fd, line, len, MSG_DONTWAIT | MSG_NOSIGNAL);
  }
}

void SmiEvents::VmFault(int pid, const std::string& task_name) {
  char text[64];
  snprintf(text, sizeof(text), "%x:%.15s\n", static_cast<unsigned>(pid), task_name.c_str());
  Add(pid, kSmiEventVmFault, text);
}

size_t SmiEvents::DebugClientCount() const {
  MutexLock lock(&mu_);
  return clients_.size();
}

}  // namespace vkfd::kfd

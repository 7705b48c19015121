// The signal mask of vkfd's own service threads (the command processor, the alarm clock).
//
// Invariant: a service thread blocks every signal a program may direct at the process (so a
// process-directed SIGALRM or SIGUSR1 is always delivered to one of the program's threads, as if vkfd
// had no threads), and none of the synchronous fault signals. A fault raised with its signal blocked
// is not queued: the kernel forces the default action and the whole process dies. The command
// processor's guarded copies (base/user_memory.h) rely on SIGSEGV/SIGBUS reaching the recovery handler
// when a client unmaps memory its GPU still reads.
#pragma once

#include <signal.h>

namespace vkfd {

inline sigset_t ServiceThreadSignalMask() {
  sigset_t set;
  sigfillset(&set);
  for (int sig : {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGTRAP, SIGSYS}) sigdelset(&set, sig);
  return set;
}

}  // namespace vkfd

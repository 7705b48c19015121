// One-line messages from the emulated driver to the program's stderr — what a kernel driver would put
// in dmesg with pr_err and a user of vkfd needs to see: a queue that stopped on a kernel vkfd does not
// run, a GPU page fault. "vkfd: " + the line + "\n", written with one write(2) so lines of concurrent
// threads and processes never interleave. Async-signal-safe; allocates nothing.
#pragma once

namespace vkfd {

void LogLine(const char* format, ...) __attribute__((format(printf, 1, 2)));

}  // namespace vkfd

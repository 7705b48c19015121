#include "shim/ioctl_log.h"

#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstring>

#include "uapi/ioctl_table.h"

namespace vkfd::shim {

std::string FormatIoctlRecord(const uapi::IoctlRecord& r, int pid) {
  const std::string name =
      (r.name != nullptr && strcmp(r.name, "UNKNOWN") != 0) ? r.name : uapi::IoctlName(r.cmd);
  char result[96];
  if (r.result < 0) {
    const char* ename = strerrorname_np(-r.result);
    snprintf(result, sizeof(result), "-1 %s (%s)", ename != nullptr ? ename : "?",
             strerror(-r.result));
  } else {
    snprintf(result, sizeof(result), "%d", r.result);
  }
  char timing[48];
  snprintf(timing, sizeof(timing), "<%" PRId64 ".%06" PRId64 "s>", r.duration_ns / 1000000000,
           (r.duration_ns / 1000) % 1000000);
  std::string line = "[vkfd " + std::to_string(pid) + "] " + name + " {" + r.args + "} = " +
                     result + " " + timing + "\n";
  return line;
}

}  // namespace vkfd::shim

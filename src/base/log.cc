#include "base/log.h"

#include <unistd.h>

#include <cstdarg>
#include <cstdio>
#include <cstring>

namespace vkfd {

void LogLine(const char* format, ...) {
  char line[1024] = "vkfd: ";
  const size_t prefix = strlen(line);
  va_list ap;
  va_start(ap, format);
  int n = vsnprintf(line + prefix, sizeof(line) - prefix - 1, format, ap);
  va_end(ap);
  if (n < 0) return;
  size_t len = prefix + static_cast<size_t>(n);
  if (len > sizeof(line) - 2) len = sizeof(line) - 2;
  line[len++] = '\n';
  [[maybe_unused]] ssize_t written = write(2, line, len);
}

}  // namespace vkfd

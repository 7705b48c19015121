#include "hw/pte.h"

namespace vkfd::hw {

std::string PteFlagString(uint64_t pte) {
  std::string s = "----";
  if (pte & kPteReadable) s[0] = 'R';
  if (pte & kPteWriteable) s[1] = 'W';
  if (pte & kPteExecutable) s[2] = 'X';
  if (pte & kPteSystem) s[3] = 'S';
  return s;
}

}  // namespace vkfd::hw

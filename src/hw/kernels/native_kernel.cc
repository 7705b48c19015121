#include "hw/kernels/native_kernel.h"

#include <cstdio>

#include "hw/kernels/code_object.h"

namespace vkfd::hw {

KernelIdentity IdentifyKernel(const VmAccess& vm, uint64_t kernel_object) {
  if (const NativeKernel* rocr = IdentifyRocrBlit(vm, kernel_object)) return {rocr, rocr->name()};
  auto symbol = SymbolAt(vm, kernel_object, SymbolKind::kDescriptor);
  if (!symbol.ok()) {
    char text[96];
    snprintf(text, sizeof(text), "<no code object symbol names the descriptor at 0x%llx>",
             static_cast<unsigned long long>(kernel_object));
    return {nullptr, text};
  }
  const std::string name = symbol->name.substr(0, symbol->name.size() - 3);  // without ".kd"
  for (const NativeKernel* k : RocclrBlitKernels()) {
    if (name == k->name()) return {k, name};
  }
  return {nullptr, name};
}

std::string NativeKernelList() {
  std::string list;
  for (const NativeKernel* k : RocrBlitKernels()) list += std::string(list.empty() ? "" : ", ") + k->name();
  list += " (ROCr); ";
  bool first = true;
  for (const NativeKernel* k : RocclrBlitKernels()) {
    list += std::string(first ? "" : ", ") + k->name();
    first = false;
  }
  return list + " (HIP)";
}

}  // namespace vkfd::hw

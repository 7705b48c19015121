#include "hw/kernels/native_kernel.h"

#include <cxxabi.h>

#include <cstdio>
#include <cstdlib>

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
  // Someone else's kernel: name it as its author wrote it too.
  int status = 0;
  char* readable = abi::__cxa_demangle(name.c_str(), nullptr, nullptr, &status);
  std::string shown = name;
  if (status == 0 && readable != nullptr) shown += std::string(" = ") + readable;
  free(readable);
  return {nullptr, shown};
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

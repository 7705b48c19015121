// Kernel names from the code object that holds them, read from GPU memory.
//
// ROCr's loader (ExecutableImpl::LoadSegmentsV2) allocates one GPU buffer for a code object and copies
// every PT_LOAD segment to base + p_vaddr; the first segment starts at file offset 0 and vaddr 0, so
// the ELF header, the program headers, .dynsym, .hash, .dynstr and the kernel descriptors (.rodata) are
// all in GPU memory. An AQL dispatch's kernel_object is base + the value of the symbol `<kernel>.kd`;
// a PM4 dispatch's program address is base + the value of the function symbol `<kernel>`.
// SymbolAt walks back page by page from the address to an AMDGPU ELF header whose first PT_LOAD covers
// it, then finds through PT_DYNAMIC (DT_SYMTAB, DT_STRTAB, DT_HASH) the symbol whose value is the
// address's offset. Section headers are not loaded and not used.
#pragma once

#include <cstdint>
#include <string>

#include "base/status.h"
#include "hw/vm_access.h"

namespace vkfd::hw {

struct CodeObjectSymbol {
  std::string name;         // as in .dynstr ("__amd_rocclr_copyBuffer.kd")
  uint64_t image_base = 0;  // GPU VA of the ELF header
};

enum class SymbolKind { kDescriptor, kCode };

// The symbol at `address`: a descriptor (`<name>.kd`) or a function. kNotFound when no code object
// encloses it within `max_scan_bytes`, or none of its symbols is there.
Result<CodeObjectSymbol> SymbolAt(const VmAccess& vm, uint64_t address, SymbolKind kind,
                                  uint64_t max_scan_bytes = 16ull << 20);
// The GPU VA of symbol `name` in the image at `image_base`, or kNotFound.
Result<uint64_t> SymbolAddress(const VmAccess& vm, uint64_t image_base, const std::string& name);

}  // namespace vkfd::hw

#include "hw/kernels/code_object.h"

#include <elf.h>

#include <cstring>
#include <functional>
#include <vector>

namespace vkfd::hw {
namespace {

constexpr uint64_t kPage = 4096;
constexpr uint16_t kEmAmdgpu = 224;  // EM_AMDGPU
constexpr uint64_t kMaxSymbols = 1 << 16;
constexpr uint64_t kMaxName = 512;

bool LooksLikeCodeObject(const Elf64_Ehdr& h) {
  return memcmp(h.e_ident, ELFMAG, SELFMAG) == 0 && h.e_ident[EI_CLASS] == ELFCLASS64 &&
         h.e_ident[EI_DATA] == ELFDATA2LSB && h.e_machine == kEmAmdgpu && h.e_type == ET_DYN &&
         h.e_phentsize == sizeof(Elf64_Phdr) && h.e_phnum > 0 && h.e_phnum < 64;
}

// The dynamic symbol table of the image at `base`, as loaded.
class Image {
 public:
  Image(const VmAccess& vm, uint64_t base) : vm_(vm), base_(base) {}

  // Reads the headers; false unless this is a code object whose first PT_LOAD covers `offset`.
  bool Load(uint64_t offset) {
    Elf64_Ehdr ehdr;
    VmFault fault;
    if (!vm_.Read(base_, &ehdr, sizeof(ehdr), &fault).ok() || !LooksLikeCodeObject(ehdr)) return false;
    std::vector<Elf64_Phdr> phdrs(ehdr.e_phnum);
    if (!vm_.Read(base_ + ehdr.e_phoff, phdrs.data(), phdrs.size() * sizeof(Elf64_Phdr), &fault)
             .ok()) {
      return false;
    }
    bool covered = false;
    const Elf64_Phdr* dynamic = nullptr;
    for (const Elf64_Phdr& p : phdrs) {
      if (p.p_type == PT_LOAD && p.p_offset == 0 && p.p_vaddr == 0 && offset < p.p_memsz) {
        covered = true;
      }
      if (p.p_type == PT_DYNAMIC) dynamic = &p;
    }
    if (!covered || dynamic == nullptr || dynamic->p_filesz > (1 << 20)) return false;
    std::vector<Elf64_Dyn> dyn(dynamic->p_filesz / sizeof(Elf64_Dyn));
    if (!vm_.Read(base_ + dynamic->p_vaddr, dyn.data(), dyn.size() * sizeof(Elf64_Dyn), &fault)
             .ok()) {
      return false;
    }
    uint64_t syment = sizeof(Elf64_Sym);
    for (const Elf64_Dyn& d : dyn) {
      if (d.d_tag == DT_NULL) break;
      if (d.d_tag == DT_SYMTAB) symtab_ = d.d_un.d_ptr;
      if (d.d_tag == DT_STRTAB) strtab_ = d.d_un.d_ptr;
      if (d.d_tag == DT_STRSZ) strsz_ = d.d_un.d_val;
      if (d.d_tag == DT_HASH) hash_ = d.d_un.d_ptr;
      if (d.d_tag == DT_SYMENT) syment = d.d_un.d_val;
    }
    if (symtab_ == 0 || strtab_ == 0 || hash_ == 0 || syment != sizeof(Elf64_Sym)) return false;
    uint32_t head[2];  // nbucket, nchain (= the number of symbols)
    if (!vm_.Read(base_ + hash_, head, sizeof(head), &fault).ok()) return false;
    syms_.resize(head[1] < kMaxSymbols ? head[1] : kMaxSymbols);
    return vm_.Read(base_ + symtab_, syms_.data(), syms_.size() * sizeof(Elf64_Sym), &fault).ok();
  }

  std::string Name(const Elf64_Sym& sym) const {
    if (sym.st_name == 0 || sym.st_name >= strsz_) return std::string();
    char name[kMaxName + 1] = {};
    const uint64_t n = strsz_ - sym.st_name < kMaxName ? strsz_ - sym.st_name : kMaxName;
    VmFault fault;
    if (!vm_.Read(base_ + strtab_ + sym.st_name, name, n, &fault).ok()) return std::string();
    return std::string(name, strnlen(name, n));
  }

  const std::vector<Elf64_Sym>& symbols() const { return syms_; }

 private:
  const VmAccess& vm_;
  const uint64_t base_;
  uint64_t symtab_ = 0, strtab_ = 0, strsz_ = 0, hash_ = 0;
  std::vector<Elf64_Sym> syms_;
};

bool IsDescriptorName(const std::string& name) {
  return name.size() > 3 && name.compare(name.size() - 3, 3, ".kd") == 0;
}

}  // namespace

Result<CodeObjectSymbol> SymbolAt(const VmAccess& vm, uint64_t address, SymbolKind kind,
                                  uint64_t max_scan_bytes) {
  const uint64_t first = address & ~(kPage - 1);
  for (uint64_t back = 0; back <= max_scan_bytes && back <= first; back += kPage) {
    const uint64_t base = first - back;
    uint32_t magic;
    VmFault fault;
    if (!vm.Read(base, &magic, sizeof(magic), &fault).ok()) return Code::kNotFound;  // left memory
    if (memcmp(&magic, ELFMAG, SELFMAG) != 0) continue;
    Image image(vm, base);
    if (!image.Load(address - base)) continue;
    for (const Elf64_Sym& sym : image.symbols()) {
      if (sym.st_value != address - base) continue;
      const bool is_func = ELF64_ST_TYPE(sym.st_info) == STT_FUNC;
      const std::string name = image.Name(sym);
      if (kind == SymbolKind::kDescriptor ? IsDescriptorName(name) : (is_func && !name.empty())) {
        return CodeObjectSymbol{name, base};
      }
    }
  }
  return Code::kNotFound;
}

Result<uint64_t> SymbolAddress(const VmAccess& vm, uint64_t image_base, const std::string& name) {
  Image image(vm, image_base);
  if (!image.Load(0)) return Code::kNotFound;
  for (const Elf64_Sym& sym : image.symbols()) {
    if (image.Name(sym) == name) return image_base + sym.st_value;
  }
  return Code::kNotFound;
}

}  // namespace vkfd::hw

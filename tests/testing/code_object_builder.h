// A minimal AMDGPU code object, as ROCr's loader leaves one in GPU memory: an ELF64 ET_DYN image for
// EM_AMDGPU whose first PT_LOAD starts at file offset 0 and vaddr 0, a PT_DYNAMIC with DT_HASH,
// DT_SYMTAB, DT_STRTAB, DT_STRSZ and DT_SYMENT, and one 64-byte kernel descriptor per named kernel
// (`<name>.kd`, zero-filled: vkfd reads none of its fields) plus its code (`<name>`, STT_FUNC, 256
// bytes of zeros: vkfd does not execute it). Enough for hw/kernels/code_object.h to
// name a dispatch's kernel, so tests and benchmarks can dispatch the HIP runtime's blit kernels
// without the runtime. Header-only; no vkfd code.
#pragma once

#include <elf.h>

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

namespace vkfd::testing {

struct CodeObject {
  std::vector<uint8_t> image;                // copy it to GPU memory, page-aligned
  std::vector<uint64_t> descriptor_offsets;  // AQL kernel_object = image address + offset, per name
  std::vector<uint64_t> code_offsets;        // PM4 COMPUTE_PGM_LO/HI = (image address + offset) >> 8
};

inline CodeObject BuildCodeObject(const std::vector<std::string>& kernels) {
  constexpr uint64_t kPhdrs = sizeof(Elf64_Ehdr);
  constexpr uint64_t kHash = kPhdrs + 2 * sizeof(Elf64_Phdr);
  const uint64_t nsyms = 2 * kernels.size() + 1;
  const uint64_t hash_bytes = 4 * (2 + 1 + nsyms);
  const uint64_t symtab = (kHash + hash_bytes + 7) & ~7ull;
  const uint64_t strtab = symtab + nsyms * sizeof(Elf64_Sym);
  std::string strings(1, '\0');
  std::vector<uint32_t> name_offsets;  // "<name>.kd"; "<name>" is the same string without ".kd"
  std::vector<uint32_t> code_names;
  for (const std::string& k : kernels) {
    code_names.push_back(static_cast<uint32_t>(strings.size()));
    strings += k;
    strings.push_back('\0');
    name_offsets.push_back(static_cast<uint32_t>(strings.size()));
    strings += k + ".kd";
    strings.push_back('\0');
  }
  const uint64_t dynamic = (strtab + strings.size() + 7) & ~7ull;
  const uint64_t ndyn = 6;
  const uint64_t descriptors = (dynamic + ndyn * sizeof(Elf64_Dyn) + 255) & ~255ull;
  const uint64_t code = (descriptors + 64 * kernels.size() + 255) & ~255ull;
  const uint64_t size = code + 256 * kernels.size();

  CodeObject co;
  co.image.assign(size, 0);
  uint8_t* p = co.image.data();
  Elf64_Ehdr eh{};
  memcpy(eh.e_ident, ELFMAG, SELFMAG);
  eh.e_ident[EI_CLASS] = ELFCLASS64;
  eh.e_ident[EI_DATA] = ELFDATA2LSB;
  eh.e_ident[EI_VERSION] = EV_CURRENT;
  eh.e_ident[EI_OSABI] = 64;  // ELFOSABI_AMDGPU_HSA
  eh.e_type = ET_DYN;
  eh.e_machine = 224;  // EM_AMDGPU
  eh.e_version = EV_CURRENT;
  eh.e_phoff = kPhdrs;
  eh.e_ehsize = sizeof(Elf64_Ehdr);
  eh.e_phentsize = sizeof(Elf64_Phdr);
  eh.e_phnum = 2;
  memcpy(p, &eh, sizeof(eh));
  Elf64_Phdr load{};
  load.p_type = PT_LOAD;
  load.p_flags = PF_R | PF_X;
  load.p_filesz = load.p_memsz = size;
  load.p_align = 4096;
  Elf64_Phdr dyn{};
  dyn.p_type = PT_DYNAMIC;
  dyn.p_flags = PF_R;
  dyn.p_offset = dyn.p_vaddr = dynamic;
  dyn.p_filesz = dyn.p_memsz = ndyn * sizeof(Elf64_Dyn);
  memcpy(p + kPhdrs, &load, sizeof(load));
  memcpy(p + kPhdrs + sizeof(load), &dyn, sizeof(dyn));
  // DT_HASH: one bucket chaining every symbol.
  std::vector<uint32_t> hash = {1, static_cast<uint32_t>(nsyms), nsyms > 1 ? 1u : 0u};
  for (uint64_t i = 0; i < nsyms; ++i) hash.push_back(i + 1 < nsyms ? static_cast<uint32_t>(i + 1) : 0);
  memcpy(p + kHash, hash.data(), hash.size() * 4);
  for (size_t i = 0; i < kernels.size(); ++i) {
    Elf64_Sym sym{};
    sym.st_name = name_offsets[i];
    sym.st_info = ELF64_ST_INFO(STB_GLOBAL, STT_OBJECT);
    sym.st_shndx = 1;
    sym.st_value = descriptors + 64 * i;
    sym.st_size = 64;
    memcpy(p + symtab + (2 * i + 1) * sizeof(Elf64_Sym), &sym, sizeof(sym));
    co.descriptor_offsets.push_back(sym.st_value);
    Elf64_Sym fn{};
    fn.st_name = code_names[i];
    fn.st_info = ELF64_ST_INFO(STB_GLOBAL, STT_FUNC);
    fn.st_shndx = 2;
    fn.st_value = code + 256 * i;
    fn.st_size = 256;
    memcpy(p + symtab + (2 * i + 2) * sizeof(Elf64_Sym), &fn, sizeof(fn));
    co.code_offsets.push_back(fn.st_value);
  }
  memcpy(p + strtab, strings.data(), strings.size());
  const Elf64_Dyn entries[ndyn] = {{DT_HASH, {kHash}},        {DT_SYMTAB, {symtab}},
                                   {DT_STRTAB, {strtab}},     {DT_STRSZ, {strings.size()}},
                                   {DT_SYMENT, {sizeof(Elf64_Sym)}}, {DT_NULL, {0}}};
  memcpy(p + dynamic, entries, sizeof(entries));
  return co;
}

}  // namespace vkfd::testing

#include "hw/page_walker.h"

#include <cinttypes>
#include <cstdio>

#include "hw/pte.h"

namespace vkfd::hw {
namespace {

constexpr uint64_t kRunFlagBits = kPteReadable | kPteWriteable | kPteExecutable | kPteSystem;

uint64_t Load(const uint64_t* entry) { return __atomic_load_n(entry, __ATOMIC_RELAXED); }

}  // namespace

const uint64_t* PageWalker::Table(uint64_t phys) const {
  // Page tables live in the GPU's own VRAM.
  return reinterpret_cast<const uint64_t*>(node_.Resolve(gpu_index_, phys, /*system=*/false));
}

Result<Translation> PageWalker::Translate(uint64_t root_phys, uint64_t va) const {
  if (va >= kVaLimit) return Code::kFault;
  const uint64_t* table = Table(root_phys);
  for (int level = kLevelCount - 1; level >= 0 && table != nullptr; --level) {
    const uint64_t entry = Load(&table[LevelIndex(va, level)]);
    if (!(entry & kPteValid)) return Code::kFault;
    const bool leaf = level == 0 || (level == 1 && (entry & kPdeIsPte));
    if (!leaf) {
      table = Table(PteAddress(entry));
      continue;
    }
    Translation t;
    t.entry = entry;
    t.page_size = LevelSpan(level);
    t.phys = PteAddress(entry) + (va & (t.page_size - 1));
    t.host = node_.Resolve(gpu_index_, t.phys, entry & kPteSystem, &t.client);
    return t;
  }
  return Code::kFault;
}

void PageWalker::DumpTable(const uint64_t* table, int level, uint64_t base,
                           std::vector<MappedRun>* runs) const {
  for (uint64_t i = 0; i < kEntriesPerTable; ++i) {
    const uint64_t entry = Load(&table[i]);
    if (!(entry & kPteValid)) continue;
    const uint64_t va = base + i * LevelSpan(level);
    const bool leaf = level == 0 || (level == 1 && (entry & kPdeIsPte));
    if (!leaf) {
      const uint64_t* child = Table(PteAddress(entry));
      if (child != nullptr) DumpTable(child, level - 1, va, runs);
      continue;
    }
    const uint64_t flags = entry & kRunFlagBits;
    const uint64_t end = va + LevelSpan(level);
    if (!runs->empty() && runs->back().end == va && runs->back().flags == flags) {
      runs->back().end = end;
    } else {
      runs->push_back(MappedRun{va, end, flags});
    }
  }
}

std::vector<MappedRun> PageWalker::Dump(uint64_t root_phys) const {
  std::vector<MappedRun> runs;
  const uint64_t* root = Table(root_phys);
  if (root != nullptr) DumpTable(root, kLevelCount - 1, 0, &runs);
  return runs;
}

std::string PageWalker::DumpText(uint64_t root_phys) const {
  std::string text;
  char line[64];
  for (const MappedRun& run : Dump(root_phys)) {
    snprintf(line, sizeof(line), "0x%" PRIx64 "-0x%" PRIx64 " %s\n", run.start, run.end,
             PteFlagString(run.flags).c_str());
    text += line;
  }
  return text;
}

}  // namespace vkfd::hw

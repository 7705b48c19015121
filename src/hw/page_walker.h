// PageWalker: what a GPU's MMU does with a VA — reads the page tables from GPU memory, level by level,
// and yields the bytes behind the address or a fault. It reads only memory, never the planner's shadow,
// so it checks what the DMA engine really wrote. Also produces the inspection view (VmDump).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "base/status.h"
#include "hw/node.h"

namespace vkfd::hw {

struct Translation {
  uint64_t entry = 0;      // the leaf entry (PTE, or PDB0 entry with kPdeIsPte)
  uint64_t page_size = 0;  // 4 KiB or 2 MiB
  uint64_t phys = 0;       // physical address of the byte
  uint8_t* host = nullptr;  // host address of the byte; nullptr if the physical address leads nowhere
  bool client = false;      // the bytes are the client's own memory (userptr): copy them guarded
};

// A maximal run of valid leaf entries with equal RWXS flags, [start, end).
struct MappedRun {
  uint64_t start = 0;
  uint64_t end = 0;
  uint64_t flags = 0;  // the R, W, X, S bits of the run
};

class PageWalker {
 public:
  PageWalker(const Node& node, size_t gpu_index) : node_(node), gpu_index_(gpu_index) {}

  // Code::kFault if `va` is not mapped (a GPU page fault).
  Result<Translation> Translate(uint64_t root_phys, uint64_t va) const;
  std::vector<MappedRun> Dump(uint64_t root_phys) const;
  // The inspection format: one line per run, "0x<start>-0x<end> RWXS\n", lower-case hex, end exclusive.
  std::string DumpText(uint64_t root_phys) const;

 private:
  const uint64_t* Table(uint64_t phys) const;
  void DumpTable(const uint64_t* table, int level, uint64_t base, std::vector<MappedRun>* runs) const;

  const Node& node_;
  const size_t gpu_index_;
};

}  // namespace vkfd::hw

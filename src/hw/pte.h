// GFX9 page-table entry format (gfx90a), as the hardware reads it.
//
// 48-bit VA, four levels of 512 × 8-byte entries: PDB2 (VA 47:39), PDB1 (38:30), PDB0 (29:21), PTB
// (20:12). A directory entry (PDE) holds the physical address of the next table and VALID. A PDB0 entry
// with kPdeIsPte maps a whole 2 MiB page; it carries the same flag bits as a PTE.
#pragma once

#include <cstdint>
#include <string>

namespace vkfd::hw {

inline constexpr uint64_t kPteValid = 1ull << 0;
inline constexpr uint64_t kPteSystem = 1ull << 1;
inline constexpr uint64_t kPteSnooped = 1ull << 2;
inline constexpr uint64_t kPteTmz = 1ull << 3;
inline constexpr uint64_t kPteExecutable = 1ull << 4;
inline constexpr uint64_t kPteReadable = 1ull << 5;
inline constexpr uint64_t kPteWriteable = 1ull << 6;
inline constexpr int kPteFragmentShift = 7;
inline constexpr uint64_t kPteFragmentMask = 0x1full << kPteFragmentShift;
inline constexpr uint64_t kPteAddressMask = 0x0000fffffffff000ull;  // bits 47:12
inline constexpr uint64_t kPtePrt = 1ull << 51;
inline constexpr uint64_t kPdeIsPte = 1ull << 54;  // "P": a PDB0 entry that maps a 2 MiB page
inline constexpr uint64_t kPteTf = 1ull << 56;
inline constexpr int kPteMtypeShift = 57;
inline constexpr uint64_t kPteMtypeMask = 3ull << kPteMtypeShift;

// Memory types (bits 58:57) as gfx90a uses them.
enum class Mtype : uint64_t { kNc = 0, kRw = 1, kCc = 2, kUc = 3 };
inline constexpr uint64_t PteMtype(Mtype m) { return static_cast<uint64_t>(m) << kPteMtypeShift; }

inline constexpr int kLevelCount = 4;          // PDB2, PDB1, PDB0, PTB
inline constexpr uint64_t kEntriesPerTable = 512;
inline constexpr uint64_t kPageSize = 4096;
inline constexpr uint64_t kHugePageSize = 2ull << 20;
inline constexpr uint64_t kVaBits = 48;
inline constexpr uint64_t kVaLimit = 1ull << kVaBits;

// Bits of the VA that index the table at `level` (0 = PTB, 3 = PDB2).
inline constexpr int LevelShift(int level) { return 12 + 9 * level; }
inline constexpr uint64_t LevelIndex(uint64_t va, int level) {
  return (va >> LevelShift(level)) & (kEntriesPerTable - 1);
}
// Bytes of VA covered by one entry at `level`.
inline constexpr uint64_t LevelSpan(int level) { return 1ull << LevelShift(level); }

inline constexpr uint64_t PteFragment(uint64_t pte) {
  return (pte & kPteFragmentMask) >> kPteFragmentShift;
}
inline constexpr uint64_t PteAddress(uint64_t pte) { return pte & kPteAddressMask; }

// The four-character RWXS view of an entry used by the inspection file: R readable, W writeable,
// X executable, S system; '-' for a clear bit.
std::string PteFlagString(uint64_t pte);

}  // namespace vkfd::hw

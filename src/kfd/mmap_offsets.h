// Offsets that select what an mmap of /dev/kfd maps (kfd_priv.h): bits 63:62 the type, 61:46 the
// gpu_id. BO contents are mapped through the render node instead, at the BO's own offset.
#pragma once

#include <cstdint>

namespace vkfd::kfd {

inline constexpr int kMmapTypeShift = 62;
inline constexpr uint64_t kMmapTypeMask = 3ull << kMmapTypeShift;
inline constexpr uint64_t kMmapTypeDoorbell = 3ull << kMmapTypeShift;
inline constexpr uint64_t kMmapTypeEvents = 2ull << kMmapTypeShift;
inline constexpr uint64_t kMmapTypeReserved = 1ull << kMmapTypeShift;
inline constexpr uint64_t kMmapTypeMmio = 0ull << kMmapTypeShift;
inline constexpr int kMmapGpuIdShift = 46;
inline constexpr uint64_t kMmapGpuIdMask = 0xffffull << kMmapGpuIdShift;

inline constexpr uint64_t MmapGpuId(uint32_t gpu_id) {
  return (uint64_t{gpu_id} << kMmapGpuIdShift) & kMmapGpuIdMask;
}
inline constexpr uint32_t MmapGetGpuId(uint64_t offset) {
  return static_cast<uint32_t>((offset & kMmapGpuIdMask) >> kMmapGpuIdShift);
}

// Handles: gpu_id in the upper 32 bits, the per-GPU IDR number below.
inline constexpr uint64_t MakeHandle(uint32_t gpu_id, uint32_t idr) {
  return (uint64_t{gpu_id} << 32) + idr;
}
inline constexpr uint32_t HandleGpuId(uint64_t handle) { return static_cast<uint32_t>(handle >> 32); }
inline constexpr uint32_t HandleIdr(uint64_t handle) { return static_cast<uint32_t>(handle); }

// Sizes the ALLOC checks for doorbell and MMIO-remap BOs.
inline constexpr uint64_t kDoorbellProcessSlice = 8192;
inline constexpr uint64_t kMmioRemapSize = 4096;
inline constexpr uint64_t kCwsrTbaTmaSize = 2 * 4096;  // KFD_CWSR_TBA_TMA_SIZE: the reserved-memory mmap

}  // namespace vkfd::kfd

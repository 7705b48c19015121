#include "hw/queue/queue_producer.h"

#include <cstring>

namespace vkfd::hw {
namespace {

constexpr uint64_t kAqlPacketBytes = 64;

Result<uint64_t> ProduceAql(const VmAccess& vm, const RingLayout& ring,
                            std::span<const uint8_t> packets, VmFault* fault) {
  const uint64_t slots = ring.ring_bytes / kAqlPacketBytes;
  const uint64_t n = packets.size() / kAqlPacketBytes;
  // Reserve [first, first + n) unless that would overwrite a slot the CP has not consumed.
  uint64_t first = 0;
  for (;;) {
    auto write = vm.Load64(ring.wptr_va, fault);
    if (!write.ok()) return write.code();
    auto read = vm.Load64(ring.rptr_va, fault);
    if (!read.ok()) return read.code();
    first = static_cast<uint64_t>(write.value());
    const uint64_t consumed = static_cast<uint64_t>(read.value());
    if (first < consumed || first + n - consumed > slots) return Code::kNoSpace;
    auto found = vm.CompareExchange64(ring.wptr_va, first, first + n, fault);
    if (!found.ok()) return found.code();
    if (found.value() == first) break;  // another producer moved it: look again
  }
  for (uint64_t i = 0; i < n; ++i) {
    const uint8_t* p = packets.data() + i * kAqlPacketBytes;
    const uint64_t slot = ring.ring_va + ((first + i) % slots) * kAqlPacketBytes;
    VKFD_RETURN_IF_ERROR(vm.Write(slot + 4, p + 4, kAqlPacketBytes - 4, fault));
    uint32_t dword0;
    memcpy(&dword0, p, 4);
    VKFD_RETURN_IF_ERROR(vm.Store32(slot, dword0, fault));
  }
  return first;
}

// SDMA (unit 1: byte positions) and PM4 (unit 4: dword positions). The engine's read pointer: SDMA
// a monotonic byte count; PM4 a dword offset that wraps at the ring.
Result<uint64_t> ProduceDwords(const VmAccess& vm, const RingLayout& ring,
                               std::span<const uint8_t> packets, VmFault* fault) {
  const bool sdma = ring.kind == QueueKind::kSdma;
  const uint64_t unit = sdma ? 1 : 4;
  auto write = vm.Load64(ring.wptr_va, fault);
  if (!write.ok()) return write.code();
  const uint64_t position = static_cast<uint64_t>(write.value());
  const uint64_t write_byte = position * unit;
  uint64_t used;
  if (sdma) {
    auto read = vm.Load64(ring.rptr_va, fault);
    if (!read.ok()) return read.code();
    const uint64_t read_byte = static_cast<uint64_t>(read.value());
    if (write_byte < read_byte) return Code::kNoSpace;  // a pointer the engine cannot have written
    used = write_byte - read_byte;
  } else {
    auto read = vm.Load32(ring.rptr_va, fault);
    if (!read.ok()) return read.code();
    const uint64_t read_byte = (uint64_t{read.value()} * 4) % ring.ring_bytes;
    used = (write_byte % ring.ring_bytes + ring.ring_bytes - read_byte) % ring.ring_bytes;
  }
  // One dword stays free, so that a full ring is not mistaken for an empty one.
  if (used + packets.size() + 4 > ring.ring_bytes) return Code::kNoSpace;
  uint64_t done = 0;
  while (done < packets.size()) {
    const uint64_t at = (write_byte + done) % ring.ring_bytes;
    const uint64_t chunk = std::min<uint64_t>(packets.size() - done, ring.ring_bytes - at);
    VKFD_RETURN_IF_ERROR(vm.Write(ring.ring_va + at, packets.data() + done, chunk, fault));
    done += chunk;
  }
  VKFD_RETURN_IF_ERROR(vm.Store64(ring.wptr_va, position + packets.size() / unit, fault));
  return position;
}

}  // namespace

Result<uint64_t> ProduceOnRing(const VmAccess& vm, const RingLayout& ring,
                               std::span<const uint8_t> packets, VmFault* fault) {
  const uint64_t granule = ring.kind == QueueKind::kAql ? kAqlPacketBytes : 4;
  if (packets.empty() || packets.size() % granule != 0 || packets.size() > ring.ring_bytes ||
      ring.ring_bytes < granule) {
    return Code::kInvalidArgs;
  }
  if (ring.kind == QueueKind::kAql) return ProduceAql(vm, ring, packets, fault);
  return ProduceDwords(vm, ring, packets, fault);
}

}  // namespace vkfd::hw

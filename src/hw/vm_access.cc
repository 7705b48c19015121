#include "hw/vm_access.h"

#include <algorithm>
#include <atomic>
#include <cstring>

#include "base/user_memory.h"
#include "hw/page_walker.h"
#include "hw/pte.h"

namespace vkfd::hw {
namespace {

Status Move(uint8_t* dst, const uint8_t* src, uint64_t n, bool guarded) {
  if (!guarded) {
    memcpy(dst, src, n);
    return Status::Ok();
  }
  return CopyGuarded(dst, src, n);
}

}  // namespace

Status VmAccess::MapSpan(uint64_t va, uint64_t len, bool write, Span* span,
                         VmFault* fault) const {
  const uint64_t page_tables = node_.gpu(gpu_index_).page_tables->generation();
  const uint64_t bus = node_.bus().generation();
  const CachedLeaf* leaf = nullptr;
  for (const CachedLeaf& c : cache_) {
    if (c.size != 0 && va - c.base < c.size && c.page_tables == page_tables && c.bus == bus) {
      leaf = &c;
      break;
    }
  }
  if (leaf == nullptr) {
    const PageWalker walker(node_, gpu_index_);
    auto t = walker.Translate(root_phys_, va);
    if (!t.ok() || t->host == nullptr) {
      if (fault != nullptr) *fault = VmFault{va, write, false};
      return Status(Code::kFault);
    }
    CachedLeaf& c = cache_[next_victim_];
    next_victim_ = (next_victim_ + 1) % kCachedLeaves;
    const uint64_t in_leaf = va & (t->page_size - 1);
    c = CachedLeaf{va - in_leaf, t->page_size, t->host - in_leaf, t->entry, t->client, page_tables,
                   bus};
    leaf = &c;
  }
  if ((!(leaf->entry & kPteReadable) && !write) || (write && !(leaf->entry & kPteWriteable))) {
    if (fault != nullptr) *fault = VmFault{va, write, true};
    return Status(Code::kFault);
  }
  const uint64_t offset = va - leaf->base;
  span->host = leaf->host + offset;
  span->len = std::min(len, leaf->size - offset);
  span->client = leaf->client;
  return Status::Ok();
}

Status VmAccess::Read(uint64_t va, void* dst, size_t n, VmFault* fault) const {
  auto* out = static_cast<uint8_t*>(dst);
  while (n > 0) {
    Span s;
    VKFD_RETURN_IF_ERROR(MapSpan(va, n, /*write=*/false, &s, fault));
    if (!Move(out, s.host, s.len, s.client).ok()) {
      if (fault != nullptr) *fault = VmFault{va, false, false};
      return Status(Code::kFault);
    }
    out += s.len;
    va += s.len;
    n -= s.len;
  }
  return Status::Ok();
}

Status VmAccess::Write(uint64_t va, const void* src, size_t n, VmFault* fault) const {
  const auto* in = static_cast<const uint8_t*>(src);
  while (n > 0) {
    Span s;
    VKFD_RETURN_IF_ERROR(MapSpan(va, n, /*write=*/true, &s, fault));
    if (!Move(s.host, in, s.len, s.client).ok()) {
      if (fault != nullptr) *fault = VmFault{va, true, false};
      return Status(Code::kFault);
    }
    in += s.len;
    va += s.len;
    n -= s.len;
  }
  return Status::Ok();
}

Status VmAccess::Copy(uint64_t dst, uint64_t src, uint64_t n, VmFault* fault) const {
  while (n > 0) {
    Span from, to;
    VKFD_RETURN_IF_ERROR(MapSpan(src, n, /*write=*/false, &from, fault));
    VKFD_RETURN_IF_ERROR(MapSpan(dst, from.len, /*write=*/true, &to, fault));
    const uint64_t chunk = std::min(from.len, to.len);
    if (!Move(to.host, from.host, chunk, from.client || to.client).ok()) {
      if (fault != nullptr) *fault = VmFault{src, false, false};
      return Status(Code::kFault);
    }
    src += chunk;
    dst += chunk;
    n -= chunk;
  }
  return Status::Ok();
}

Status VmAccess::Fill(uint64_t dst, const void* pattern, size_t pattern_size, uint64_t n,
                      VmFault* fault) const {
  if (pattern_size == 0 || pattern_size > 16) return Status(Code::kInvalidArgs);
  // A 4 KiB block of the repeated pattern, copied span by span; the phase carries across spans.
  uint8_t block[4096 + 16];
  for (size_t i = 0; i < sizeof(block); ++i) {
    block[i] = static_cast<const uint8_t*>(pattern)[i % pattern_size];
  }
  uint64_t done = 0;
  while (done < n) {
    Span s;
    VKFD_RETURN_IF_ERROR(MapSpan(dst + done, n - done, /*write=*/true, &s, fault));
    uint64_t off = 0;
    while (off < s.len) {
      const size_t phase = (done + off) % pattern_size;
      const uint64_t chunk = std::min<uint64_t>(s.len - off, 4096);
      if (!Move(s.host + off, block + phase, chunk, s.client).ok()) {
        if (fault != nullptr) *fault = VmFault{dst + done + off, true, false};
        return Status(Code::kFault);
      }
      off += chunk;
    }
    done += s.len;
  }
  return Status::Ok();
}

Result<int64_t> VmAccess::AtomicAdd64(uint64_t va, int64_t delta, VmFault* fault) const {
  Span s;
  if (va % 8 != 0) {
    if (fault != nullptr) *fault = VmFault{va, true, true};
    return Code::kFault;
  }
  VKFD_RETURN_IF_ERROR(MapSpan(va, 8, /*write=*/true, &s, fault));
  if (s.client) {
    // The client's memory could vanish: read it guarded first (a fault here is reported), then do
    // the atomic; a page unmapped between the two is a race of the client's own making.
    int64_t probe;
    if (!CopyGuarded(&probe, s.host, 8).ok()) {
      if (fault != nullptr) *fault = VmFault{va, true, false};
      return Code::kFault;
    }
  }
  return __atomic_add_fetch(reinterpret_cast<int64_t*>(s.host), delta, __ATOMIC_SEQ_CST);
}

Result<int64_t> VmAccess::Load64(uint64_t va, VmFault* fault) const {
  if (va % 8 != 0) {
    int64_t v;
    VKFD_RETURN_IF_ERROR(Read(va, &v, 8, fault));
    return v;
  }
  Span s;
  VKFD_RETURN_IF_ERROR(MapSpan(va, 8, /*write=*/false, &s, fault));
  if (s.client) {
    int64_t v;
    if (!CopyGuarded(&v, s.host, 8).ok()) {
      if (fault != nullptr) *fault = VmFault{va, false, false};
      return Code::kFault;
    }
    return v;
  }
  return __atomic_load_n(reinterpret_cast<const int64_t*>(s.host), __ATOMIC_ACQUIRE);
}

Status VmAccess::Store64(uint64_t va, uint64_t value, VmFault* fault) const {
  if (va % 8 != 0) return Write(va, &value, 8, fault);
  Span s;
  VKFD_RETURN_IF_ERROR(MapSpan(va, 8, /*write=*/true, &s, fault));
  if (s.client) return Write(va, &value, 8, fault);
  __atomic_store_n(reinterpret_cast<uint64_t*>(s.host), value, __ATOMIC_RELEASE);
  return Status::Ok();
}

Result<uint32_t> VmAccess::Load32(uint64_t va, VmFault* fault) const {
  uint32_t v;
  if (va % 4 != 0) {
    VKFD_RETURN_IF_ERROR(Read(va, &v, 4, fault));
    return v;
  }
  Span s;
  VKFD_RETURN_IF_ERROR(MapSpan(va, 4, /*write=*/false, &s, fault));
  if (s.client) {
    if (!CopyGuarded(&v, s.host, 4).ok()) {
      if (fault != nullptr) *fault = VmFault{va, false, false};
      return Code::kFault;
    }
    return v;
  }
  return __atomic_load_n(reinterpret_cast<const uint32_t*>(s.host), __ATOMIC_ACQUIRE);
}

Status VmAccess::Store32(uint64_t va, uint32_t value, VmFault* fault) const {
  if (va % 4 != 0) return Write(va, &value, 4, fault);
  Span s;
  VKFD_RETURN_IF_ERROR(MapSpan(va, 4, /*write=*/true, &s, fault));
  if (s.client) {
    // Guarded (the page may vanish); the fence orders it after everything written before.
    std::atomic_thread_fence(std::memory_order_release);
    return Write(va, &value, 4, fault);
  }
  __atomic_store_n(reinterpret_cast<uint32_t*>(s.host), value, __ATOMIC_RELEASE);
  return Status::Ok();
}

Result<uint64_t> VmAccess::CompareExchange64(uint64_t va, uint64_t expected, uint64_t desired,
                                             VmFault* fault) const {
  if (va % 8 != 0) {
    if (fault != nullptr) *fault = VmFault{va, true, true};
    return Code::kFault;
  }
  Span s;
  VKFD_RETURN_IF_ERROR(MapSpan(va, 8, /*write=*/true, &s, fault));
  if (s.client) {
    uint64_t probe;  // as AtomicAdd64: a vanished page is a fault, found before the atomic
    if (!CopyGuarded(&probe, s.host, 8).ok()) {
      if (fault != nullptr) *fault = VmFault{va, true, false};
      return Code::kFault;
    }
  }
  __atomic_compare_exchange_n(reinterpret_cast<uint64_t*>(s.host), &expected, desired,
                              /*weak=*/false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
  return expected;
}

}  // namespace vkfd::hw

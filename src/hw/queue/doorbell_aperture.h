// DoorbellAperture: one GPU's doorbell BAR as user space sees it — process slices of 8 KiB, each 1024
// 64-bit doorbells (kfd_doorbell.c on SOC15: KFD_MAX_NUM_OF_QUEUES_PER_PROCESS doorbells of 8 bytes,
// rounded to a page). A process's slice is what an mmap of /dev/kfd at the DOORBELL offset maps; a
// queue's doorbell is slot `doorbell_id` of its process's slice, and the engines read it from here.
//
// Backed by one memfd (sparse; freed slices are punched out and read as zeros again), mapped once into
// vkfd. Slice 0 is the kernel's own (KFD hands out ids from 1, kfd_alloc_process_doorbells).
// Thread-safe; mu_ is a leaf.
#pragma once

#include <atomic>
#include <bitset>
#include <cstdint>
#include <memory>
#include <string>

#include "base/status.h"
#include "base/thread_annotations.h"

namespace vkfd::hw {

class DoorbellAperture {
 public:
  static constexpr uint64_t kSliceBytes = 8192;
  static constexpr uint32_t kDoorbellsPerSlice = 1024;
  static constexpr uint32_t kSlices = 512;

  static Result<std::unique_ptr<DoorbellAperture>> Create(const std::string& name);
  ~DoorbellAperture();
  DoorbellAperture(const DoorbellAperture&) = delete;
  DoorbellAperture& operator=(const DoorbellAperture&) = delete;

  static constexpr uint64_t kBytes = uint64_t{kSlices} * kSliceBytes;

  int fd() const { return fd_; }
  // vkfd's own mapping of the whole aperture (the engines read doorbells there).
  const void* host() const { return host_; }
  // A free slice (1..kSlices-1), zeroed. kNoMemory when all are taken (-ENOMEM of the ida).
  Result<uint32_t> AllocSlice() EXCLUDES(mu_);
  void FreeSlice(uint32_t slice) EXCLUDES(mu_);
  uint64_t SliceOffset(uint32_t slice) const { return uint64_t{slice} * kSliceBytes; }
  uint8_t* SliceHost(uint32_t slice) const { return host_ + SliceOffset(slice); }
  const std::atomic<uint64_t>* Doorbell(uint32_t slice, uint32_t doorbell_id) const {
    return reinterpret_cast<const std::atomic<uint64_t>*>(SliceHost(slice) + 8 * doorbell_id);
  }

 private:
  DoorbellAperture(int fd, uint8_t* host) : fd_(fd), host_(host) {}

  const int fd_;
  uint8_t* const host_;
  Mutex mu_;
  std::bitset<kSlices> used_ GUARDED_BY(mu_);
};

}  // namespace vkfd::hw

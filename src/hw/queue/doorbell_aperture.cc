#include "hw/queue/doorbell_aperture.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "base/private_fds.h"

namespace vkfd::hw {

Result<std::unique_ptr<DoorbellAperture>> DoorbellAperture::Create(const std::string& name) {
  const int fd = memfd_create(name.c_str(), MFD_CLOEXEC);
  if (fd < 0) return Code::kNoMemory;
  const uint64_t bytes = uint64_t{kSlices} * kSliceBytes;
  if (ftruncate(fd, static_cast<off_t>(bytes)) != 0) {
    close(fd);
    return Code::kNoMemory;
  }
  void* host = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (host == MAP_FAILED) {
    close(fd);
    return Code::kNoMemory;
  }
  // A forked child must not share the doorbells of the parent's queues (VM_DONTCOPY in the kernel).
  madvise(host, bytes, MADV_DONTFORK);
  MarkPrivateFd(fd);
  return std::unique_ptr<DoorbellAperture>(new DoorbellAperture(fd, static_cast<uint8_t*>(host)));
}

DoorbellAperture::~DoorbellAperture() {
  munmap(host_, uint64_t{kSlices} * kSliceBytes);
  UnmarkPrivateFd(fd_);
  close(fd_);
}

Result<uint32_t> DoorbellAperture::AllocSlice() {
  MutexLock lock(&mu_);
  for (uint32_t i = 1; i < kSlices; ++i) {
    if (!used_.test(i)) {
      used_.set(i);
      return i;
    }
  }
  return Code::kNoMemory;
}

void DoorbellAperture::FreeSlice(uint32_t slice) {
  MutexLock lock(&mu_);
  if (slice == 0 || slice >= kSlices || !used_.test(slice)) return;
  used_.reset(slice);
  // The next process finds its doorbells at zero, as a fresh slice.
  fallocate(fd_, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, static_cast<off_t>(SliceOffset(slice)),
            static_cast<off_t>(kSliceBytes));
}

}  // namespace vkfd::hw

// Unsafe code: creates and maps the memfd that backs an emulated GPU.
#include "hw/gpu_memory.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cassert>

#include "base/private_fds.h"

namespace vkfd::hw {

Result<std::unique_ptr<GpuMemory>> GpuMemory::Create(const std::string& name, uint64_t vram_bytes,
                                                    uint64_t gtt_bytes) {
  int fd = memfd_create(name.c_str(), MFD_CLOEXEC);
  if (fd < 0) return Code::kNoMemory;
  if (ftruncate(fd, static_cast<off_t>(kGttBase + gtt_bytes)) != 0) {
    close(fd);
    return Code::kNoMemory;
  }
  // MAP_NORESERVE: the mapping is a window on a sparse file; pages exist only once touched.
  void* vram = mmap(nullptr, vram_bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_NORESERVE, fd, 0);
  if (vram == MAP_FAILED) {
    close(fd);
    return Code::kNoMemory;
  }
  void* gtt = gtt_bytes == 0 ? nullptr
                             : mmap(nullptr, gtt_bytes, PROT_READ | PROT_WRITE,
                                    MAP_SHARED | MAP_NORESERVE, fd, static_cast<off_t>(kGttBase));
  if (gtt == MAP_FAILED) {
    munmap(vram, vram_bytes);
    close(fd);
    return Code::kNoMemory;
  }
  MarkPrivateFd(fd);  // survives the program's closefrom(3) (base/private_fds.h)
  std::unique_ptr<GpuMemory> memory(new GpuMemory(fd, vram_bytes, gtt_bytes,
                                                  static_cast<uint8_t*>(vram),
                                                  static_cast<uint8_t*>(gtt)));
  const std::string self = "/proc/self/fd/" + std::to_string(fd);
  memory->read_only_fd_ = open(self.c_str(), O_RDONLY | O_CLOEXEC);
  if (memory->read_only_fd_ >= 0) MarkPrivateFd(memory->read_only_fd_);
  return memory;
}

GpuMemory::GpuMemory(int fd, uint64_t vram_bytes, uint64_t gtt_bytes, uint8_t* vram_host,
                     uint8_t* gtt_host)
    : fd_(fd),
      vram_bytes_(vram_bytes),
      gtt_bytes_(gtt_bytes),
      vram_host_(vram_host),
      gtt_host_(gtt_host),
      vram_(0, vram_bytes),
      gtt_(kGttBase, gtt_bytes) {}

GpuMemory::~GpuMemory() {
  munmap(vram_host_, vram_bytes_);
  if (gtt_host_ != nullptr) munmap(gtt_host_, gtt_bytes_);
  UnmarkPrivateFd(fd_);
  close(fd_);
  if (read_only_fd_ >= 0) {
    UnmarkPrivateFd(read_only_fd_);
    close(read_only_fd_);
  }
}

Result<uint64_t> GpuMemory::AllocVram(uint64_t size, uint64_t align) {
  MutexLock lock(&mu_);
  auto offset = vram_.Allocate(size, align);
  if (!offset) return Code::kNoMemory;
  return *offset;
}

Result<uint64_t> GpuMemory::AllocGtt(uint64_t size, uint64_t align) {
  MutexLock lock(&mu_);
  auto offset = gtt_.Allocate(size, align);
  if (!offset) return Code::kNoMemory;
  return *offset;
}

void GpuMemory::Free(uint64_t offset, uint64_t size) {
  // Release the pages first: once the range is back in the allocator another thread may reuse it.
  fallocate(fd_, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, static_cast<off_t>(offset),
            static_cast<off_t>(size));
  MutexLock lock(&mu_);
  if (IsVram(offset)) {
    vram_.Free(offset, size);
  } else {
    gtt_.Free(offset, size);
  }
}

uint64_t GpuMemory::vram_used() const {
  MutexLock lock(&mu_);
  return vram_.used();
}

uint64_t GpuMemory::gtt_used() const {
  MutexLock lock(&mu_);
  return gtt_.used();
}

uint8_t* GpuMemory::HostPtr(uint64_t offset) const {
  if (offset < vram_bytes_) return vram_host_ + offset;
  assert(offset >= kGttBase && offset - kGttBase < gtt_bytes_);
  return gtt_host_ + (offset - kGttBase);
}

}  // namespace vkfd::hw

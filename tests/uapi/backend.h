// The device the conformance tests talk to. The tests use only raw ioctls and the ABI header, so the
// same test body runs in-process against uapi::KfdDevice and, as a real program, against /dev/kfd
// through the interposer (or a real driver).
#pragma once

#include <fcntl.h>

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace vkfd::conformance {

class Backend {
 public:
  virtual ~Backend() = default;
  // `access` is open(2)'s O_RDONLY, O_WRONLY or O_RDWR.
  virtual int OpenKfd(int access = O_RDWR) = 0;
  virtual int OpenRender(int minor, int access = O_RDWR) = 0;
  virtual int Ioctl(int fd, unsigned long cmd, void* arg) = 0;
  virtual void Close(int fd) = 0;
  virtual std::vector<uint32_t> GpuIds() = 0;
  virtual std::vector<int> RenderMinors() = 0;
  // The inspection view of the calling process on one GPU ("0x1000-0x2000 RWXS\n" lines).
  virtual std::string DumpVm(uint32_t gpu_id) = 0;
  // Whether DumpVm shows the page tables (vkfd's inspection file; a real driver has none).
  virtual bool HasVmView() { return true; }
  // Invariant 1 (page tables == BOs marked mapped); empty when it holds or cannot be checked.
  virtual std::string CheckInvariant() { return {}; }
  // Makes every page-table job on every GPU take at least `ns` (0: off). False if unsupported — a
  // backend whose latency is fixed by its topology accepts exactly that value.
  virtual bool SetDmaLatency(uint64_t ns) { return false; }
  // Ends the calling process's KFD process, as the exit of its address space would (teardown: every
  // BO unmapped and freed, VMs released). False if the backend cannot (a real /dev/kfd).
  virtual bool EndProcess() { return false; }
  // dup(2) of a device fd, as the program would do it.
  virtual int Dup(int fd) = 0;
  // mmap(2)/munmap(2) as the program would call them (a BO through its render node at its
  // mmap_offset, the doorbell page through /dev/kfd): MAP_FAILED with errno on failure.
  virtual void* Mmap(void* addr, size_t length, int prot, int flags, int fd, off_t offset) = 0;
  virtual int Munmap(void* addr, size_t length) = 0;
  // mremap(2) as the program would call it (new_addr only with MREMAP_FIXED).
  virtual void* Mremap(void* old_addr, size_t old_length, size_t new_length, int flags,
                       void* new_addr) = 0;
  // System memory and GPU `gpu`'s VRAM in bytes as the topology reports them (the CPU node's and
  // the GPU node's memory banks), or 0 if unknown.
  virtual uint64_t SystemMemoryBytes() { return 0; }
  virtual uint64_t VramBytes(size_t gpu) { return 0; }
  // Arms vkfd's fault injector with `spec` (base/fault_injector.h); false if the backend cannot.
  virtual bool InjectFaults(const std::string& spec) { return false; }
  virtual void ClearFaults() {}
  // Page-table pages held in GPU `gpu`'s memory, or -1 if the backend cannot tell.
  virtual int64_t PageTablePages(size_t gpu) { return -1; }
  // Whether GPU i may map GPU j's VRAM.
  virtual bool PeerAccessible(size_t i, size_t j) = 0;
};

// Provided by the translation unit that picks the backend (in-process or through /dev/kfd). Null
// when the test cannot run on what serves the device; then *why_not (if given) may say why ("needs
// 4 GPUs with large BAR, found 1"), else the test reports "needs topology <name>".
Backend* CreateBackend(const std::string& topology, std::string* why_not = nullptr);

}  // namespace vkfd::conformance

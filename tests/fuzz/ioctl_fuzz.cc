// libFuzzer target for the ioctl boundary (invariant 5: bad input never crashes the caller or
// corrupts state). Each input is a sequence of ioctls on a fresh KFD process of an emulated mi210x4
// node: command numbers from KFD's table and vkfd's extensions (sometimes with other size, direction
// or type bits), argument structs filled from the input, and every pointer field aimed either into a
// scratch area the fuzzer controls or at an unmapped page (so the fault-safe copies are exercised,
// and no random pointer can hit the fuzzer's own memory). Between the ioctls the sequence also does what
// programs do to their fds (issue 9): close one (and the number is reused by the next fd), dup one,
// mmap the kfd fd (event page, doorbells, MMIO, with fuzzed offsets and lengths) and fork — the child
// checks that the inherited kfd fd is EBADF and the inherited fence fds still answer, and must exit in
// time. After every step vkfd's invariant 1 check must hold; at the end the process is torn down and
// the node's accounting must be back at baseline.
//
//   ASAN_OPTIONS=allow_user_segv_handler=1:verify_asan_link_order=0 \
//     build-asan/tests/ioctl_fuzz CORPUS_DIR -max_total_time=600   (ctest runs it for 20 s)
// VKFD_FUZZ_TRACE=1 prints every ioctl and its result (to see what an input reaches).
#include <fcntl.h>
#include <linux/kfd_ioctl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "kfd/fence_file.h"
#include "kfd/process.h"
#include "uapi/foreign_files.h"
#include "uapi/kfd_device.h"
#include "uapi/kfd_mmap.h"
#include "vkfd/vkfd_ioctl.h"

namespace {

constexpr size_t kScratchBytes = 1 << 20;  // what pointer fields may point into
constexpr size_t kArgBytes = 4096;

struct Target {
  unsigned long cmd;
  std::vector<size_t> pointer_fields;  // offsets of __u64 user pointers in the struct
};

// Every command with the offsets of its pointer fields.
const std::vector<Target>& Targets() {
  static const std::vector<Target> targets = {
      {AMDKFD_IOC_GET_VERSION, {}},
      {AMDKFD_IOC_CREATE_QUEUE,
       {offsetof(kfd_ioctl_create_queue_args, ring_base_address),
        offsetof(kfd_ioctl_create_queue_args, write_pointer_address),
        offsetof(kfd_ioctl_create_queue_args, read_pointer_address),
        offsetof(kfd_ioctl_create_queue_args, eop_buffer_address),
        offsetof(kfd_ioctl_create_queue_args, ctx_save_restore_address)}},
      {AMDKFD_IOC_DESTROY_QUEUE, {}},
      {AMDKFD_IOC_SET_MEMORY_POLICY, {}},
      {AMDKFD_IOC_GET_CLOCK_COUNTERS, {}},
      {AMDKFD_IOC_GET_PROCESS_APERTURES, {}},
      {AMDKFD_IOC_UPDATE_QUEUE, {offsetof(kfd_ioctl_update_queue_args, ring_base_address)}},
      {AMDKFD_IOC_CREATE_EVENT, {}},
      {AMDKFD_IOC_DESTROY_EVENT, {}},
      {AMDKFD_IOC_SET_EVENT, {}},
      {AMDKFD_IOC_RESET_EVENT, {}},
      {AMDKFD_IOC_WAIT_EVENTS, {offsetof(kfd_ioctl_wait_events_args, events_ptr)}},
      {AMDKFD_IOC_SET_SCRATCH_BACKING_VA, {}},
      {AMDKFD_IOC_GET_TILE_CONFIG,
       {offsetof(kfd_ioctl_get_tile_config_args, tile_config_ptr),
        offsetof(kfd_ioctl_get_tile_config_args, macro_tile_config_ptr)}},
      {AMDKFD_IOC_SET_TRAP_HANDLER, {}},
      {AMDKFD_IOC_GET_PROCESS_APERTURES_NEW,
       {offsetof(kfd_ioctl_get_process_apertures_new_args, kfd_process_device_apertures_ptr)}},
      {AMDKFD_IOC_ALLOC_MEMORY_OF_GPU, {}},  // mmap_offset (USERPTR) is only looked at, see below
      {AMDKFD_IOC_FREE_MEMORY_OF_GPU, {}},
      {AMDKFD_IOC_MAP_MEMORY_TO_GPU,
       {offsetof(kfd_ioctl_map_memory_to_gpu_args, device_ids_array_ptr)}},
      {AMDKFD_IOC_UNMAP_MEMORY_FROM_GPU,
       {offsetof(kfd_ioctl_unmap_memory_from_gpu_args, device_ids_array_ptr)}},
      {AMDKFD_IOC_SET_CU_MASK, {offsetof(kfd_ioctl_set_cu_mask_args, cu_mask_ptr)}},
      {AMDKFD_IOC_SET_XNACK_MODE, {}},
      {AMDKFD_IOC_AVAILABLE_MEMORY, {}},
      {AMDKFD_IOC_CRIU_OP, {}},
      {VKFD_IOC_EXT_VERSION, {}},
      {VKFD_IOC_MAP_ASYNC, {offsetof(vkfd_map_async_args, device_ids_array_ptr)}},
      {VKFD_IOC_UNMAP_ASYNC, {offsetof(vkfd_map_async_args, device_ids_array_ptr)}},
      {VKFD_IOC_FENCE_WAIT, {offsetof(vkfd_fence_wait_args, fds_ptr)}},
      {VKFD_IOC_MAP_ATOMIC, {offsetof(vkfd_map_atomic_args, device_ids_array_ptr)}},
      {VKFD_IOC_MAP_STATUS,
       {offsetof(vkfd_map_status_args, device_ids_array_ptr),
        offsetof(vkfd_map_status_args, status_array_ptr)}},
  };
  return targets;
}

class Input {
 public:
  Input(const uint8_t* data, size_t size) : data_(data), size_(size) {}
  bool empty() const { return pos_ >= size_; }
  uint8_t Byte() { return pos_ < size_ ? data_[pos_++] : 0; }
  uint32_t U32() {
    uint32_t v = 0;
    for (int i = 0; i < 4; ++i) v |= uint32_t{Byte()} << (8 * i);
    return v;
  }
  void Fill(uint8_t* out, size_t n) {
    for (size_t i = 0; i < n; ++i) out[i] = Byte();
  }

 private:
  const uint8_t* data_;
  size_t size_;
  size_t pos_ = 0;
};

struct World {
  std::unique_ptr<vkfd::uapi::KfdDevice> device;
  uint8_t* scratch = nullptr;  // kScratchBytes, then an unmapped page
  uint8_t* hole = nullptr;
  std::vector<uint32_t> gpu_ids;
  uint64_t baseline_bytes = 0;
};

uint64_t HostBytes(World& w) {
  uint64_t bytes = 0;
  for (size_t i = 0; i < w.device->driver().gpu_count(); ++i) {
    struct stat st {};
    fstat(w.device->driver().node().gpu(i).memory->fd(), &st);
    bytes += uint64_t(st.st_blocks) * 512;
  }
  return bytes;
}

World& GetWorld() {
  static World* world = [] {
    auto* w = new World();
    auto topology = vkfd::hw::LoadTopology("mi210x4");
    if (!topology.ok()) abort();
    auto device = vkfd::uapi::KfdDevice::Create(std::move(*topology));
    if (!device.ok()) abort();
    w->device = std::move(device).value();
    void* region = mmap(nullptr, kScratchBytes + 4096, PROT_READ | PROT_WRITE,
                        MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (region == MAP_FAILED) abort();
    w->scratch = static_cast<uint8_t*>(region);
    w->hole = w->scratch + kScratchBytes;
    munmap(w->hole, 4096);
    for (const auto& g : w->device->driver().topology().gpus) w->gpu_ids.push_back(g.gpu_id);
    w->baseline_bytes = HostBytes(*w);
    return w;
  }();
  return *world;
}

// A pointer value for a pointer field: into the scratch area (with a fuzzed offset) or at the hole.
uint64_t PointerFor(World& w, Input& in) {
  const uint8_t kind = in.Byte();
  if (kind < 16) return reinterpret_cast<uint64_t>(w.hole) + (in.Byte() & 0xff);
  if (kind < 24) return 0;
  // Mostly the first page (the prepared words), sometimes anywhere in the area.
  const uint32_t offset = kind < 200 ? in.Byte() * 4u : in.U32() % (kScratchBytes - kArgBytes);
  return reinterpret_cast<uint64_t>(w.scratch) + (offset & ~3u);
}

// A forked child's view of the fds it inherited: the kfd fd is another process's (EBADF), fence fds
// answer FENCE_INFO from their own state. Exit code 0 when all holds; the parent gives it 5 s.
void CheckForkedChild(vkfd::uapi::KfdDevice& dev, const std::vector<int>& fds) {
  const pid_t pid = fork();
  if (pid < 0) return;
  if (pid == 0) {
    alarm(5);
    kfd_ioctl_get_version_args v{};
    if (dev.Ioctl(fds[0], AMDKFD_IOC_GET_VERSION, &v) != -1 || errno != EBADF) _exit(1);
    for (int fd : fds) {
      if (!vkfd::kfd::IsFenceFd(fd)) continue;
      vkfd_fence_info_args info{};
      bool handled = false;
      if (vkfd::uapi::ForeignFileIoctl(fd, VKFD_IOC_FENCE_INFO, &info, &handled) != 0 || !handled) {
        _exit(2);
      }
    }
    _exit(0);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    fprintf(stderr, "forked child failed: status 0x%x\n", status);
    abort();
  }
}

// mmap of the kfd fd with a fuzzed type, GPU and length; unmapped again at once.
void FuzzMmap(World& w, Input& in, int kfd) {
  static const uint64_t kTypes[] = {0, 1ull << 62, 2ull << 62, 3ull << 62};
  uint64_t offset = kTypes[in.Byte() & 3] | (uint64_t{w.gpu_ids[in.Byte() % w.gpu_ids.size()]} << 46);
  const uint8_t twist = in.Byte();
  if (twist < 16) offset += twist * 8;  // not page aligned
  static const size_t kLengths[] = {0, 1, 4096, 8192, 32768, 65536};
  const size_t length = kLengths[in.Byte() % 6];
  void* p = vkfd::uapi::KfdMmap(*w.device, nullptr, length, PROT_READ | PROT_WRITE, MAP_SHARED, kfd,
                                static_cast<off_t>(offset));
  if (p != MAP_FAILED) munmap(p, length);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  World& w = GetWorld();
  Input in(data, size);
  vkfd::uapi::KfdDevice& dev = *w.device;
  const int kfd = dev.OpenKfd(O_RDWR | O_CLOEXEC);
  std::vector<int> fds = {kfd};
  // The scratch area's first page, where most pointers land: every other word a real gpu_id (device
  // lists), the rest small numbers (event ids, fds, handles' idr) from a generator the input seeds.
  uint32_t lcg = in.U32();
  for (size_t i = 0; i < 4096; i += 4) {
    lcg = lcg * 1664525u + 1013904223u;
    const uint32_t v = (i / 4) % 2 ? w.gpu_ids[(i / 8) % w.gpu_ids.size()] : (lcg >> 24);
    memcpy(w.scratch + i, &v, 4);
  }
  // Acquire some of the VMs (a fuzzed mask), as a client would.
  const uint8_t acquire = in.Byte();
  for (size_t g = 0; g < w.gpu_ids.size(); ++g) {
    if (!(acquire & (1u << g))) continue;
    const int render = dev.OpenRender(static_cast<int>(128 + g), O_RDWR | O_CLOEXEC);
    fds.push_back(render);
    kfd_ioctl_acquire_vm_args a{};
    a.drm_fd = static_cast<uint32_t>(render);
    a.gpu_id = w.gpu_ids[g];
    dev.Ioctl(kfd, AMDKFD_IOC_ACQUIRE_VM, &a);
  }
  alignas(16) uint8_t args[kArgBytes];
  bool forked = false;
  for (int op = 0; op < 64 && !in.empty(); ++op) {
    // Now and then an fd operation instead of an ioctl.
    const uint8_t selector = in.Byte();
    if (selector >= 240) {
      const size_t pick = fds.empty() ? 0 : in.Byte() % fds.size();
      switch (selector % 4) {
        case 0:  // close (never the kfd fd in slot 0: the sequence goes on with it)
          if (pick > 0) {
            dev.ForgetFd(fds[pick]);
            close(fds[pick]);
            fds.erase(fds.begin() + static_cast<long>(pick));
          }
          break;
        case 1: {  // dup
          const int d = dup(fds[pick]);
          if (d >= 0) {
            dev.DupFd(fds[pick], d);
            fds.push_back(d);
          }
          break;
        }
        case 2:
          FuzzMmap(w, in, kfd);
          break;
        default:
          if (!forked) CheckForkedChild(dev, fds);
          forked = true;
      }
      continue;
    }
    const Target& t = Targets()[selector % Targets().size()];
    unsigned long cmd = t.cmd;
    const uint8_t variant = in.Byte();
    if (variant < 8) cmd = _IOC(_IOC_DIR(cmd), _IOC_TYPE(cmd), _IOC_NR(cmd), in.Byte() & 0xff);
    else if (variant < 12) cmd = _IOC(in.Byte() & 3, _IOC_TYPE(cmd), _IOC_NR(cmd), _IOC_SIZE(cmd));
    else if (variant < 14) cmd = _IOC(_IOC_DIR(cmd), in.Byte(), in.Byte(), _IOC_SIZE(cmd));
    memset(args, 0, sizeof(args));
    in.Fill(args, _IOC_SIZE(t.cmd));
    for (size_t off : t.pointer_fields) {
      const uint64_t p = PointerFor(w, in);
      memcpy(args + off, &p, sizeof(p));
    }
    // Waits must end: a short timeout, a deadline now or just ahead. And what vkfd writes through a
    // pointer must stay inside the scratch area (a copy can write a block's tail before its head).
    if (t.cmd == AMDKFD_IOC_WAIT_EVENTS) {
      reinterpret_cast<kfd_ioctl_wait_events_args*>(args)->timeout %= 3;
    } else if (t.cmd == VKFD_IOC_FENCE_WAIT) {
      timespec now;
      clock_gettime(CLOCK_MONOTONIC, &now);
      reinterpret_cast<vkfd_fence_wait_args*>(args)->deadline_ns =
          (in.Byte() & 1) ? 0 : int64_t{now.tv_sec} * 1000000000 + now.tv_nsec + 1000000;
    } else if (t.cmd == VKFD_IOC_MAP_STATUS) {
      reinterpret_cast<vkfd_map_status_args*>(args)->n_devices %= kArgBytes / sizeof(int32_t);
    }
    if (t.cmd == AMDKFD_IOC_ALLOC_MEMORY_OF_GPU) {
      // Sizes the host can hold; a USERPTR address inside the scratch area.
      auto* a = reinterpret_cast<kfd_ioctl_alloc_memory_of_gpu_args*>(args);
      a->size &= (64ull << 20) - 1;
      if (a->flags & KFD_IOC_ALLOC_MEM_FLAGS_USERPTR) a->mmap_offset = PointerFor(w, in);
      if (in.Byte() < 200) a->gpu_id = w.gpu_ids[in.Byte() % w.gpu_ids.size()];
    }
    const int fd = (variant == 255 && fds.size() > 1) ? fds.back() : kfd;  // now and then not kfd
    const int r = dev.Ioctl(fd, cmd, args);
    if (getenv("VKFD_FUZZ_TRACE") != nullptr) {
      fprintf(stderr, "ioctl nr 0x%02x type %c size %u -> %d %s\n", unsigned(_IOC_NR(cmd)),
              char(_IOC_TYPE(cmd)), unsigned(_IOC_SIZE(cmd)), r, r == 0 ? "" : strerror(errno));
    }
    if (r == 0 && (cmd == VKFD_IOC_MAP_ASYNC || cmd == VKFD_IOC_UNMAP_ASYNC)) {
      const int fence = reinterpret_cast<vkfd_map_async_args*>(args)->fence_fd;
      if (fence >= 0) fds.push_back(fence);
    }
    const std::string broken = dev.driver().FindProcess(getpid())->DebugCheckPageTables();
    if (!broken.empty()) {
      fprintf(stderr, "invariant 1 broken after ioctl 0x%lx: %s\n", cmd, broken.c_str());
      abort();
    }
  }
  for (int fd : fds) {
    dev.ForgetFd(fd);
    close(fd);
  }
  // Process exit: everything back (invariant 3).
  dev.driver().TeardownProcess(getpid());
  for (size_t g = 0; g < w.gpu_ids.size(); ++g) {
    const uint64_t available = dev.driver().limits().AvailableVram(g);
    static std::vector<uint64_t> first(w.gpu_ids.size(), 0);
    if (first[g] == 0) first[g] = available;
    if (available != first[g]) {
      fprintf(stderr, "GPU %zu: AVAILABLE_MEMORY %lu after teardown, %lu before\n", g,
              static_cast<unsigned long>(available), static_cast<unsigned long>(first[g]));
      abort();
    }
  }
  if (HostBytes(w) != w.baseline_bytes) {
    fprintf(stderr, "host memory %lu after teardown, %lu at start\n",
            static_cast<unsigned long>(HostBytes(w)), static_cast<unsigned long>(w.baseline_bytes));
    abort();
  }
  return 0;
}

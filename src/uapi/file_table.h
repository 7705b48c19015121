// FileTable: which file descriptors of this process are emulated files, and what each refers to — the
// one fd table of vkfd (the interposer routes by it, the dispatcher dispatches by it).
//
// Fd numbers are per process, so the table is too: one for all devices of the process. A slot holds
// a small value (FileRecord) rather than a pointer to a heap record, so that
//  * lookups are lock-free and allocation-free: a sequence-locked copy of four words (the ioctl and
//    mmap fast paths, also from signal handlers);
//  * closing never frees anything a racing lookup could still be reading, and nothing accumulates
//    (open/close and dup/close cycles cost no memory);
//  * a dup'ed fd is a copy of the record: both share `file_id`, as both share one open file
//    description in the kernel.
// Fds at or above kMaxFds are never emulated (opening one fails with EMFILE).
//
// Writers (install, forget, dup) serialise on the slot's sequence word; they are async-signal-safe.
// Fork: a slot that another thread was writing when the process forked is left half written and
// locked in the child; the child's first lookup of the table repairs it (forgets it: the number was
// being opened or closed, so the program cannot have learnt it yet).
// What a record points to — the device and the KFD process — lives as long as the device does.
#pragma once

#include <cstdint>
#include <optional>

namespace vkfd::kfd {
class Process;
}

namespace vkfd::uapi {

class KfdDevice;

struct FileRecord {
  enum class Kind : uint8_t { kNone = 0, kKfd, kRender, kFence };
  Kind kind = Kind::kNone;
  int8_t gpu_index = -1;   // render nodes
  int32_t opener_pid = 0;  // the process that opened it (kfd files: the only one that may use it)
  uint64_t file_id = 0;    // unique per open file description (per device)
  // The kernel object behind the fd (fstat's st_dev, st_ino): a number the program closed behind our
  // back (fclose of an fdopen'ed fd, a raw close) and reused for another file is recognised by it.
  uint64_t dev = 0;
  uint64_t ino = 0;
  KfdDevice* device = nullptr;
  kfd::Process* process = nullptr;  // kfd files
  // The open file's access mode (open's O_ACCMODE): what mmap(2) checks before the driver sees it.
  bool readable = true;
  bool writable = true;
};

class FileTable {
 public:
  static constexpr int kMaxFds = 1 << 16;

  // The record of `fd`, or nullopt if it is not an emulated file.
  static std::optional<FileRecord> Find(int fd);
  // True if `fd` is an emulated file (one relaxed load for the others).
  static bool IsEmulated(int fd);
  // `fd` now refers to `record`. False (nothing changed) if fd is out of range.
  static bool Install(int fd, const FileRecord& record);
  // `fd` is no longer emulated; returns what it was.
  static std::optional<FileRecord> Forget(int fd);
  // newfd refers to oldfd's file (dup family); returns the record, or nullopt (newfd forgotten) when
  // oldfd is not emulated.
  static std::optional<FileRecord> Dup(int oldfd, int newfd);
  // Forgets every fd whose record belongs to `device` (the device is going away).
  static void ForgetDevice(const KfdDevice* device);
  // Fills record->dev and ino from the open fd; false if fstat fails.
  static bool Identify(int fd, FileRecord* record);
  // Find(), and the fd still refers to the recorded kernel object (one fstat). A stale record (the
  // number was closed behind vkfd's back) is returned in *stale and not as the result.
  static std::optional<FileRecord> FindLive(int fd, std::optional<FileRecord>* stale);
};

}  // namespace vkfd::uapi

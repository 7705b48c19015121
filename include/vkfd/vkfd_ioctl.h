/* vkfd extension ioctls: the designs the 2018 review of KFD's MAP_MEMORY_TO_GPU proposed instead,
 * served on /dev/kfd by vkfd beside the real KFD ABI (docs/extensions.md).
 *
 *   MAP_ASYNC / UNMAP_ASYNC  validate and dispatch, return a fence fd at once
 *   FENCE_WAIT               wait for one or many fence fds, all or any, absolute deadline
 *   MAP_ATOMIC               TEST_ONLY (check everything, change nothing) or COMMIT (all or nothing)
 *   MAP_STATUS               map on every listed GPU, per-GPU result instead of a prefix count
 *   FENCE_INFO / FENCE_MERGE on a fence fd, as sync_file's FILE_INFO and MERGE
 *   SUBMIT                   packets for a user queue through /dev/kfd instead of a doorbell write
 *                            (the "dispatch ioctl" of the 2018 review; since version 2)
 *   EXT_VERSION              probe: a real /dev/kfd answers -1/ENOTTY (6.1.y answers every number
 *                            outside its table so; 6.1.0 said EINVAL), vkfd answers 0
 *
 * Type letter 'V' with numbers 0xE0-0xEF: never 'K' (KFD's), and outside the numbers V4L2 and
 * vboxguest use with 'V' (0x00-0x6F), so no ioctl meant for those devices decodes as one of these. The
 * whole command (type, number, size, direction) must match exactly. Anything else on /dev/kfd goes to
 * KFD's dispatch, which looks at the number only and answers ENOTTY for 0xE0-0xEF (so a struct of
 * another size gets ENOTTY); on a fence fd anything but FENCE_INFO and FENCE_MERGE gets ENOTTY.
 * As with KFD's ioctls, the struct is copied back also when the call fails (n_success, failed_index);
 * a bad struct pointer gives EFAULT, and /dev/kfd ioctls from a process other than the opener EBADF.
 *
 * A fence fd is a real file descriptor (an eventfd): poll()/select()/epoll report POLLIN once every
 * fence it holds has signalled (also when one carries an error); POLLOUT is always reported, as for
 * any eventfd, so wait for POLLIN. Do not read() or write() it (it is non-blocking; a read would
 * consume the readiness). Close it with close(); dup() works; it may outlive the /dev/kfd fd. It is
 * created close-on-exec. An ioctl that would return a new fd fails with EMFILE when none is left.
 *
 * C-compatible; all structs have the same layout on 32- and 64-bit user space. */
#ifndef VKFD_VKFD_IOCTL_H_
#define VKFD_VKFD_IOCTL_H_

#include <linux/ioctl.h>
#include <linux/types.h>

#define VKFD_IOCTL_TYPE 'V'
#define VKFD_EXT_VERSION 2 /* 2: SUBMIT */

/* Pass as deadline_ns to wait without a deadline. */
#define VKFD_DEADLINE_NONE ((__s64)0x7fffffffffffffffLL)

struct vkfd_ext_version_args {
  __u32 version; /* out: VKFD_EXT_VERSION */
  __u32 reserved;
};

/* MAP_ASYNC and UNMAP_ASYNC. The first four fields are KFD's map args. GPUs are processed from
 * n_success on, as MAP does, and n_success is advanced after each dispatched GPU; every error found
 * before dispatch (handle, device, binding, peer access, VA conflict, page-table memory, not mapped for
 * UNMAP) fails the call synchronously with n_success telling how far it got — retry with the same
 * struct. The errors are MAP's and UNMAP's (an unknown handle is ENOMEM, as in KFD); flags != 0 or
 * n_success > n_devices is EINVAL. Never EINTR: nothing waits. On success fence_fd is a new fence fd
 * covering the latest page-table update of the BO on every listed GPU (including updates dispatched
 * by earlier, partial calls); on failure it is -1.
 * An error after dispatch (the update job failed) travels in the fence: FENCE_INFO status -EIO. The
 * mapping is then still recorded on that GPU, page tables included (what the DMA engine wrote), and a
 * repeated MAP_ASYNC returns the same failed fence until the BO is unmapped there: recover by UNMAP
 * then MAP. An UNMAP_ASYNC whose job failed leaves the BO unmapped. */
struct vkfd_map_async_args {
  __u64 handle;               /* in */
  __u64 device_ids_array_ptr; /* in: __u32 gpu_id[n_devices] */
  __u32 n_devices;            /* in */
  __u32 n_success;            /* in/out */
  __s32 fence_fd;             /* out */
  __u32 flags;                /* in: must be 0 */
};

/* FENCE_WAIT, on the /dev/kfd fd. Waits until all (VKFD_WAIT_ALL) or any of the fence fds have
 * signalled, or the absolute CLOCK_MONOTONIC deadline passes (-1/ETIME; a deadline in the past polls).
 * A signal whose handler lacks SA_RESTART gives -1/EINTR; with SA_RESTART the wait is restarted
 * transparently. Either way the deadline is absolute, so a restart never extends it. On success
 * first_signaled is the lowest index of a signalled fence fd (for ANY; 0 for ALL) and error the first
 * error (negative errno) carried by a signalled fence among those waited for, 0 if none.
 * EINVAL: count outside 1..4096 or unknown flags; ENOENT: an fd that is not a fence fd (as sync_file's
 * MERGE answers); EFAULT: a bad fds_ptr. */
#define VKFD_WAIT_ALL (1u << 0)
struct vkfd_fence_wait_args {
  __u64 fds_ptr;        /* in: __s32 fd[count] */
  __s64 deadline_ns;    /* in: absolute CLOCK_MONOTONIC, or VKFD_DEADLINE_NONE */
  __u32 count;          /* in: 1 .. 4096 */
  __u32 flags;          /* in: VKFD_WAIT_ALL or 0 (any) */
  __u32 first_signaled; /* out */
  __s32 error;          /* out */
};

/* FENCE_INFO, on a fence fd. */
struct vkfd_fence_info_args {
  __s32 status;       /* out: 1 signalled, 0 pending, < 0 signalled with that error (-errno) */
  __u32 num_fences;   /* out */
  __s64 timestamp_ns; /* out: CLOCK_MONOTONIC time the last fence signalled; 0 while pending */
};

/* FENCE_MERGE, on a fence fd: a new fence fd holding the fences of both, each fence once (signalled
 * when all are). EINVAL: flags or reserved not 0; ENOENT: fd2 is not a fence fd. */
struct vkfd_fence_merge_args {
  __s32 fd2;      /* in */
  __s32 fence;    /* out: the new fd; -1 on failure */
  __u32 flags;    /* in: must be 0 */
  __u32 reserved; /* in: must be 0 */
};

/* MAP_ATOMIC. Exactly one of TEST_ONLY and COMMIT (else EINVAL; reserved must be 0).
 * TEST_ONLY runs every check COMMIT runs — handle, devices, binding, peer access, VA conflicts, and
 * page-table memory (a trial allocation that is given back; COMMIT allocates for real and unwinds if
 * that fails) — and changes nothing: page tables, accounting and AVAILABLE_MEMORY stay identical.
 * 0 means a COMMIT issued now would pass the checks; it can still fail with ENOMEM if memory is taken
 * meanwhile, or EIO/EINTR from the update itself, never EINVAL. A listed GPU where the BO is mapped
 * already passes, unless its last update failed (EIO: see MAP_ASYNC; unmap it there first).
 * COMMIT maps on every listed GPU or on none: on any failure, a failed update job (EIO) or a signal
 * during the wait (EINTR), the GPUs this call mapped are unmapped again and the call waits (not
 * interruptibly) until the page tables no longer show them, so a failed or interrupted COMMIT leaves
 * no visible effect. GPUs where the BO was already mapped are left as they were. A retry of the same
 * struct starts over. failed_index is the index in the device list of the GPU that failed, or
 * n_devices when the failure was not one GPU's (arguments, handle, interrupt). */
#define VKFD_MAP_ATOMIC_TEST_ONLY (1u << 0)
#define VKFD_MAP_ATOMIC_COMMIT (1u << 1)
struct vkfd_map_atomic_args {
  __u64 handle;               /* in */
  __u64 device_ids_array_ptr; /* in */
  __u32 n_devices;            /* in */
  __u32 flags;                /* in */
  __u32 failed_index;         /* out */
  __u32 reserved;
};

/* MAP_STATUS. Maps on every listed GPU, does not stop at the first failure, waits for the updates
 * (interruptibly) and writes one result per GPU to status_array: 0 mapped and complete, or the negative
 * errno MAP would have returned for that GPU (nothing changed there), or -EIO when its update job
 * failed. Returns 0 when the call ran, whatever the per-GPU results (n_failed counts the failures);
 * -1 with errno only for errors of the whole call (handle as MAP: EINVAL/ENODEV/ENOMEM; n_devices 0:
 * EINVAL; EFAULT — status_array is written before any GPU is touched, so a bad pointer changes
 * nothing) and EINTR, after which the status array shows what was dispatched (0: dispatched, its
 * completion not waited for) and a retry with the same struct completes it (MAP is idempotent per
 * GPU). */
struct vkfd_map_status_args {
  __u64 handle;               /* in */
  __u64 device_ids_array_ptr; /* in */
  __u64 status_array_ptr;     /* out: __s32 status[n_devices] */
  __u32 n_devices;            /* in */
  __u32 n_failed;             /* out */
};

/* SUBMIT: the dispatch-ioctl alternative to user-mode queues. What it does, exactly:
 *  1. copies size_bytes of packets from packets_ptr (EFAULT if unreadable);
 *  2. appends them to the ring of queue queue_id (made by AMDKFD_IOC_CREATE_QUEUE) as the queue's
 *     producer would, writing through the GPU's page tables: on an AQL queue it reserves slots by
 *     advancing write_dispatch_id with a compare-and-swap (threads submitting directly to the same
 *     queue stay correct), writes each packet's body and then its first dword with release ordering;
 *     on SDMA and PM4 queues it writes the dwords at the write pointer and then advances it (one
 *     producer at a time, as for the runtimes' own SDMA/PM4 rings). The doorbell is not written;
 *  3. unless VKFD_SUBMIT_DEFER, runs the queue's packet processor on the calling thread until the
 *     ring is drained or the processor has to wait (a barrier or poll whose condition does not hold,
 *     the timing model's completion latency, or 8 MiB of copying done); whatever remains — and all of
 *     it with VKFD_SUBMIT_DEFER, or when another thread is running that queue — is handed to the
 *     node's command-processor thread at once.
 * It returns when the packets are in the ring (and, without DEFER, as far executed as step 3 says);
 * completion is reported only by the packets themselves (completion signals, fences, events). The
 * packets are not validated beyond their size: a malformed packet fails on the queue as it would
 * when written directly. position is the write position before the packets: an AQL queue's packet
 * index (the first packet's), an SDMA queue's byte count, a PM4 queue's dword count.
 * Errors: EINVAL unknown queue, a queue without a ring, flags other than DEFER, size_bytes 0, not a
 * whole number of packets (AQL 64 bytes; SDMA/PM4 4 bytes) or larger than the ring; ENOSPC the ring
 * has no room for all of them now (nothing written; retry once the read pointer moves); ECANCELED the
 * queue faulted or failed (nothing it is given would run); EFAULT packets_ptr unreadable or the ring
 * not mapped on the queue's GPU. An evicted (stopped) queue takes the packets; they run on restore. */
#define VKFD_SUBMIT_DEFER (1u << 0)
struct vkfd_submit_args {
  __u64 packets_ptr; /* in */
  __u64 position;    /* out */
  __u32 queue_id;    /* in */
  __u32 size_bytes;  /* in */
  __u32 flags;       /* in: 0 or VKFD_SUBMIT_DEFER */
  __u32 reserved;    /* in: must be 0 */
};

#define VKFD_IOC_EXT_VERSION _IOR(VKFD_IOCTL_TYPE, 0xE0, struct vkfd_ext_version_args)
#define VKFD_IOC_MAP_ASYNC _IOWR(VKFD_IOCTL_TYPE, 0xE1, struct vkfd_map_async_args)
#define VKFD_IOC_UNMAP_ASYNC _IOWR(VKFD_IOCTL_TYPE, 0xE2, struct vkfd_map_async_args)
#define VKFD_IOC_FENCE_WAIT _IOWR(VKFD_IOCTL_TYPE, 0xE3, struct vkfd_fence_wait_args)
#define VKFD_IOC_FENCE_INFO _IOWR(VKFD_IOCTL_TYPE, 0xE4, struct vkfd_fence_info_args)
#define VKFD_IOC_FENCE_MERGE _IOWR(VKFD_IOCTL_TYPE, 0xE5, struct vkfd_fence_merge_args)
#define VKFD_IOC_MAP_ATOMIC _IOWR(VKFD_IOCTL_TYPE, 0xE6, struct vkfd_map_atomic_args)
#define VKFD_IOC_MAP_STATUS _IOWR(VKFD_IOCTL_TYPE, 0xE7, struct vkfd_map_status_args)
#define VKFD_IOC_SUBMIT _IOWR(VKFD_IOCTL_TYPE, 0xE8, struct vkfd_submit_args)

#endif /* VKFD_VKFD_IOCTL_H_ */

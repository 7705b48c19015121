// SysfsTree: the files an emulated node shows to ROCm outside the ioctl interface — the KFD topology
// under /sys/devices/virtual/kfd/kfd/topology (and /sys/class/kfd), /dev/kfd and /dev/dri/renderD*,
// a /proc/modules naming amdgpu (rocminfo's `lsmod | grep amdgpu`), and the debugfs-style directories
// /sys/kernel/debug/vkfd/<gpu_id>/ — generated from a hw::Topology into a real directory.
//
// The tree is part of the driver's ABI (kfd_topology.c's sysfs files), so it is made here; the
// interposer only redirects those paths into the directory, so opendir/readdir/stat/fopen work with
// no further emulation. Directories are content-addressed ($VKFD_RUNTIME_DIR or $TMPDIR or /tmp, then
// vkfd-<uid>/root-<hash>): written once into a temporary directory and renamed into place, so
// concurrent processes never see a half-written tree, and later runs of the same topology reuse it.
//
// Sysfs formats follow kfd_topology.c: `key value` lines in decimal, node properties in node_show()
// order with io_links_count computed here, sibling_map last in a cache file, CPU node 0 then the GPUs.
#pragma once

#include <map>
#include <string>

#include "base/expected.h"
#include "hw/topology/topology.h"

namespace vkfd::uapi {

// Relative path (no leading '/') -> file contents. Directories are implied; a value starting with
// "\x01symlink:" makes a symbolic link to the rest; "\x01dir" an empty directory.
using FileMap = std::map<std::string, std::string>;

// Everything the tree holds for `topology`.
FileMap SysfsTreeFiles(const hw::Topology& topology);

// Writes (or reuses) the directory for `topology` and returns its path.
Expected<std::string> EnsureSysfsTree(const hw::Topology& topology);

}  // namespace vkfd::uapi

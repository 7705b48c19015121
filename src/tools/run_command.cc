// vkfd run [--gpus N] [--topology PRESET|FILE] [--log-ioctls[=FILE]] -- PROGRAM [ARGS...]
//
// Validates the topology, writes its sysfs tree (shim/fake_root.h), sets the environment the
// interposer reads (VKFD_TOPOLOGY or VKFD_GPUS, VKFD_ROOT, VKFD_LOG_IOCTLS), prepends
// libvkfd-preload.so to LD_PRELOAD and execs PROGRAM. Exec'd descendants inherit all of it.
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

#include "hw/topology.h"
#include "shim/fake_root.h"
#include "tools/commands.h"

namespace vkfd::tools {
namespace {

constexpr char kHelp[] =
    "usage: vkfd run [--gpus N] [--topology PRESET|FILE] [--log-ioctls[=FILE]] -- PROGRAM [ARGS...]\n"
    "\n"
    "Runs PROGRAM with /dev/kfd, /dev/dri/renderD* and the KFD sysfs topology emulated in user space\n"
    "(LD_PRELOAD interposer). Programs that never touch them run unaffected.\n"
    "\n"
    "  --gpus N              N MI210-like GPUs (64 GiB VRAM, large BAR, PCIe peer access), 1..16\n"
    "  --topology X          a built-in preset (see 'vkfd topology list') or a TOML file\n"
    "                        (default: mi210x2)\n"
    "  --log-ioctls[=FILE]   one decoded line per KFD ioctl: name, arguments, result or errno,\n"
    "                        duration; to stderr, or appended to FILE (truncated first)\n"
    "  -h, --help            this help\n";

std::string Dirname(const std::string& path) {
  const size_t slash = path.rfind('/');
  return slash == std::string::npos ? "." : path.substr(0, slash);
}

std::optional<std::string> Canonical(const std::string& path) {
  char buf[PATH_MAX];
  if (realpath(path.c_str(), buf) == nullptr) return std::nullopt;
  return std::string(buf);
}

std::optional<std::string> FindPreloadLibrary() {
  if (const char* env = getenv("VKFD_PRELOAD_LIB"); env != nullptr && *env != '\0') {
    return Canonical(env);
  }
  char exe[PATH_MAX];
  const ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
  if (n <= 0) return std::nullopt;
  exe[n] = '\0';
  const std::string dir = Dirname(exe);
  for (const std::string& candidate :
       {dir + "/../lib/vkfd/libvkfd-preload.so",
        dir + "/" + VKFD_INSTALL_PRELOAD_DIR + "/libvkfd-preload.so"}) {
    if (access(candidate.c_str(), R_OK) == 0) return Canonical(candidate);
  }
  return std::nullopt;
}

// "--name=value" or "--name value": the value, advancing *i; nullopt (after an error) if missing.
std::optional<std::string> OptionValue(int argc, char** argv, int* i, const std::string& name) {
  const std::string arg = argv[*i];
  if (arg.size() > name.size() && arg[name.size()] == '=') return arg.substr(name.size() + 1);
  if (*i + 1 >= argc) return std::nullopt;
  ++*i;
  return std::string(argv[*i]);
}

}  // namespace

int RunCommand(int argc, char** argv) {
  std::optional<std::string> gpus, topology, log;
  bool log_ioctls = false;
  int i = 1;
  for (; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--") {
      ++i;
      break;
    }
    if (arg == "-h" || arg == "--help") {
      fputs(kHelp, stdout);
      return 0;
    }
    if (arg == "--gpus" || arg.rfind("--gpus=", 0) == 0) {
      gpus = OptionValue(argc, argv, &i, "--gpus");
      if (!gpus) return UsageError("run: --gpus needs a number");
    } else if (arg == "--topology" || arg.rfind("--topology=", 0) == 0) {
      topology = OptionValue(argc, argv, &i, "--topology");
      if (!topology) return UsageError("run: --topology needs a preset name or a file");
    } else if (arg == "--log-ioctls") {
      log_ioctls = true;
    } else if (arg.rfind("--log-ioctls=", 0) == 0) {
      log_ioctls = true;
      log = arg.substr(strlen("--log-ioctls="));
      if (log->empty()) return UsageError("run: --log-ioctls= needs a file name");
    } else if (arg.size() > 1 && arg[0] == '-') {
      return UsageError(("run: unknown option '" + arg + "' (try 'vkfd run --help')").c_str());
    } else {
      break;  // the program, without "--"
    }
  }
  if (i >= argc) return UsageError("run: no program given (vkfd run [options] -- PROGRAM [ARGS...])");
  if (gpus && topology) return UsageError("run: --gpus and --topology cannot be combined");

  std::string error;
  std::optional<hw::Topology> topo;
  if (gpus) {
    char* end = nullptr;
    errno = 0;
    const long n = strtol(gpus->c_str(), &end, 10);
    if (gpus->empty() || *end != '\0' || errno != 0 || n < 1 || n > 16) {
      return UsageError(("run: --gpus: expected a number from 1 to 16, got '" + *gpus + "'").c_str());
    }
    topo = hw::UniformMi210(static_cast<int>(n), &error);
    unsetenv("VKFD_TOPOLOGY");
    setenv("VKFD_GPUS", gpus->c_str(), 1);
  } else {
    const std::string name = topology.value_or("mi210x2");
    topo = hw::LoadTopology(name, &error);
    if (topo) {
      // A file is passed by absolute path: the program may change directory.
      const bool preset = !hw::PresetText(name).empty();
      const std::optional<std::string> path = preset ? std::optional(name) : Canonical(name);
      setenv("VKFD_TOPOLOGY", path.value_or(name).c_str(), 1);
      unsetenv("VKFD_GPUS");
    }
  }
  if (!topo) return UsageError(error.c_str());

  auto root = shim::EnsureFakeRoot(*topo, &error);
  if (!root) return UsageError(error.c_str());
  setenv("VKFD_ROOT", root->c_str(), 1);

  const auto library = FindPreloadLibrary();
  if (!library) {
    return UsageError(
        "run: cannot find libvkfd-preload.so next to the vkfd binary (set VKFD_PRELOAD_LIB)");
  }
  std::string preload = *library;
#ifdef VKFD_SANITIZER_RUNTIME
  // A sanitizer build: its runtime must come first in the program's library list.
  preload = std::string(VKFD_SANITIZER_RUNTIME) + " " + preload;
#endif
  if (const char* old = getenv("LD_PRELOAD"); old != nullptr && *old != '\0') {
    if (std::string(old).find(*library) == std::string::npos) preload += std::string(" ") + old;
    else preload = old;
  }
  setenv("LD_PRELOAD", preload.c_str(), 1);

  if (log_ioctls) {
    if (log) {
      const int fd = open(log->c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
      if (fd < 0) {
        return UsageError(("run: cannot open " + *log + ": " + strerror(errno)).c_str());
      }
      close(fd);
      setenv("VKFD_LOG_IOCTLS", Canonical(*log).value_or(*log).c_str(), 1);
    } else {
      setenv("VKFD_LOG_IOCTLS", "-", 1);
    }
  } else {
    unsetenv("VKFD_LOG_IOCTLS");
  }

  std::vector<char*> args(argv + i, argv + argc);
  args.push_back(nullptr);
  execvp(args[0], args.data());
  fprintf(stderr, "vkfd: cannot run %s: %s\n", args[0], strerror(errno));
  return errno == ENOENT ? 127 : 126;
}

}  // namespace vkfd::tools

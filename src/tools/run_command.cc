// vkfd run [--gpus N] [--topology PRESET|FILE] [--log-ioctls[=FILE]] [--inject SPEC] [--inject-seed N]
//          [--inject-log FILE] [--dma-latency DURATION] -- PROGRAM [ARGS...]
//
// Validates the topology and the fault spec, writes the sysfs tree (uapi/sysfs_tree.h), sets the
// environment the interposer reads (VKFD_TOPOLOGY or VKFD_GPUS, VKFD_ROOT, VKFD_LOG_IOCTLS,
// VKFD_INJECT, VKFD_INJECT_SEED, VKFD_INJECT_LOG, VKFD_DMA_LATENCY), prepends libvkfd-preload.so to
// LD_PRELOAD and execs PROGRAM. Exec'd descendants inherit all of it.
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

#include "base/expected.h"
#include "base/parse.h"
#include "hw/topology/topology.h"
#include "uapi/fault_spec.h"
#include "uapi/sysfs_tree.h"
#include "tools/commands.h"

namespace vkfd::tools {
namespace {

constexpr char kHelp[] =
    "usage: vkfd run [--gpus N | --topology PRESET|FILE] [--log-ioctls[=FILE]] [--inject SPEC]\n"
    "                [--inject-seed N] [--inject-log FILE] [--dma-latency D] -- PROGRAM [ARGS...]\n"
    "\n"
    "Runs PROGRAM with /dev/kfd, /dev/dri/renderD* and the KFD sysfs topology emulated in user space\n"
    "(LD_PRELOAD interposer). Programs that never touch them run unaffected.\n"
    "\n"
    "  --gpus N              N MI210-like GPUs (64 GiB VRAM, large BAR, PCIe peer access), 1..16\n"
    "  --topology X          a built-in preset (see 'vkfd topology list') or a TOML file\n"
    "                        (default: mi210x2)\n"
    "  --log-ioctls[=FILE]   one decoded line per KFD ioctl: name, arguments, result or errno,\n"
    "                        duration; to stderr, or appended to FILE (truncated first)\n"
    "  --inject SPEC         arm fault injection (docs/fault-injection.md), e.g.\n"
    "                        'map.page_tables[gpu=3]:ENOMEM;map.wait[nth=2]:signal=SIGUSR1'\n"
    "                        ('vkfd inject --list' names the points); also VKFD_INJECT\n"
    "  --inject-seed N       seed for p= rules (default: chosen and reported); the same seed and\n"
    "                        calls give the same faults\n"
    "  --inject-log FILE     write the seed and every fault that fired (point, call, GPU, effect)\n"
    "                        to FILE (truncated first) instead of stderr\n"
    "  --dma-latency D       every page-table job takes at least D (e.g. 200us, 2ms), so waits\n"
    "                        block and signals land inside them\n"
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

// Truncates (or creates) the log file `path` and exports its absolute path in `env`, where every
// process of the run appends to it.
bool ExportLogFile(const std::string& path, const char* env, std::string* error) {
  const int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) {
    *error = "run: cannot open " + path + ": " + strerror(errno);
    return false;
  }
  close(fd);
  setenv(env, Canonical(path).value_or(path).c_str(), 1);
  return true;
}

}  // namespace

int RunCommand(int argc, char** argv) {
  std::optional<std::string> gpus, topology, log, inject, inject_seed, inject_log, dma_latency;
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
    } else if (arg == "--inject" || arg.rfind("--inject=", 0) == 0) {
      inject = OptionValue(argc, argv, &i, "--inject");
      if (!inject || inject->empty()) return UsageError("run: --inject needs a spec (see 'vkfd inject --help')");
    } else if (arg == "--inject-seed" || arg.rfind("--inject-seed=", 0) == 0) {
      inject_seed = OptionValue(argc, argv, &i, "--inject-seed");
      if (!inject_seed) return UsageError("run: --inject-seed needs a number");
    } else if (arg == "--inject-log" || arg.rfind("--inject-log=", 0) == 0) {
      inject_log = OptionValue(argc, argv, &i, "--inject-log");
      if (!inject_log || inject_log->empty()) return UsageError("run: --inject-log needs a file name");
    } else if (arg == "--dma-latency" || arg.rfind("--dma-latency=", 0) == 0) {
      dma_latency = OptionValue(argc, argv, &i, "--dma-latency");
      if (!dma_latency) return UsageError("run: --dma-latency needs a duration (e.g. 200us)");
    } else if (arg.size() > 1 && arg[0] == '-') {
      return UsageError(("run: unknown option '" + arg + "' (try 'vkfd run --help')").c_str());
    } else {
      break;  // the program, without "--"
    }
  }
  if (i >= argc) return UsageError("run: no program given (vkfd run [options] -- PROGRAM [ARGS...])");
  if (gpus && topology) return UsageError("run: --gpus and --topology cannot be combined");

  long n = 0;
  if (gpus) {
    char* end = nullptr;
    errno = 0;
    n = strtol(gpus->c_str(), &end, 10);
    if (gpus->empty() || *end != '\0' || errno != 0 || n < 1 || n > 16) {
      return UsageError(("run: --gpus: expected a number from 1 to 16, got '" + *gpus + "'").c_str());
    }
  }
  const std::string name = topology.value_or("mi210x2");
  const Expected<hw::Topology> topo =
      gpus ? hw::UniformMi210(static_cast<int>(n)) : hw::LoadTopology(name);
  if (!topo.ok()) return UsageError(topo.error().c_str());
  if (gpus) {
    unsetenv("VKFD_TOPOLOGY");
    setenv("VKFD_GPUS", gpus->c_str(), 1);
  } else {
    // A file is passed by absolute path: the program may change directory.
    const bool preset = !hw::PresetText(name).empty();
    const std::optional<std::string> path = preset ? std::optional(name) : Canonical(name);
    setenv("VKFD_TOPOLOGY", path.value_or(name).c_str(), 1);
    unsetenv("VKFD_GPUS");
  }

  if (dma_latency) {
    if (!ParseDurationNs(*dma_latency)) {
      return UsageError(("run: --dma-latency: not a duration (e.g. 200us, 2ms): '" + *dma_latency +
                         "'").c_str());
    }
    setenv("VKFD_DMA_LATENCY", dma_latency->c_str(), 1);
  } else {
    unsetenv("VKFD_DMA_LATENCY");
  }
  if ((inject_seed || inject_log) && !inject) {
    return UsageError("run: --inject-seed and --inject-log need --inject");
  }
  std::string error;
  if (inject) {
    if (auto rules = uapi::ParseFaultSpec(*inject); !rules.ok()) {
      return UsageError(("run: --inject: " + rules.error()).c_str());
    }
    uint64_t seed;
    if (inject_seed) {
      char* end = nullptr;
      errno = 0;
      seed = strtoull(inject_seed->c_str(), &end, 10);
      if (inject_seed->empty() || *end != '\0' || errno != 0 || (*inject_seed)[0] == '-') {
        return UsageError(("run: --inject-seed: not a number: '" + *inject_seed + "'").c_str());
      }
    } else {
      timespec ts;
      clock_gettime(CLOCK_REALTIME, &ts);
      seed = (uint64_t(ts.tv_sec) * 1000000007ull) ^ uint64_t(ts.tv_nsec) ^ (uint64_t(getpid()) << 40);
    }
    setenv("VKFD_INJECT", inject->c_str(), 1);
    setenv("VKFD_INJECT_SEED", std::to_string(seed).c_str(), 1);
    if (inject_log) {
      if (!ExportLogFile(*inject_log, "VKFD_INJECT_LOG", &error)) return UsageError(error.c_str());
    } else {
      unsetenv("VKFD_INJECT_LOG");
    }
  } else {
    unsetenv("VKFD_INJECT");
    unsetenv("VKFD_INJECT_SEED");
    unsetenv("VKFD_INJECT_LOG");
  }

  Expected<std::string> root = uapi::EnsureSysfsTree(*topo);
  if (!root.ok()) return UsageError(root.error().c_str());
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
  // A nested `vkfd run` finds itself already preloaded: keep the list as it is.
  if (const char* old = getenv("LD_PRELOAD"); old != nullptr && *old != '\0') {
    preload = std::string(old).find(*library) == std::string::npos ? preload + " " + old
                                                                    : std::string(old);
  }
  setenv("LD_PRELOAD", preload.c_str(), 1);

  if (log_ioctls) {
    if (log) {
      if (!ExportLogFile(*log, "VKFD_LOG_IOCTLS", &error)) return UsageError(error.c_str());
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

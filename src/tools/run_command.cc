// vkfd run [--gpus N] [--topology PRESET|FILE] [--log-ioctls[=FILE]] [--trace FILE] [--inject SPEC]
//          [--inject-seed N] [--inject-log FILE] [--dma-latency DURATION] -- PROGRAM [ARGS...]
//
// Validates the topology and the fault spec, writes the sysfs tree (uapi/sysfs_tree.h), sets the
// environment the interposer reads (VKFD_TOPOLOGY or VKFD_GPUS, VKFD_ROOT, VKFD_LOG_IOCTLS, VKFD_TRACE,
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
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "base/expected.h"
#include "base/parse.h"
#include "hw/topology/topology.h"
#include "uapi/fault_spec.h"
#include "uapi/sysfs_tree.h"
#include "tools/cli.h"
#include "tools/commands.h"

namespace vkfd::tools {
namespace {

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

// Truncates (or creates) the log file `path` and exports its absolute path in `env`, where every
// process of the run appends to it.
Expected<void> ExportLogFile(const std::string& path, const char* env) {
  const int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return Fail("run: cannot open " + path + ": " + strerror(errno));
  close(fd);
  setenv(env, Canonical(path).value_or(path).c_str(), 1);
  return {};
}

constexpr char kUsage[] =
    "usage: vkfd run [--gpus N | --topology PRESET|FILE] [--log-ioctls[=FILE]] [--trace FILE]\n"
    "                [--inject SPEC] [--inject-seed N] [--inject-log FILE] [--dma-latency D]\n"
    "                -- PROGRAM [ARGS...]";
constexpr char kSynopsis[] =
    "[--gpus N | --topology PRESET|FILE] [--log-ioctls[=FILE]] [--trace FILE]\n"
    "      [--inject SPEC] [--inject-seed N] [--inject-log FILE] [--dma-latency D]\n"
    "      -- PROGRAM [ARGS...]";
constexpr char kAbout[] =
    "Runs PROGRAM with /dev/kfd, /dev/dri/renderD* and the KFD sysfs topology emulated in user space\n"
    "(LD_PRELOAD interposer). Programs that never touch them run unaffected.";

// What the command line gave; CLI11 fills it in while parsing.
struct RunOptions {
  std::optional<std::string> gpus, topology, inject, inject_seed, inject_log, dma_latency, trace;
  CLI::Option* log_ioctls = nullptr;  // given or not
  std::string log;                    // its value: the file, or empty for stderr
  CLI::Option* program = nullptr;     // PROGRAM and its arguments
};

std::optional<int> ParseGpus(const std::string& text) {
  const std::optional<uint64_t> n = ParseU64(text);
  if (!n || *n < 1 || *n > 16) return std::nullopt;
  return static_cast<int>(*n);
}

// Runs after a successful parse: the values have passed the checks AddRunCommand gave the options.
int Run(RunOptions& o) {
  if (o.program->count() == 0) {
    return UsageError("run: no program given (vkfd run [options] -- PROGRAM [ARGS...])");
  }
  Expected<hw::Topology> topo = Fail("");
  if (o.gpus) {
    topo = hw::UniformMi210(*ParseGpus(*o.gpus));
    unsetenv("VKFD_TOPOLOGY");
    setenv("VKFD_GPUS", o.gpus->c_str(), 1);
  } else {
    const std::string name = o.topology.value_or("mi210x2");
    topo = hw::LoadTopology(name);
    if (topo.ok()) {
      // A file is passed by absolute path: the program may change directory.
      const bool preset = !hw::PresetText(name).empty();
      const std::optional<std::string> path = preset ? std::optional(name) : Canonical(name);
      setenv("VKFD_TOPOLOGY", path.value_or(name).c_str(), 1);
      unsetenv("VKFD_GPUS");
    }
  }
  if (!topo.ok()) return UsageError(topo.error());

  if (o.dma_latency) {
    setenv("VKFD_DMA_LATENCY", o.dma_latency->c_str(), 1);
  } else {
    unsetenv("VKFD_DMA_LATENCY");
  }
  if (o.inject) {
    uint64_t seed;
    if (o.inject_seed) {
      seed = *ParseU64(*o.inject_seed);
    } else {
      timespec ts;
      clock_gettime(CLOCK_REALTIME, &ts);
      seed = (uint64_t(ts.tv_sec) * 1000000007ull) ^ uint64_t(ts.tv_nsec) ^ (uint64_t(getpid()) << 40);
    }
    setenv("VKFD_INJECT", o.inject->c_str(), 1);
    setenv("VKFD_INJECT_SEED", std::to_string(seed).c_str(), 1);
    if (o.inject_log) {
      if (auto done = ExportLogFile(*o.inject_log, "VKFD_INJECT_LOG"); !done.ok()) {
        return UsageError(done.error());
      }
    } else {
      unsetenv("VKFD_INJECT_LOG");
    }
  } else {
    unsetenv("VKFD_INJECT");
    unsetenv("VKFD_INJECT_SEED");
    unsetenv("VKFD_INJECT_LOG");
  }

  Expected<std::string> root = uapi::EnsureSysfsTree(*topo);
  if (!root.ok()) return UsageError(root.error());
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

  if (o.log_ioctls->count() > 0) {
    if (!o.log.empty()) {
      if (auto done = ExportLogFile(o.log, "VKFD_LOG_IOCTLS"); !done.ok()) {
        return UsageError(done.error());
      }
    } else {
      setenv("VKFD_LOG_IOCTLS", "-", 1);
    }
  } else {
    unsetenv("VKFD_LOG_IOCTLS");
  }

  if (o.trace) {
    // The JSON array's opening bracket; every process of the run appends its events (base/trace.h).
    const int fd = open(o.trace->c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) return UsageError("run: cannot open " + *o.trace + ": " + strerror(errno));
    const bool written = write(fd, "[\n", 2) == 2;
    close(fd);
    if (!written) return UsageError("run: cannot write " + *o.trace);
    setenv("VKFD_TRACE", Canonical(*o.trace).value_or(*o.trace).c_str(), 1);
  } else {
    unsetenv("VKFD_TRACE");
  }

  // results(): the words as given (converting them to a vector, CLI11 would make "{}" no words).
  std::vector<std::string> program = o.program->results();
  std::vector<char*> args;
  for (std::string& arg : program) args.push_back(arg.data());
  args.push_back(nullptr);
  execvp(args[0], args.data());
  fprintf(stderr, "vkfd: cannot run %s: %s\n", args[0], strerror(errno));
  return errno == ENOENT ? 127 : 126;
}

}  // namespace

Command AddRunCommand(CLI::App& vkfd) {
  auto o = std::make_shared<RunOptions>();
  CLI::App* run = vkfd.add_subcommand("run", "run PROGRAM on an emulated node (vkfd run --help)");

  // The checks run while parsing; CLI11 puts the option's name before what they return:
  // "--gpus: expected a number from 1 to 16, got '0'".
  CLI::Option* gpus =
      run->add_option("--gpus", o->gpus,
                      "N MI210-like GPUs (64 GiB VRAM, large BAR, PCIe peer access), 1..16")
          ->type_name("N")
          ->check([](const std::string& text) {
            return ParseGpus(text) ? "" : "expected a number from 1 to 16, got '" + text + "'";
          });
  CLI::Option* topology = run->add_option(
      "--topology", o->topology,
      "a built-in preset (see 'vkfd topology list') or a TOML file\n(default: mi210x2)");
  topology->type_name("X");
  gpus->excludes(topology);
  // A flag, so that the word after it is never its value: only --log-ioctls=FILE names a file.
  // "{}": given without a value, its value is empty (log to stderr).
  o->log_ioctls =
      run->add_flag("--log-ioctls{}", o->log,
                    "one decoded line per KFD ioctl: name, arguments, result or errno,\n"
                    "duration; to stderr, or appended to FILE (truncated first)")
          ->option_text("[=FILE]");
  run->add_option("--trace", o->trace,
                  "write a timeline to FILE (truncated first): Chrome trace-event JSON\n"
                  "for ui.perfetto.dev or chrome://tracing — ioctls, waits, page-table\n"
                  "jobs, fences, queue packets, faults (docs/trace.md)")
      ->type_name("FILE")
      ->check([](const std::string& path) { return path.empty() ? "needs a file name" : ""; });
  CLI::Option* inject =
      run->add_option("--inject", o->inject,
                      "arm fault injection (docs/fault-injection.md), e.g.\n"
                      "'map.page_tables[gpu=3]:ENOMEM;map.wait[nth=2]:signal=SIGUSR1'\n"
                      "('vkfd inject --list' names the points); also VKFD_INJECT")
          ->type_name("SPEC")
          ->check([](const std::string& spec) {
            if (spec.empty()) return std::string("needs a spec (see 'vkfd inject --help')");
            const auto rules = uapi::ParseFaultSpec(spec);
            return rules.ok() ? std::string() : rules.error();
          });
  run->add_option("--inject-seed", o->inject_seed,
                  "seed for p= rules (default: chosen and reported); the same seed and\n"
                  "calls give the same faults")
      ->type_name("N")
      ->needs(inject)
      ->check([](const std::string& text) {
        return ParseU64(text) ? "" : "not a number: '" + text + "'";
      });
  run->add_option("--inject-log", o->inject_log,
                  "write the seed and every fault that fired (point, call, GPU, effect)\n"
                  "to FILE (truncated first) instead of stderr")
      ->type_name("FILE")
      ->needs(inject)
      ->check([](const std::string& path) { return path.empty() ? "needs a file name" : ""; });
  run->add_option("--dma-latency", o->dma_latency,
                  "every page-table job takes at least D (e.g. 200us, 2ms), so waits\n"
                  "block and signals land inside them")
      ->type_name("D")
      ->check([](const std::string& text) {
        return ParseDurationNs(text) ? "" : "not a duration (e.g. 200us, 2ms): '" + text + "'";
      });

  // PROGRAM and its arguments: every word from the first that is not an option (or from the one
  // after "--") on, untouched. positionals_at_end() ends option parsing at PROGRAM, so that
  // `vkfd run prog -h` passes -h to prog. The count is unbounded without the vector type CLI11
  // would treat as a list: it would split "[a,b]" into "a" and "b".
  o->program = run->add_option("PROGRAM")
                   ->expected(std::numeric_limits<int>::max())
                   ->allow_extra_args(false)
                   ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  run->positionals_at_end();

  SetHelp(*run, {.usage = kUsage, .about = kAbout, .synopsis = kSynopsis, .column = 24});
  return {run, [o] { return Run(*o); }};
}

}  // namespace vkfd::tools

// vkfd bench [--quick] [--json FILE]: the map-design benchmark (bench/map_designs_bench.cc) on an
// emulated 8-GPU node, run twice under `vkfd run` — timing model off, and on with figures from
// published measurements — and printed as one table: microseconds per BO mapped for each design, GPU
// count and BO size, the share of the synchronous design's time that is syscall and dispatch, and
// what pipelining (MAP_ASYNC) gains over it.
//
// The timing model "on": a page-table job completes 10 us after the engine has written it (the low
// end of the 10-20 us that traces show for mapping 2 MiB on one GPU, ../shared/reference/
// api-designs.md), and the engine spends 2 ns per PTE (an assumption: no published figure separates
// it). docs/api-designs-measured.md has the figures of a full run and the plots.
#include <fcntl.h>
#include <limits.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <string>
#include <tuple>
#include <vector>

#include "base/expected.h"
#include "tools/cli.h"
#include "tools/commands.h"

namespace vkfd::tools {
namespace {

constexpr char kAbout[] =
    "Measures the designs for mapping a BO on several GPUs through the interposer, on an emulated\n"
    "node of 8 MI210s, with the DMA timing model off and on (10 us per job, 2 ns per PTE):\n"
    "  batched  one synchronous KFD MAP over N GPUs per BO\n"
    "  per-gpu  N single-GPU MAPs per BO\n"
    "  async    VKFD MAP_ASYNC for a batch of 16 BOs, then one FENCE_WAIT\n"
    "  atomic   VKFD MAP_ATOMIC COMMIT per BO\n"
    "beside the host's ioctl(2) cost and the interposer's cost of a null KFD ioctl.";

constexpr char kTimingOff[] = "";
constexpr char kTimingOn[] = "[dma]\njob_latency = \"10us\"\npte_cost = \"2ns\"\n";

std::string SelfPath() {
  char exe[PATH_MAX];
  const ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
  if (n <= 0) return {};
  exe[n] = '\0';
  return exe;
}

std::optional<std::string> FindBenchBinary(const std::string& self) {
  if (const char* env = getenv("VKFD_BENCH_BIN"); env != nullptr && *env != '\0') return env;
  const std::string dir = self.substr(0, self.rfind('/'));
  const std::string candidate = dir + "/../libexec/vkfd/map_designs_bench";
  if (access(candidate.c_str(), X_OK) == 0) return candidate;
  return std::nullopt;
}

// Runs `vkfd run --topology TOPO -- BENCH ARGS...` and waits; true on exit status 0.
bool RunUnderVkfd(const std::string& self, const std::string& topology, const std::string& bench,
                  const std::vector<std::string>& bench_args, bool quick, const std::string& log) {
  std::vector<std::string> args = {self, "run", "--topology", topology, "--", bench};
  args.insert(args.end(), bench_args.begin(), bench_args.end());
  const pid_t pid = fork();
  if (pid < 0) return false;
  if (pid == 0) {
    if (quick) setenv("VKFD_BENCH_QUICK", "1", 1);
    // The benchmark's own console output is not the table: it goes to a log, shown on failure.
    const int log_fd = open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (log_fd >= 0) {
      dup2(log_fd, 1);
      dup2(log_fd, 2);
    }
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    execv(self.c_str(), argv.data());
    _exit(127);
  }
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

struct Key {
  int design;
  int gpus;
  int64_t size;
  bool operator<(const Key& o) const {
    return std::tie(design, gpus, size) < std::tie(o.design, o.gpus, o.size);
  }
};

struct Figures {
  std::map<Key, double> us_per_bo;  // median over repetitions (or the single run)
  double host_syscall_ns = 0;
  double null_ioctl_ns = 0;
  double wakeup_ns = 0;
};

// Reads a Google Benchmark JSON report: the median aggregate when there is one, else the run.
Expected<Figures> ReadFigures(const std::string& path) {
  std::ifstream in(path);
  nlohmann::json doc;
  try {
    in >> doc;
  } catch (const std::exception& e) {
    return Fail("cannot read " + path + ": " + e.what());
  }
  Figures f;
  std::map<std::string, bool> has_median;
  for (const auto& b : doc["benchmarks"]) {
    const std::string run = b.value("run_name", b.value("name", ""));
    const std::string type = b.value("run_type", "iteration");
    const std::string agg = b.value("aggregate_name", "");
    if (type == "aggregate" && agg != "median") continue;
    if (type == "iteration" && has_median[run]) continue;
    if (type == "aggregate") has_median[run] = true;
    if (b.contains("error_occurred") && b["error_occurred"].get<bool>()) {
      return Fail(run + ": " + b.value("error_message", "failed"));
    }
    double ns = b.value("real_time", 0.0);
    const std::string unit = b.value("time_unit", "ns");
    if (unit == "us") ns *= 1e3;
    if (unit == "ms") ns *= 1e6;
    if (unit == "s") ns *= 1e9;
    if (run.rfind("BM_HostSyscall", 0) == 0) {
      f.host_syscall_ns = ns;
    } else if (run.rfind("BM_KfdNullIoctl", 0) == 0) {
      f.null_ioctl_ns = ns;
    } else if (run.rfind("BM_HostThreadWakeup", 0) == 0) {
      f.wakeup_ns = ns;
    } else if (run.rfind("BM_Map/", 0) == 0) {
      Key k{};
      if (sscanf(run.c_str(), "BM_Map/design:%d/gpus:%d/size:%ld", &k.design, &k.gpus, &k.size) == 3) {
        f.us_per_bo[k] = ns / 1e3 / 16.0;  // 16 BOs per iteration
      }
    }
  }
  return f;
}

std::string SizeName(int64_t size) {
  if (size >= (1 << 20)) return std::to_string(size >> 20) + " MiB";
  return std::to_string(size >> 10) + " KiB";
}

void PrintTable(const Figures& off, const Figures& on) {
  static const char* const kDesigns[] = {"batched", "per-gpu", "async", "atomic"};
  printf("host ioctl(2) on /dev/null: %.0f ns; null KFD ioctl through the interposer: %.0f ns;\n"
         "waking a thread asleep in read(): %.1f us (every wait that sleeps pays it here)\n\n",
         on.host_syscall_ns, on.null_ioctl_ns, on.wakeup_ns / 1e3);
  printf("microseconds per BO mapped (batches of 16 VRAM BOs), timing model off | on (10 us/job, "
         "2 ns/PTE)\n");
  printf("%-5s %-8s", "GPUs", "BO");
  for (const char* d : kDesigns) printf(" | %-17s", d);
  printf(" | overhead | async gain\n");
  std::vector<std::pair<int, int64_t>> rows;
  for (const auto& [k, v] : on.us_per_bo) {
    if (k.design == 0) rows.emplace_back(k.gpus, k.size);
  }
  for (const auto& [gpus, size] : rows) {
    printf("%-5d %-8s", gpus, SizeName(size).c_str());
    for (int d = 0; d < 4; ++d) {
      const Key k{d, gpus, size};
      auto a = off.us_per_bo.find(k);
      auto b = on.us_per_bo.find(k);
      char cell[32];
      snprintf(cell, sizeof(cell), "%7.2f | %7.2f", a == off.us_per_bo.end() ? 0.0 : a->second,
               b == on.us_per_bo.end() ? 0.0 : b->second);
      printf(" | %-17s", cell);
    }
    // Overhead: one ioctl per BO (batched), each a syscall plus the dispatch of a null ioctl, as a
    // share of the batched design's time per BO with the timing model on.
    const double batched_on = on.us_per_bo.count({0, gpus, size}) ? on.us_per_bo.at({0, gpus, size}) : 0;
    const double async_on = on.us_per_bo.count({2, gpus, size}) ? on.us_per_bo.at({2, gpus, size}) : 0;
    const double overhead_us = (on.host_syscall_ns + on.null_ioctl_ns) / 1e3;
    printf(" | %6.1f %% | %5.1fx\n", batched_on > 0 ? 100.0 * overhead_us / batched_on : 0.0,
           async_on > 0 ? batched_on / async_on : 0.0);
  }
  printf("\noverhead: (host syscall + null KFD ioctl) / batched time per BO, timing on — the share of a\n"
         "real synchronous MAP that is syscall and dispatch. async gain: batched / async, timing on.\n");
}

int Bench(bool quick, const std::optional<std::string>& json_out) {
  const std::string self = SelfPath();
  const auto bench = FindBenchBinary(self);
  if (!bench) {
    return UsageError("bench: map_designs_bench not found next to vkfd (../libexec/vkfd/; build "
                      "with -DVKFD_BUILD_BENCH=ON and libbenchmark-dev, or set VKFD_BENCH_BIN)");
  }
  char dir_template[] = "/tmp/vkfd-bench-XXXXXX";
  if (mkdtemp(dir_template) == nullptr) return UsageError("bench: cannot make a temporary directory");
  const std::string dir = dir_template;
  std::vector<std::string> common = {"--benchmark_out_format=json"};
  if (quick) {
    common.push_back("--benchmark_min_time=0.02");
  } else {
    common.insert(common.end(), {"--benchmark_repetitions=5", "--benchmark_report_aggregates_only=true",
                                 "--benchmark_min_time=0.1"});
  }
  Figures figures[2];
  const char* timings[2] = {kTimingOff, kTimingOn};
  nlohmann::json combined;
  for (int t = 0; t < 2; ++t) {
    const std::string topo = dir + (t == 0 ? "/off.toml" : "/on.toml");
    const std::string out = dir + (t == 0 ? "/off.json" : "/on.json");
    std::ofstream(topo) << "name = \"bench-" << (t == 0 ? "off" : "on")
                        << "\"\npcie_peer_access = true\n[cpu]\ncores = 16\nmemory = \"256GiB\"\n"
                        << timings[t] << "[[gpu]]\nmodel = \"mi210\"\ncount = 8\n";
    std::vector<std::string> args = common;
    args.push_back("--benchmark_out=" + out);
    const std::string log = dir + (t == 0 ? "/off.log" : "/on.log");
    fprintf(stderr, "vkfd bench: timing model %s ...\n", t == 0 ? "off" : "on");
    if (!RunUnderVkfd(self, topo, *bench, args, quick, log)) {
      std::ifstream in(log);
      std::stringstream text;
      text << in.rdbuf();
      fputs(text.str().c_str(), stderr);
      return UsageError("bench: the benchmark failed (its files are in " + dir + ")");
    }
    Expected<Figures> f = ReadFigures(out);
    if (!f.ok()) return UsageError("bench: " + f.error());
    figures[t] = *f;
    std::ifstream in(out);
    nlohmann::json doc;
    in >> doc;
    combined[t == 0 ? "timing_off" : "timing_on"] = doc;
  }
  combined["timing_on_model"] = {{"job_latency_ns", 10000}, {"pte_cost_ns", 2}, {"job_cost_ns", 0}};
  PrintTable(figures[0], figures[1]);
  if (json_out) {
    std::ofstream out(*json_out);
    out << combined.dump(1) << "\n";
    out.close();
    if (!out) return UsageError("bench: cannot write " + *json_out);
    fprintf(stderr, "vkfd bench: wrote %s\n", json_out->c_str());
  }
  for (const char* name :
       {"/off.toml", "/on.toml", "/off.json", "/on.json", "/off.log", "/on.log"}) {
    unlink((dir + name).c_str());
  }
  rmdir(dir.c_str());
  return 0;
}

struct BenchOptions {
  bool quick = false;
  std::optional<std::string> json_out;
};

}  // namespace

Command AddBenchCommand(CLI::App& vkfd) {
  auto o = std::make_shared<BenchOptions>();
  CLI::App* bench = vkfd.add_subcommand(
      "bench", "measure the 2018 map designs side by side (docs/api-designs-measured.md)");
  bench->add_flag("--quick", o->quick,
                  "1 and 4 GPUs, 4 KiB and 2 MiB, one repetition: under a minute");
  bench
      ->add_option(
          "--json", o->json_out,
          "write both runs' Google Benchmark JSON to FILE (for scripts/plot_map_designs.sh)")
      ->type_name("FILE");
  SetHelp(*bench, {.usage = "usage: vkfd bench [--quick] [--json FILE]",
                   .about = kAbout,
                   .synopsis = "[--quick] [--json FILE]",
                   .column = 16});
  return {bench, [o] { return Bench(o->quick, o->json_out); }};
}

}  // namespace vkfd::tools

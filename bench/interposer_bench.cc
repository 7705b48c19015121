// The cost of a KFD ioctl through the LD_PRELOAD interposer, beside a real system call measured in
// the same run: ioctl(2) of the same command on /dev/null, which the host kernel fails with ENOTTY
// (the cheapest ioctl there is: fd lookup, no driver). Run it under vkfd:
//
//   build/bin/vkfd run --gpus 4 -- build/bench/interposer_bench --benchmark_repetitions=5
//       --benchmark_report_aggregates_only=true          (one command line)
//
// Outside `vkfd run` /dev/kfd does not open and the interposer benchmarks report an error.
// docs/benchmarks.md records figures.
#include <benchmark/benchmark.h>
#include <fcntl.h>
#include <linux/kfd_ioctl.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <cerrno>

namespace {

void BM_KfdGetVersionThroughInterposer(benchmark::State& state) {
  const int kfd = open("/dev/kfd", O_RDWR | O_CLOEXEC);
  if (kfd < 0) {
    state.SkipWithError("/dev/kfd does not open: run under `vkfd run`");
    return;
  }
  kfd_ioctl_get_version_args args{};
  for (auto _ : state) {
    if (ioctl(kfd, AMDKFD_IOC_GET_VERSION, &args) != 0) {
      state.SkipWithError("GET_VERSION failed");
      break;
    }
    benchmark::DoNotOptimize(args);
  }
  if (args.major_version != 1) state.SkipWithError("not KFD 1.x");
  close(kfd);
}
BENCHMARK(BM_KfdGetVersionThroughInterposer);

// A KFD ioctl that fails in the dispatcher (unknown number): the interposer's error path.
void BM_KfdUnknownIoctlThroughInterposer(benchmark::State& state) {
  const int kfd = open("/dev/kfd", O_RDWR | O_CLOEXEC);
  if (kfd < 0) {
    state.SkipWithError("/dev/kfd does not open: run under `vkfd run`");
    return;
  }
  char buf[16] = {};
  for (auto _ : state) {
    const int r = ioctl(kfd, _IOWR('K', 0x50, char[16]), buf);
    benchmark::DoNotOptimize(r);
  }
  close(kfd);
}
BENCHMARK(BM_KfdUnknownIoctlThroughInterposer);

void BM_HostIoctlOnDevNull(benchmark::State& state) {
  const int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
  kfd_ioctl_get_version_args args{};
  for (auto _ : state) {
    const int r = ioctl(fd, AMDKFD_IOC_GET_VERSION, &args);  // -1/ENOTTY from the host kernel
    benchmark::DoNotOptimize(r);
  }
  if (ioctl(fd, AMDKFD_IOC_GET_VERSION, &args) != -1 || errno != ENOTTY) {
    state.SkipWithError("ioctl on /dev/null did not fail with ENOTTY");
  }
  close(fd);
}
BENCHMARK(BM_HostIoctlOnDevNull);

}  // namespace

BENCHMARK_MAIN();

// HIP memory programs, built with Debian's hipcc (--offload-arch=gfx90a) and run under `vkfd run`:
// each case exercises one path of the HIP 5.2 runtime's memory work — its blit kernels, SDMA or not,
// its barriers and signals — and checks the bytes that come back. One program, one case per run:
//   hip_memory CASE      (exit 0: passed; 1: a check failed, with a line saying which)
// Cases: properties, malloc, hostmalloc, hostregister, h2d-small, h2d-large, d2d, peer, memset,
//        async-stream, events, synchronize, managed, user-kernel.
#include <hip/hip_runtime.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#define CHECK(x)                                                                      \
  do {                                                                                \
    hipError_t e_ = (x);                                                              \
    if (e_ != hipSuccess) {                                                           \
      printf("FAIL %s:%d: %s -> %s\n", __FILE__, __LINE__, #x, hipGetErrorString(e_)); \
      return 1;                                                                       \
    }                                                                                 \
  } while (0)
#define EXPECT(cond)                                                  \
  do {                                                                \
    if (!(cond)) {                                                    \
      printf("FAIL %s:%d: expected %s\n", __FILE__, __LINE__, #cond); \
      return 1;                                                       \
    }                                                                 \
  } while (0)

namespace {

// A byte pattern that differs for every offset and seed, so a copy to the wrong place shows.
void Fill(std::vector<uint8_t>& v, uint32_t seed) {
  uint32_t x = seed * 2654435761u + 1;
  for (auto& b : v) {
    x = x * 1664525u + 1013904223u;
    b = static_cast<uint8_t>(x >> 24);
  }
}

int FirstDifference(const std::vector<uint8_t>& a, const std::vector<uint8_t>& b) {
  for (size_t i = 0; i < a.size(); ++i) {
    if (a[i] != b[i]) return static_cast<int>(i);
  }
  return -1;
}

// H2D then D2H through device memory, both checked by reading back.
int RoundTrip(size_t bytes, uint32_t seed) {
  std::vector<uint8_t> host(bytes), back(bytes);
  Fill(host, seed);
  void* dev = nullptr;
  CHECK(hipMalloc(&dev, bytes));
  CHECK(hipMemcpy(dev, host.data(), bytes, hipMemcpyHostToDevice));
  CHECK(hipMemcpy(back.data(), dev, bytes, hipMemcpyDeviceToHost));
  const int diff = FirstDifference(host, back);
  if (diff >= 0) {
    printf("FAIL round trip of %zu bytes differs at byte %d\n", bytes, diff);
    return 1;
  }
  CHECK(hipFree(dev));
  printf("round trip %zu bytes ok\n", bytes);
  return 0;
}

__global__ void Scale(float* data, float factor, int n) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) data[i] *= factor;
}

int Properties() {
  int count = 0;
  CHECK(hipGetDeviceCount(&count));
  EXPECT(count >= 1);
  for (int d = 0; d < count; ++d) {
    hipDeviceProp_t p;
    CHECK(hipGetDeviceProperties(&p, d));
    printf("device %d: %s gcnArch %s, %zu MiB, %d CUs\n", d, p.name, p.gcnArchName,
           p.totalGlobalMem >> 20, p.multiProcessorCount);
    EXPECT(std::string(p.gcnArchName).rfind("gfx90a", 0) == 0);
    EXPECT(p.totalGlobalMem > (1ull << 30));
  }
  return 0;
}

int Malloc() {
  size_t free0 = 0, total = 0;
  CHECK(hipMemGetInfo(&free0, &total));
  void* p = nullptr;
  CHECK(hipMalloc(&p, 256 << 20));
  size_t free1 = 0;
  CHECK(hipMemGetInfo(&free1, &total));
  printf("free %zu -> %zu MiB of %zu MiB\n", free0 >> 20, free1 >> 20, total >> 20);
  EXPECT(free1 + (256 << 20) <= free0);
  CHECK(hipFree(p));
  size_t free2 = 0;
  CHECK(hipMemGetInfo(&free2, &total));
  EXPECT(free2 == free0);
  return RoundTrip(4096, 1);
}

int HostMalloc() {
  const size_t bytes = 1 << 20;
  uint8_t* pinned = nullptr;
  CHECK(hipHostMalloc(reinterpret_cast<void**>(&pinned), bytes, hipHostMallocDefault));
  for (size_t i = 0; i < bytes; ++i) pinned[i] = static_cast<uint8_t>(i * 13);
  void* dev = nullptr;
  CHECK(hipMalloc(&dev, bytes));
  CHECK(hipMemcpy(dev, pinned, bytes, hipMemcpyHostToDevice));
  memset(pinned, 0, bytes);
  CHECK(hipMemcpy(pinned, dev, bytes, hipMemcpyDeviceToHost));
  for (size_t i = 0; i < bytes; ++i) EXPECT(pinned[i] == static_cast<uint8_t>(i * 13));
  CHECK(hipFree(dev));
  CHECK(hipHostFree(pinned));
  return 0;
}

int HostRegister() {
  const size_t bytes = 2 << 20;
  std::vector<uint8_t> host(bytes), back(bytes);
  Fill(host, 7);
  CHECK(hipHostRegister(host.data(), bytes, hipHostRegisterDefault));
  void* dev = nullptr;
  CHECK(hipMalloc(&dev, bytes));
  CHECK(hipMemcpy(dev, host.data(), bytes, hipMemcpyHostToDevice));
  CHECK(hipMemcpy(back.data(), dev, bytes, hipMemcpyDeviceToHost));
  EXPECT(FirstDifference(host, back) < 0);
  CHECK(hipHostUnregister(host.data()));
  CHECK(hipFree(dev));
  return 0;
}

int DeviceToDevice() {
  const size_t bytes = (8 << 20) + 12345;
  std::vector<uint8_t> host(bytes), back(bytes);
  Fill(host, 3);
  void *a = nullptr, *b = nullptr;
  CHECK(hipMalloc(&a, bytes));
  CHECK(hipMalloc(&b, bytes));
  CHECK(hipMemcpy(a, host.data(), bytes, hipMemcpyHostToDevice));
  CHECK(hipMemcpy(b, a, bytes, hipMemcpyDeviceToDevice));
  CHECK(hipMemcpy(back.data(), b, bytes, hipMemcpyDeviceToHost));
  EXPECT(FirstDifference(host, back) < 0);
  // An unaligned piece in the middle.
  CHECK(hipMemcpy(static_cast<uint8_t*>(b) + 3, static_cast<uint8_t*>(a) + 1001, 77777,
                  hipMemcpyDeviceToDevice));
  CHECK(hipMemcpy(back.data(), b, bytes, hipMemcpyDeviceToHost));
  EXPECT(memcmp(back.data() + 3, host.data() + 1001, 77777) == 0);
  EXPECT(back[2] == host[2] && back[3 + 77777] == host[3 + 77777]);
  CHECK(hipFree(a));
  CHECK(hipFree(b));
  return 0;
}

int Peer() {
  int count = 0;
  CHECK(hipGetDeviceCount(&count));
  if (count < 2) {
    printf("SKIP peer: one device\n");
    return 0;
  }
  const size_t bytes = 3 << 20;
  std::vector<uint8_t> host(bytes), back(bytes);
  Fill(host, 11);
  void *a = nullptr, *b = nullptr;
  CHECK(hipSetDevice(0));
  CHECK(hipMalloc(&a, bytes));
  CHECK(hipMemcpy(a, host.data(), bytes, hipMemcpyHostToDevice));
  CHECK(hipSetDevice(1));
  CHECK(hipMalloc(&b, bytes));
  CHECK(hipMemcpyPeer(b, 1, a, 0, bytes));
  CHECK(hipDeviceSynchronize());
  CHECK(hipMemcpy(back.data(), b, bytes, hipMemcpyDeviceToHost));
  EXPECT(FirstDifference(host, back) < 0);
  CHECK(hipFree(b));
  CHECK(hipSetDevice(0));
  CHECK(hipFree(a));
  return 0;
}

int Memset() {
  const size_t bytes = (4 << 20) + 5;
  void* dev = nullptr;
  CHECK(hipMalloc(&dev, bytes));
  CHECK(hipMemset(dev, 0x5a, bytes));
  CHECK(hipMemset(static_cast<uint8_t*>(dev) + 1, 0xc3, 1000));
  std::vector<uint8_t> back(bytes);
  CHECK(hipMemcpy(back.data(), dev, bytes, hipMemcpyDeviceToHost));
  EXPECT(back[0] == 0x5a && back[1001] == 0x5a && back[bytes - 1] == 0x5a);
  for (size_t i = 1; i <= 1000; ++i) EXPECT(back[i] == 0xc3);
  CHECK(hipMemsetD32(dev, 0x01020304, 1024));
  uint32_t words[1025];
  CHECK(hipMemcpy(words, dev, sizeof(words), hipMemcpyDeviceToHost));
  for (int i = 0; i < 1024; ++i) EXPECT(words[i] == 0x01020304);
  EXPECT(words[1024] == 0x5a5a5a5a);
  CHECK(hipFree(dev));
  return 0;
}

int AsyncStream() {
  const size_t bytes = 6 << 20;
  hipStream_t s;
  CHECK(hipStreamCreate(&s));
  uint8_t *src = nullptr, *dst = nullptr;
  CHECK(hipHostMalloc(reinterpret_cast<void**>(&src), bytes, hipHostMallocDefault));
  CHECK(hipHostMalloc(reinterpret_cast<void**>(&dst), bytes, hipHostMallocDefault));
  for (size_t i = 0; i < bytes; ++i) src[i] = static_cast<uint8_t>(i ^ (i >> 8));
  void *a = nullptr, *b = nullptr;
  CHECK(hipMalloc(&a, bytes));
  CHECK(hipMalloc(&b, bytes));
  CHECK(hipMemcpyAsync(a, src, bytes, hipMemcpyHostToDevice, s));
  CHECK(hipMemcpyAsync(b, a, bytes, hipMemcpyDeviceToDevice, s));
  CHECK(hipMemsetAsync(a, 0, bytes, s));
  CHECK(hipMemcpyAsync(dst, b, bytes, hipMemcpyDeviceToHost, s));
  CHECK(hipStreamSynchronize(s));
  for (size_t i = 0; i < bytes; ++i) EXPECT(dst[i] == static_cast<uint8_t>(i ^ (i >> 8)));
  CHECK(hipStreamDestroy(s));
  CHECK(hipFree(a));
  CHECK(hipFree(b));
  CHECK(hipHostFree(src));
  CHECK(hipHostFree(dst));
  return 0;
}

int Events() {
  hipEvent_t start, stop;
  CHECK(hipEventCreate(&start));
  CHECK(hipEventCreate(&stop));
  const size_t bytes = 1 << 20;
  void* dev = nullptr;
  CHECK(hipMalloc(&dev, bytes));
  CHECK(hipEventRecord(start, nullptr));
  CHECK(hipMemset(dev, 1, bytes));
  CHECK(hipEventRecord(stop, nullptr));
  CHECK(hipEventSynchronize(stop));
  EXPECT(hipEventQuery(stop) == hipSuccess);
  float ms = -1;
  CHECK(hipEventElapsedTime(&ms, start, stop));
  printf("elapsed %.3f ms\n", ms);
  EXPECT(ms >= 0);
  CHECK(hipEventDestroy(start));
  CHECK(hipEventDestroy(stop));
  CHECK(hipFree(dev));
  return 0;
}

int Synchronize() {
  void* dev = nullptr;
  CHECK(hipMalloc(&dev, 1 << 20));
  for (int i = 0; i < 20; ++i) CHECK(hipMemsetAsync(dev, i, 1 << 20, nullptr));
  CHECK(hipDeviceSynchronize());
  uint8_t b = 0;
  CHECK(hipMemcpy(&b, static_cast<uint8_t*>(dev) + 12345, 1, hipMemcpyDeviceToHost));
  EXPECT(b == 19);
  CHECK(hipFree(dev));
  return 0;
}

int Managed() {
  const size_t n = 1 << 20;
  uint8_t* m = nullptr;
  CHECK(hipMallocManaged(reinterpret_cast<void**>(&m), n));
  for (size_t i = 0; i < n; ++i) m[i] = static_cast<uint8_t>(i);
  void* dev = nullptr;
  CHECK(hipMalloc(&dev, n));
  CHECK(hipMemcpy(dev, m, n, hipMemcpyDefault));
  CHECK(hipMemset(m, 0, n));
  CHECK(hipMemcpy(m, dev, n, hipMemcpyDefault));
  for (size_t i = 0; i < n; ++i) EXPECT(m[i] == static_cast<uint8_t>(i));
  CHECK(hipFree(dev));
  CHECK(hipFree(m));
  return 0;
}

// A kernel vkfd does not run: the launch must fail loudly (the runtime aborts naming the error, vkfd
// names the kernel), never hang.
int UserKernel() {
  float* dev = nullptr;
  CHECK(hipMalloc(&dev, 1024 * sizeof(float)));
  hipLaunchKernelGGL(Scale, dim3(4), dim3(256), 0, 0, dev, 2.0f, 1024);
  CHECK(hipDeviceSynchronize());
  printf("FAIL the user kernel completed\n");
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: hip_memory CASE\n");
    return 2;
  }
  setvbuf(stdout, nullptr, _IONBF, 0);
  const std::string c = argv[1];
  int r = 2;
  if (c == "properties") r = Properties();
  else if (c == "malloc") r = Malloc();
  else if (c == "hostmalloc") r = HostMalloc();
  else if (c == "hostregister") r = HostRegister();
  else if (c == "h2d-small") r = RoundTrip(4096, 5);
  else if (c == "h2d-large") r = RoundTrip(64 << 20, 9);
  else if (c == "d2d") r = DeviceToDevice();
  else if (c == "peer") r = Peer();
  else if (c == "memset") r = Memset();
  else if (c == "async-stream") r = AsyncStream();
  else if (c == "events") r = Events();
  else if (c == "synchronize") r = Synchronize();
  else if (c == "managed") r = Managed();
  else if (c == "user-kernel") r = UserKernel();
  else fprintf(stderr, "hip_memory: unknown case '%s'\n", c.c_str());
  if (r == 0) printf("PASS %s\n", c.c_str());
  return r;
}

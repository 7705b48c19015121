#include "base/user_memory.h"

#include <gtest/gtest.h>
#include <sys/mman.h>
#include <unistd.h>

#include <csignal>
#include <cstring>

namespace vkfd {
namespace {

uint64_t Addr(const void* p) { return reinterpret_cast<uint64_t>(p); }

TEST(UserMemoryTest, GoodPointersCopy) {
  char src[100];
  for (int i = 0; i < 100; ++i) src[i] = static_cast<char>(i);
  char dst[100] = {};
  ASSERT_TRUE(CopyFromUser(dst, Addr(src), sizeof(src)).ok());
  EXPECT_EQ(0, memcmp(src, dst, sizeof(src)));
  char out[37] = {};
  ASSERT_TRUE(CopyToUser(Addr(out), src + 3, sizeof(out)).ok());
  EXPECT_EQ(0, memcmp(out, src + 3, sizeof(out)));
}

TEST(UserMemoryTest, BadPointersGiveFault) {
  char buf[16];
  EXPECT_EQ(CopyFromUser(buf, 0, 8).code(), Code::kFault);
  EXPECT_EQ(CopyFromUser(buf, 8, 8).code(), Code::kFault);
  EXPECT_EQ(CopyToUser(0, buf, 8).code(), Code::kFault);
  EXPECT_EQ(CopyFromUser(buf, 0xffff800000000000ull, 8).code(), Code::kFault);
  EXPECT_EQ(CopyFromUser(buf, ~0ull - 3, 8).code(), Code::kFault);
  // A PROT_NONE page and a read-only page.
  long page = sysconf(_SC_PAGESIZE);
  void* none = mmap(nullptr, page, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  ASSERT_NE(none, MAP_FAILED);
  EXPECT_EQ(CopyFromUser(buf, Addr(none), 8).code(), Code::kFault);
  void* ro = mmap(nullptr, page, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  ASSERT_NE(ro, MAP_FAILED);
  EXPECT_TRUE(CopyFromUser(buf, Addr(ro), 8).ok());
  EXPECT_EQ(CopyToUser(Addr(ro), buf, 8).code(), Code::kFault);
  munmap(none, page);
  munmap(ro, page);
  // The thread is still healthy: a good copy after faults works.
  char again[8] = "abcdefg";
  ASSERT_TRUE(CopyFromUser(buf, Addr(again), 8).ok());
  EXPECT_STREQ(buf, "abcdefg");
}

TEST(UserMemoryTest, StraddlingAPageBoundaryFaults) {
  long page = sysconf(_SC_PAGESIZE);
  char* two = static_cast<char*>(
      mmap(nullptr, 2 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
  ASSERT_NE(two, MAP_FAILED);
  ASSERT_EQ(0, mprotect(two + page, page, PROT_NONE));
  char buf[16];
  EXPECT_EQ(CopyFromUser(buf, Addr(two + page - 8), 16).code(), Code::kFault);
  EXPECT_TRUE(CopyFromUser(buf, Addr(two + page - 8), 8).ok());
  munmap(two, 2 * page);
}

volatile sig_atomic_t g_program_handler_ran = 0;
void ProgramHandler(int) { g_program_handler_ran = 1; }

TEST(UserMemoryTest, ChainsToProgramHandlerForForeignFaults) {
  InstallFaultRecovery();
  struct sigaction act {};
  act.sa_handler = ProgramHandler;
  sigemptyset(&act.sa_mask);
  struct sigaction old {};
  ASSERT_EQ(0, SetChainedHandler(SIGBUS, &act, &old));
  // A SIGBUS not raised inside a copy goes to the program's handler.
  raise(SIGBUS);
  EXPECT_EQ(g_program_handler_ran, 1);
  ASSERT_EQ(0, SetChainedHandler(SIGBUS, &old, nullptr));
  EXPECT_EQ(-1, SetChainedHandler(SIGINT, &act, nullptr));
}

}  // namespace
}  // namespace vkfd

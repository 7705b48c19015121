// The tests a GoogleTest program would run with given arguments, as a child of it lists them: for the
// runners that start one process per test (fresh_process_main.cc, uapi/conformance_main.cc).
#pragma once

#include <stdio.h>
#include <unistd.h>

#include <string>
#include <vector>

namespace vkfd::testing {

inline std::string ShellQuote(const std::string& s) {
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

// The tests the arguments select (args[0] is the program), as a child lists them: "Suite.Name", in order.
inline bool ListTests(const std::vector<std::string>& args, std::vector<std::string>* names) {
  // Appended piece by piece: g++ 12 at -O3 warns falsely (-Wrestrict) on "literal" + std::string&&.
  std::string command = "VKFD_TEST_IN_PROCESS=1 exec /proc/";
  command += std::to_string(getpid());
  command += "/exe";
  for (size_t i = 1; i < args.size(); ++i) {
    command += ' ';
    command += ShellQuote(args[i]);
  }
  command += " --gtest_list_tests";
  FILE* list = popen(command.c_str(), "r");
  if (list == nullptr) return false;
  char line[1024];
  std::string suite;
  while (fgets(line, sizeof(line), list) != nullptr) {
    std::string text(line);
    while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
    if (text.empty()) continue;
    const bool is_test = text[0] == ' ';
    const size_t start = text.find_first_not_of(' ');
    const size_t end = text.find_first_of(" #", start);
    const std::string word = text.substr(start, end == std::string::npos ? end : end - start);
    if (!is_test) {
      suite = word;  // "Suite." (with its dot)
    } else if (word.rfind("DISABLED_", 0) != 0) {
      names->push_back(suite + word);
    }
  }
  return pclose(list) == 0;
}

}  // namespace vkfd::testing

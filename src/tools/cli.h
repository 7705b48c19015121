// What the vkfd commands share on top of CLI11: vkfd's help layout, and one way out of a parse.
// Help and --version go to stdout with exit 0; a usage error is one line "vkfd: ..." on stderr with
// exit 2, which scripts and tests/tools/vkfd_cli_test.sh rely on (CLI11's own App::exit() prints
// more lines and exits with codes of its own, 105 and up).
#pragma once

#include <CLI/CLI.hpp>
#include <cstddef>
#include <optional>
#include <string>

namespace vkfd::tools {

// A command's help, in the layout vkfd's help has always had:
//
//   <usage>
//
//   <about>
//
//   commands:    (its subcommands, each with its synopsis and description)
//   options:     (its options, then -h, --help)
//   <the app's footer>
//
// The app's own CLI11 description is the line its parent's help lists it with.
struct Help {
  std::string usage;                    // "usage: vkfd ..." (lines, no final newline)
  std::string about;                    // optional, no final newline
  std::string synopsis;                 // after the name in the parent's list of commands
  size_t column = 16;                   // where the descriptions start
  std::string help_flag = "this help";  // the description of -h, --help
};

// Gives `app` that help. Call it after adding the app's options: -h, --help is added again, so that
// the help lists it after them.
void SetHelp(CLI::App& app, Help help);

// Parses vkfd's command line with `vkfd`: nullopt if it parsed, else the exit status after printing
// what was asked for (help, version: stdout, 0) or the usage error (one line on stderr, 2).
std::optional<int> Parse(CLI::App& vkfd, int argc, char** argv);

}  // namespace vkfd::tools

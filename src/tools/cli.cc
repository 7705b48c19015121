#include "tools/cli.h"

#include <cstdio>
#include <memory>
#include <sstream>
#include <utility>
#include <vector>

#include "tools/commands.h"

namespace vkfd::tools {
namespace {

class HelpFormatter : public CLI::Formatter {
 public:
  explicit HelpFormatter(Help help) : help_(std::move(help)) { column_width(help_.column); }

  std::string make_help(const CLI::App* app, std::string, CLI::AppFormatMode mode) const override {
    std::string out = help_.usage + "\n";
    if (!help_.about.empty()) out += "\n" + help_.about + "\n";
    out += make_subcommands(app, mode);
    out += make_groups(app, mode);
    if (const std::string footer = make_footer(app); !footer.empty()) out += "\n" + footer;
    return out;
  }

  // A command in its parent's list: name and synopsis, then its description, on the next line if
  // they do not fit in the column (the synopsis may have lines of its own).
  std::string make_subcommand(const CLI::App* sub) const override {
    std::string name = sub->get_name();
    const auto* formatter = dynamic_cast<const HelpFormatter*>(sub->get_formatter().get());
    if (formatter != nullptr && !formatter->help_.synopsis.empty()) {
      name += " " + formatter->help_.synopsis;
    }
    std::ostringstream out;
    CLI::detail::format_help(out, name, sub->get_description(), column_width_);
    return out.str();
  }

  // "-h, --help" (CLI11 writes "-h,--help"), and a flag without the default value CLI11 shows after
  // it ("--log-ioctls{}"): its description says what the flag does without a value.
  std::string make_option_name(const CLI::Option* opt, bool positional) const override {
    std::string name = CLI::Formatter::make_option_name(opt, positional);
    for (size_t open; (open = name.find('{')) != std::string::npos;) {
      name.erase(open, name.find('}', open) - open + 1);
    }
    return CLI::detail::find_and_replace(name, ",", ", ");
  }

  // The value as the usage line names it: " N" from the type name, or the option text as it is
  // ("[=FILE]" for --log-ioctls). Not CLI11's additions (REQUIRED, Excludes: ...): the descriptions
  // say what matters.
  std::string make_option_opts(const CLI::Option* opt) const override {
    if (!opt->get_option_text().empty()) return opt->get_option_text();
    if (opt->get_expected_max() == 0) return {};  // a flag
    return " " + opt->get_type_name();
  }

 private:
  Help help_;
};

// The commands given, outermost first: {vkfd, run} for `vkfd run ...`. CLI11 records a subcommand
// as soon as it sees its name, so after a failed parse too.
std::vector<const CLI::App*> GivenCommands(const CLI::App& vkfd) {
  std::vector<const CLI::App*> chain = {&vkfd};
  while (!chain.back()->get_subcommands().empty()) {
    chain.push_back(chain.back()->get_subcommands().front());
  }
  return chain;
}

// "run", "topology show"; "" for vkfd itself.
std::string CommandPath(const std::vector<const CLI::App*>& chain, size_t depth) {
  std::string path;
  for (size_t i = 1; i <= depth; ++i) path += (i > 1 ? " " : "") + chain[i]->get_name();
  return path;
}

// "run: ", "topology show: ": what a usage error line starts with after "vkfd: ".
std::string CommandPrefix(const std::vector<const CLI::App*>& chain) {
  const std::string path = CommandPath(chain, chain.size() - 1);
  return path.empty() ? "" : path + ": ";
}

// CLI11's ExtrasError lists every word left over ("The following arguments were not expected:
// ..."), and names the command only in the exception's type name. vkfd names the first word, what
// it is taken for, and the command whose help to read.
std::optional<std::string> ExtrasMessage(const std::vector<const CLI::App*>& chain) {
  for (size_t depth = 0; depth < chain.size(); ++depth) {  // CLI11 checks from vkfd inwards
    const CLI::App& app = *chain[depth];
    for (const std::string& word : app.remaining()) {
      if (word == "--") continue;  // CLI11 keeps it among the leftovers, but not as one
      const std::string path = CommandPath(chain, depth);
      std::string message = path.empty() ? "" : path + ": ";
      if (word.size() > 1 && word[0] == '-') {
        message += "unknown option '" + word + "'";
      } else if (!app.get_subcommands({}).empty()) {
        message += "unknown command '" + word + "'";
      } else {
        message += "unexpected '" + word + "'";
      }
      return message + " (try 'vkfd " + (path.empty() ? "" : path + " ") + "--help')";
    }
  }
  return std::nullopt;
}

// CLI11 reads "--name=" as "--name" given no value: a flag takes its default (`--log-ioctls=` would
// log to stderr) and an option the next word (`--dma-latency= 2ms` would mean 2ms). vkfd has always
// refused an empty value. A command whose positionals end its options (run: from PROGRAM on, every
// word is the program's) keeps those words out of the check.
std::optional<std::string> EmptyValueOption(const std::vector<const CLI::App*>& chain, int argc,
                                            char** argv) {
  const CLI::App& command = *chain.back();
  size_t end = static_cast<size_t>(argc);
  if (command.get_positionals_at_end()) {
    for (const CLI::Option* opt :
         command.get_options([](const CLI::Option* o) { return o->get_positional(); })) {
      end -= opt->count();
    }
  }
  for (size_t i = 1; i < end; ++i) {
    const std::string word = argv[i];
    if (word.size() > 3 && word.rfind("--", 0) == 0 && word.find('=') == word.size() - 1) {
      return word;
    }
  }
  return std::nullopt;
}

std::string OneLine(std::string text) {
  for (char& c : text) {
    if (c == '\n') c = ' ';
  }
  return text;
}

}  // namespace

int UsageError(const std::string& message) {
  fprintf(stderr, "vkfd: %s\n", OneLine(message).c_str());
  return kExitUsage;
}

void SetHelp(CLI::App& app, Help help) {
  app.set_help_flag("-h,--help", help.help_flag);
  app.formatter(std::make_shared<HelpFormatter>(std::move(help)));
  if (app.get_parent() != nullptr) app.group("commands");
}

std::optional<int> Parse(CLI::App& vkfd, int argc, char** argv) {
  std::optional<std::string> error;
  try {
    vkfd.parse(argc, argv);
  } catch (const CLI::CallForHelp&) {
    // CLI11 hands help() to the command given: `vkfd run --help` prints run's.
    fputs(vkfd.help().c_str(), stdout);
    return 0;
  } catch (const CLI::CallForVersion& e) {
    printf("%s\n", e.what());
    return 0;
  } catch (const CLI::ExtrasError& e) {
    const auto chain = GivenCommands(vkfd);
    error = ExtrasMessage(chain).value_or(CommandPrefix(chain) + e.what());
  } catch (const CLI::ParseError& e) {
    // The message names the option: "--gpus: expected a number from 1 to 16, got '0'".
    error = CommandPrefix(GivenCommands(vkfd)) + e.what();
  }
  // Before CLI11's error, which may be about what it made of the words after the empty value: in
  // `--gpus= -- true`, "--" is the value.
  const auto chain = GivenCommands(vkfd);
  if (const auto word = EmptyValueOption(chain, argc, argv)) {
    return UsageError(CommandPrefix(chain) + *word + " needs a value");
  }
  if (error) return UsageError(*error);
  return std::nullopt;
}

}  // namespace vkfd::tools

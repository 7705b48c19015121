#include "uapi/fault_spec.h"

#include <signal.h>

#include <cstdio>
#include <cstdlib>

#include "base/parse.h"
#include "kfd/fault_points.h"
#include "uapi/errno_table.h"

namespace vkfd::uapi {
namespace {

struct SignalName {
  const char* name;
  int signo;
};
const SignalName kSignalNames[] = {
    {"SIGUSR1", SIGUSR1}, {"SIGUSR2", SIGUSR2}, {"SIGALRM", SIGALRM},
    {"SIGCHLD", SIGCHLD}, {"SIGINT", SIGINT},   {"SIGTERM", SIGTERM},
};

int SignalByName(std::string_view name) {
  for (const auto& s : kSignalNames) {
    if (name == s.name) return s.signo;
  }
  if (name.substr(0, 8) == "SIGRTMIN") {
    if (name.size() == 8) return SIGRTMIN;
    const std::optional<uint64_t> plus = name[8] == '+' ? ParseU64(name.substr(9)) : std::nullopt;
    if (plus && *plus <= uint64_t(SIGRTMAX - SIGRTMIN)) return SIGRTMIN + int(*plus);
  }
  return 0;
}

// Message pieces are appended, not concatenated with operator+ on literals: GCC 12 at -O3 reports a
// false -Wrestrict inside those (GCC bug 105329).
std::string Quoted(std::string_view text) {
  std::string s;
  s += '\'';
  s += text;
  s += '\'';
  return s;
}

std::string Join(const std::vector<std::string>& names) {
  std::string s;
  for (const std::string& n : names) {
    if (!s.empty()) s += ", ";
    s += n;
  }
  return s;
}

Expected<void> ParseOption(std::string_view opt, FaultRule* rule) {
  const size_t eq = opt.find('=');
  if (eq == std::string_view::npos) return Fail("option " + Quoted(opt) + " needs '='");
  const std::string_view key = opt.substr(0, eq), value = opt.substr(eq + 1);
  const std::optional<uint64_t> n = ParseU64(value);
  if (key == "gpu" && n && *n < 64) {
    rule->gpu = static_cast<int>(*n);
  } else if (key == "nth" && n && *n > 0) {
    rule->nth = *n;
  } else if (key == "every" && n && *n > 0) {
    rule->every = *n;
  } else if (key == "times" && n && *n > 0) {
    rule->times = *n;
  } else if (key == "p") {
    char* end = nullptr;
    const std::string v(value);
    const double p = strtod(v.c_str(), &end);
    if (end == v.c_str() || *end != '\0' || !(p >= 0 && p <= 1)) {
      return Fail("p=" + Quoted(v) + " must be a number in [0, 1]");
    }
    rule->probability = p;
  } else {
    return Fail("bad option " + Quoted(opt) + " (valid: gpu=N, nth=N, every=K, p=FLOAT, times=N)");
  }
  return {};
}

Expected<void> ParseEffect(std::string_view effect, kfd::FaultPoint point, FaultEffect* out) {
  out->text = std::string(effect);
  if (effect.substr(0, 6) == "delay=") {
    out->kind = FaultEffect::Kind::kDelay;
    const std::optional<uint64_t> ns = ParseDurationNs(effect.substr(6));
    if (!ns) return Fail("bad duration in " + Quoted(effect) + " (e.g. delay=200us)");
    out->delay_ns = *ns;
    return {};
  }
  if (effect.substr(0, 7) == "signal=") {
    out->kind = FaultEffect::Kind::kSignal;
    out->signo = SignalByName(effect.substr(7));
    if (out->signo == 0) {
      return Fail("unknown signal in " + Quoted(effect) +
                  " (SIGUSR1, SIGUSR2, SIGALRM, SIGCHLD, SIGINT, SIGTERM, SIGRTMIN[+N])");
    }
    return {};
  }
  out->kind = FaultEffect::Kind::kError;
  const std::optional<Code> code = CodeForErrnoName(effect);
  for (Code allowed : kfd::AllowedCodes(point)) {
    if (code && *code == allowed) {
      out->error = allowed;
      return {};
    }
  }
  std::vector<std::string> names;
  for (Code allowed : kfd::AllowedCodes(point)) names.emplace_back(ErrnoNameFor(allowed));
  std::string message = Quoted(effect);
  message += " cannot happen at ";
  message += kfd::FaultPointName(point);
  message += " (the driver can return: ";
  message += Join(names);
  message += "; or delay=DURATION, signal=SIG)";
  return Fail(std::move(message));
}

Expected<FaultRule> ParseRule(std::string_view text) {
  FaultRule rule;
  const size_t colon = text.find(':');
  if (colon == std::string_view::npos) return Fail(Quoted(text) + ": missing ':EFFECT'");
  std::string_view head = TrimBlanks(text.substr(0, colon));
  const std::string_view effect = TrimBlanks(text.substr(colon + 1));
  std::string_view options;
  if (const size_t bracket = head.find('['); bracket != std::string_view::npos) {
    if (head.back() != ']') return Fail(Quoted(head) + ": missing ']'");
    options = head.substr(bracket + 1, head.size() - bracket - 2);
    head = TrimBlanks(head.substr(0, bracket));
  }
  const std::optional<kfd::FaultPoint> point = kfd::FaultPointByName(head);
  if (!point) {
    return Fail("unknown point " + Quoted(head) + " (valid: " + Join(FaultPointNames()) + ")");
  }
  rule.point = static_cast<FaultPointId>(*point);
  while (!options.empty()) {
    const size_t comma = options.find(',');
    const std::string_view opt = TrimBlanks(options.substr(0, comma));
    options = comma == std::string_view::npos ? std::string_view() : options.substr(comma + 1);
    if (Expected<void> parsed = ParseOption(opt, &rule); !parsed.ok()) return Fail(parsed.error());
  }
  if (int(rule.nth != 0) + int(rule.every != 0) + int(rule.probability >= 0) > 1) {
    return Fail(Quoted(head) + ": choose one of nth, every, p");
  }
  if (Expected<void> parsed = ParseEffect(effect, *point, &rule.effect); !parsed.ok()) {
    return Fail(parsed.error());
  }
  return rule;
}

}  // namespace

std::vector<std::string> FaultPointNames() {
  std::vector<std::string> names;
  for (kfd::FaultPoint p : kfd::AllFaultPoints()) names.emplace_back(kfd::FaultPointName(p));
  return names;
}

Expected<std::vector<FaultRule>> ParseFaultSpec(std::string_view spec) {
  std::vector<FaultRule> rules;
  std::string_view rest = spec;
  while (!TrimBlanks(rest).empty()) {
    const size_t semi = rest.find(';');
    const std::string_view text = TrimBlanks(rest.substr(0, semi));
    rest = semi == std::string_view::npos ? std::string_view() : rest.substr(semi + 1);
    if (text.empty()) continue;
    Expected<FaultRule> rule = ParseRule(text);
    if (!rule.ok()) return Fail(rule.error());
    rules.push_back(std::move(rule).value());
  }
  return rules;
}

Expected<void> ArmFaultInjection(std::string_view spec, uint64_t seed) {
  Expected<std::vector<FaultRule>> rules = ParseFaultSpec(spec);
  if (!rules.ok()) return Fail(rules.error());
  FaultInjector::Global().Arm(std::move(rules).value(), seed, std::string(spec));
  return {};
}

std::string FormatFaultRecord(const FaultRecord& r) {
  char line[200];
  snprintf(line, sizeof(line), "%s call=%llu gpu=%d effect=%s",
           kfd::FaultPointName(static_cast<kfd::FaultPoint>(r.point)),
           static_cast<unsigned long long>(r.call), r.gpu, r.effect.c_str());
  return line;
}

}  // namespace vkfd::uapi

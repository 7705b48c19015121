#include "base/fault_injector.h"

#include <signal.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace vkfd {
namespace {

constexpr const char* kPointNames[] = {
    "alloc.reserve", "alloc.backing", "map.peer_access", "map.page_tables", "dma.submit",
    "dma.job",       "map.wait",      "unmap.gpu",       "unmap.wait",      "free",
};
static_assert(sizeof(kPointNames) / sizeof(kPointNames[0]) == static_cast<size_t>(FaultPoint::kCount));

struct CodeEntry {
  const char* name;
  Code code;
};
constexpr CodeEntry kCodeNames[] = {
    {"EINVAL", Code::kInvalidArgs}, {"ENOMEM", Code::kNoMemory},  {"EBUSY", Code::kBusy},
    {"ENODEV", Code::kNoDevice},    {"EFAULT", Code::kFault},     {"EPERM", Code::kPermission},
    {"EINTR", Code::kInterrupted},  {"EIO", Code::kIo},           {"ENOSPC", Code::kNoSpace},
    {"ETIME", Code::kTimedOut},
};

struct SignalName {
  const char* name;
  int signo;
};
const SignalName kSignalNames[] = {
    {"SIGUSR1", SIGUSR1}, {"SIGUSR2", SIGUSR2}, {"SIGALRM", SIGALRM},
    {"SIGCHLD", SIGCHLD}, {"SIGINT", SIGINT},   {"SIGTERM", SIGTERM},
};

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

bool ParseU64(std::string_view s, uint64_t* out) {
  if (s.empty() || s.size() > 19) return false;
  uint64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + uint64_t(c - '0');
  }
  *out = v;
  return true;
}

bool ParseDuration(std::string_view s, uint64_t* ns) {
  size_t digits = 0;
  while (digits < s.size() && s[digits] >= '0' && s[digits] <= '9') ++digits;
  uint64_t value;
  if (!ParseU64(s.substr(0, digits), &value)) return false;
  std::string_view unit = s.substr(digits);
  uint64_t scale;
  if (unit == "ns") scale = 1;
  else if (unit == "us") scale = 1000;
  else if (unit == "ms") scale = 1000000;
  else if (unit == "s") scale = 1000000000;
  else if (unit.empty() && value == 0) scale = 1;
  else return false;
  *ns = value * scale;
  return true;
}

int SignalByName(std::string_view name) {
  for (const auto& s : kSignalNames) {
    if (name == s.name) return s.signo;
  }
  if (name.substr(0, 8) == "SIGRTMIN") {
    uint64_t plus = 0;
    if (name.size() == 8) return SIGRTMIN;
    if (name[8] == '+' && ParseU64(name.substr(9), &plus) && SIGRTMIN + int(plus) <= SIGRTMAX) {
      return SIGRTMIN + int(plus);
    }
  }
  return 0;
}

const char* NameOfCode(Code code) {
  for (const auto& c : kCodeNames) {
    if (c.code == code) return c.name;
  }
  return ::vkfd::CodeName(code);
}

// Delivers `signo` to the calling thread now, as a pending signal during the wait would be. Returns true
// when a handler without SA_RESTART ran — then the kernel's wait would return -ERESTARTSYS → EINTR.
bool DeliverSignal(int signo) {
  struct sigaction current {};
  sigaction(signo, nullptr, &current);
  syscall(SYS_tgkill, getpid(), syscall(SYS_gettid), signo);
  const bool has_handler = (current.sa_flags & SA_SIGINFO) ? current.sa_sigaction != nullptr
                                                           : (current.sa_handler != SIG_DFL &&
                                                              current.sa_handler != SIG_IGN);
  return has_handler && !(current.sa_flags & SA_RESTART);
}

}  // namespace

std::atomic<bool> FaultInjector::armed_{false};

const char* FaultPointName(FaultPoint point) { return kPointNames[static_cast<int>(point)]; }

std::vector<std::string> FaultPointNames() {
  return std::vector<std::string>(std::begin(kPointNames), std::end(kPointNames));
}

FaultInjector& FaultInjector::Global() {
  static FaultInjector* injector = new FaultInjector();  // never destroyed: used until exit
  return *injector;
}

std::vector<Code> FaultInjector::AllowedCodes(FaultPoint point) {
  switch (point) {
    case FaultPoint::kAllocReserve: return {Code::kNoMemory};
    case FaultPoint::kAllocBacking: return {Code::kNoMemory, Code::kFault, Code::kBusy};
    case FaultPoint::kMapPeerAccess: return {Code::kInvalidArgs};
    case FaultPoint::kMapPageTables: return {Code::kNoMemory, Code::kInvalidArgs, Code::kInterrupted};
    case FaultPoint::kDmaSubmit: return {Code::kNoMemory, Code::kInterrupted};
    case FaultPoint::kDmaJob: return {Code::kIo, Code::kNoMemory};
    case FaultPoint::kMapWait: return {Code::kInterrupted};
    case FaultPoint::kUnmapGpu: return {Code::kNoMemory, Code::kInterrupted};
    case FaultPoint::kUnmapWait: return {Code::kInterrupted};
    case FaultPoint::kFree: return {Code::kInterrupted, Code::kNoMemory};
    case FaultPoint::kCount: break;
  }
  return {};
}

bool FaultInjector::ParseRules(std::string_view spec, std::vector<Rule>* out, std::string* error) {
  std::vector<Rule> rules;
  auto fail = [&](const std::string& what) {
    if (error) *error = what;
    return false;
  };
  std::string_view rest = spec;
  while (!Trim(rest).empty()) {
    const size_t semi = rest.find(';');
    std::string_view text = Trim(rest.substr(0, semi));
    rest = semi == std::string_view::npos ? std::string_view() : rest.substr(semi + 1);
    if (text.empty()) continue;
    Rule rule;
    const size_t colon = text.find(':');
    if (colon == std::string_view::npos) return fail("'" + std::string(text) + "': missing ':EFFECT'");
    std::string_view head = Trim(text.substr(0, colon));
    std::string_view effect = Trim(text.substr(colon + 1));
    std::string_view options;
    if (const size_t bracket = head.find('['); bracket != std::string_view::npos) {
      if (head.back() != ']') return fail("'" + std::string(head) + "': missing ']'");
      options = head.substr(bracket + 1, head.size() - bracket - 2);
      head = Trim(head.substr(0, bracket));
    }
    bool known = false;
    for (int i = 0; i < static_cast<int>(FaultPoint::kCount); ++i) {
      if (head == kPointNames[i]) {
        rule.point = static_cast<FaultPoint>(i);
        known = true;
      }
    }
    if (!known) {
      std::string names;
      for (const char* n : kPointNames) names += std::string(names.empty() ? "" : ", ") + n;
      return fail("unknown point '" + std::string(head) + "' (valid: " + names + ")");
    }
    while (!options.empty()) {
      const size_t comma = options.find(',');
      std::string_view opt = Trim(options.substr(0, comma));
      options = comma == std::string_view::npos ? std::string_view() : options.substr(comma + 1);
      const size_t eq = opt.find('=');
      if (eq == std::string_view::npos) return fail("option '" + std::string(opt) + "' needs '='");
      std::string_view key = opt.substr(0, eq), value = opt.substr(eq + 1);
      uint64_t n = 0;
      if (key == "gpu" && ParseU64(value, &n) && n < 64) {
        rule.gpu = static_cast<int>(n);
      } else if (key == "nth" && ParseU64(value, &n) && n > 0) {
        rule.nth = n;
      } else if (key == "every" && ParseU64(value, &n) && n > 0) {
        rule.every = n;
      } else if (key == "times" && ParseU64(value, &n) && n > 0) {
        rule.times = n;
      } else if (key == "p") {
        char* end = nullptr;
        const std::string v(value);
        const double p = strtod(v.c_str(), &end);
        if (end == v.c_str() || *end != '\0' || !(p >= 0 && p <= 1)) {
          return fail("p='" + v + "' must be a number in [0, 1]");
        }
        rule.probability = p;
      } else {
        return fail("bad option '" + std::string(opt) +
                    "' (valid: gpu=N, nth=N, every=K, p=FLOAT, times=N)");
      }
    }
    if (int(rule.nth != 0) + int(rule.every != 0) + int(rule.probability >= 0) > 1) {
      return fail("'" + std::string(head) + "': choose one of nth, every, p");
    }
    rule.effect_text = std::string(effect);
    if (effect.substr(0, 6) == "delay=") {
      rule.kind = Rule::Kind::kDelay;
      if (!ParseDuration(effect.substr(6), &rule.delay_ns)) {
        return fail("bad duration in '" + std::string(effect) + "' (e.g. delay=200us)");
      }
    } else if (effect.substr(0, 7) == "signal=") {
      rule.kind = Rule::Kind::kSignal;
      rule.signo = SignalByName(effect.substr(7));
      if (rule.signo == 0) {
        return fail("unknown signal in '" + std::string(effect) +
                    "' (SIGUSR1, SIGUSR2, SIGALRM, SIGCHLD, SIGINT, SIGTERM, SIGRTMIN[+N])");
      }
    } else {
      rule.kind = Rule::Kind::kError;
      bool found = false;
      for (const auto& c : kCodeNames) {
        if (effect == c.name) {
          rule.error = c.code;
          found = true;
        }
      }
      const auto allowed = AllowedCodes(rule.point);
      bool ok = false;
      for (Code c : allowed) ok |= found && c == rule.error;
      if (!ok) {
        std::string names;
        for (Code c : allowed) names += std::string(names.empty() ? "" : ", ") + NameOfCode(c);
        return fail("'" + std::string(effect) + "' cannot happen at " + kPointNames[int(rule.point)] +
                    " (the driver can return: " + names + "; or delay=DURATION, signal=SIG)");
      }
    }
    rules.push_back(rule);
  }
  *out = std::move(rules);
  return true;
}

bool FaultInjector::Validate(std::string_view spec, std::string* error) {
  std::vector<Rule> rules;
  return ParseRules(spec, &rules, error);
}

bool FaultInjector::Configure(std::string_view spec, uint64_t seed, std::string* error) {
  std::vector<Rule> rules;
  if (!ParseRules(spec, &rules, error)) return false;
  MutexLock lock(&mu_);
  rules_ = std::move(rules);
  seed_ = seed;
  spec_ = std::string(spec);
  rng_ = seed ^ 0x9e3779b97f4a7c15ull;
  for (auto& r : reached_) r = 0;
  log_.clear();
  fired_total_ = 0;
  log_full_reported_ = false;
  armed_.store(!rules_.empty(), std::memory_order_relaxed);
  return true;
}

bool FaultInjector::ConfigureFromEnvironment(std::string* error) {
  const char* spec = getenv("VKFD_INJECT");
  if (spec == nullptr || *spec == '\0') return true;
  uint64_t seed = 0;
  const char* seed_text = getenv("VKFD_INJECT_SEED");
  if (seed_text == nullptr || !ParseU64(seed_text, &seed)) {
    timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    seed = uint64_t(ts.tv_nsec) ^ (uint64_t(getpid()) << 32);
  }
  return Configure(spec, seed, error);
}

void FaultInjector::Reset() {
  MutexLock lock(&mu_);
  rules_.clear();
  log_.clear();
  fired_total_ = 0;
  log_full_reported_ = false;
  armed_.store(false, std::memory_order_relaxed);
}

double FaultInjector::NextRandom() {
  // splitmix64: small, fast, and the same sequence for the same seed everywhere.
  uint64_t z = (rng_ += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  z ^= z >> 31;
  return double(z >> 11) * (1.0 / 9007199254740992.0);
}

FaultInjector::Decision FaultInjector::CheckSlow(FaultPoint point, int gpu) {
  Rule fired;
  uint64_t call = 0;
  bool fire = false;
  Sink sink;
  std::string sink_effect;
  {
    MutexLock lock(&mu_);
    ++reached_[static_cast<int>(point)];
    for (Rule& rule : rules_) {
      if (rule.point != point || (rule.gpu >= 0 && rule.gpu != gpu)) continue;
      ++rule.calls;
      if (rule.times != 0 && rule.fired >= rule.times) continue;
      bool now;
      if (rule.nth != 0) now = rule.calls == rule.nth;
      else if (rule.every != 0) now = rule.calls % rule.every == 0;
      else if (rule.probability >= 0) now = NextRandom() < rule.probability;
      else now = true;
      if (!now) continue;
      ++rule.fired;
      fired = rule;
      call = rule.calls;
      fire = true;
      // The log is bounded: a rule that fires on every call of a retry loop must not eat the host.
      ++fired_total_;
      if (log_.size() < kMaxLogRecords) {
        log_.push_back(FaultRecord{point, call, gpu, rule.effect_text});
        sink = sink_;
        sink_effect = rule.effect_text;
      } else if (!log_full_reported_) {
        log_full_reported_ = true;
        sink = sink_;
        sink_effect = rule.effect_text + " (log full: later firings are counted, not logged)";
      }
      break;
    }
  }
  Decision decision;
  if (!fire) return decision;
  if (sink) sink(FaultRecord{point, call, gpu, sink_effect});
  switch (fired.kind) {
    case Rule::Kind::kError:
      decision.error = fired.error;
      break;
    case Rule::Kind::kDelay: {
      timespec ts{static_cast<time_t>(fired.delay_ns / 1000000000),
                  static_cast<long>(fired.delay_ns % 1000000000)};
      while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
      }
      break;
    }
    case Rule::Kind::kSignal:
      decision.interrupted = DeliverSignal(fired.signo);
      break;
  }
  return decision;
}

uint64_t FaultInjector::fired() const {
  MutexLock lock(&mu_);
  return fired_total_;
}

uint64_t FaultInjector::seed() const {
  MutexLock lock(&mu_);
  return seed_;
}

std::vector<FaultRecord> FaultInjector::log() const {
  MutexLock lock(&mu_);
  return log_;
}

std::string FaultInjector::spec() const {
  MutexLock lock(&mu_);
  return spec_;
}

void FaultInjector::set_sink(Sink sink) {
  MutexLock lock(&mu_);
  sink_ = std::move(sink);
}

std::string FaultInjector::FormatRecord(const FaultRecord& r) {
  char line[160];
  snprintf(line, sizeof(line), "%s call=%llu gpu=%d effect=%s", FaultPointName(r.point),
           static_cast<unsigned long long>(r.call), r.gpu, r.effect.c_str());
  return line;
}

std::string FaultInjector::LogText() const {
  MutexLock lock(&mu_);
  std::string text;
  for (const FaultRecord& r : log_) text += FormatRecord(r) + "\n";
  return text;
}

uint64_t FaultInjector::reached(FaultPoint point) const {
  MutexLock lock(&mu_);
  return reached_[static_cast<int>(point)];
}

}  // namespace vkfd

#include "base/parse.h"

#include <limits>
#include <utility>

namespace vkfd {
namespace {

constexpr uint64_t kKiB = 1024;
constexpr uint64_t kMiB = kKiB << 10;
constexpr uint64_t kGiB = kMiB << 10;

// Splits "<digits><blanks><unit>"; fails on no digits, signs, or a value above 2^64 - 1.
bool SplitNumber(std::string_view text, uint64_t* number, std::string_view* unit) {
  text = TrimBlanks(text);
  size_t pos = 0;
  uint64_t value = 0;
  while (pos < text.size() && text[pos] >= '0' && text[pos] <= '9') {
    const uint64_t digit = static_cast<uint64_t>(text[pos] - '0');
    if (value > (std::numeric_limits<uint64_t>::max() - digit) / 10) return false;
    value = value * 10 + digit;
    ++pos;
  }
  if (pos == 0) return false;
  *number = value;
  *unit = TrimBlanks(text.substr(pos));
  return true;
}

std::optional<uint64_t> Scale(uint64_t number, uint64_t factor) {
  if (number > std::numeric_limits<uint64_t>::max() / factor) return std::nullopt;
  return number * factor;
}

}  // namespace

std::string_view TrimBlanks(std::string_view text) {
  constexpr std::string_view kBlanks = " \t";
  const size_t first = text.find_first_not_of(kBlanks);
  if (first == std::string_view::npos) return {};
  return text.substr(first, text.find_last_not_of(kBlanks) - first + 1);
}

std::optional<uint64_t> ParseU64(std::string_view text) {
  uint64_t number = 0;
  std::string_view unit;
  if (text.empty() || text.front() < '0' || text.front() > '9' || text.back() < '0' ||
      text.back() > '9') {
    return std::nullopt;
  }
  if (!SplitNumber(text, &number, &unit) || !unit.empty()) return std::nullopt;
  return number;
}

std::optional<uint64_t> ParseSize(std::string_view text) {
  static constexpr std::pair<std::string_view, uint64_t> kUnits[] = {
      {"", 1},       {"B", 1},    {"K", kKiB},   {"KiB", kKiB},     {"M", kMiB},
      {"MiB", kMiB}, {"G", kGiB}, {"GiB", kGiB}, {"T", kGiB << 10}, {"TiB", kGiB << 10}};
  uint64_t number = 0;
  std::string_view unit;
  if (!SplitNumber(text, &number, &unit)) return std::nullopt;
  for (const auto& [name, factor] : kUnits) {
    if (unit == name) return Scale(number, factor);
  }
  return std::nullopt;
}

std::optional<uint64_t> ParseDurationNs(std::string_view text) {
  static constexpr std::pair<std::string_view, uint64_t> kUnits[] = {
      {"ns", 1}, {"us", 1000}, {"ms", 1000 * 1000}, {"s", 1000 * 1000 * 1000}};
  uint64_t number = 0;
  std::string_view unit;
  if (!SplitNumber(text, &number, &unit)) return std::nullopt;
  if (unit.empty()) return number == 0 ? std::optional<uint64_t>(0) : std::nullopt;
  for (const auto& [name, factor] : kUnits) {
    if (unit == name) return Scale(number, factor);
  }
  return std::nullopt;
}

}  // namespace vkfd

// Parsing of the few kinds of numbers people write in vkfd's inputs (topology files, the command line,
// fault specs, environment variables): plain decimal integers, sizes and durations. The one home for
// them; each returns nullopt for anything it does not accept, and the caller, who knows what the
// number was for, says so in its message.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace vkfd {

// "42": decimal digits only (no sign, no spaces, no unit), at most 2^64 - 1.
std::optional<uint64_t> ParseU64(std::string_view text);
// "64GiB", "256 MiB", "4096", "4096B", "2G", "16KiB", "1T". Binary units only: "GB" is rejected
// rather than guessed at. Leading and trailing blanks are allowed; overflow is rejected.
std::optional<uint64_t> ParseSize(std::string_view text);
// Nanoseconds of "200us", "1ms", "50ns", "2s", "0". A unitless number other than 0 is rejected as
// ambiguous; overflow is rejected.
std::optional<uint64_t> ParseDurationNs(std::string_view text);
// Leading and trailing blanks (spaces, tabs) removed.
std::string_view TrimBlanks(std::string_view text);

}  // namespace vkfd

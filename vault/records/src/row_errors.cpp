// Every bad row of an import in one run; see row_errors.h.
#include "row_errors.h"

#include <algorithm>

namespace coffer::vault::detail {

void RowErrors::record(std::string_view message) {
  if (in_row_) row_failed_ = true;
  ++total_;
  if (errors_.size() >= kMaxListed) return;
  // One line per error: a line break inside (a quoted header cell in a
  // message) must not start a line of its own.
  std::string line(message);
  std::replace_if(
      line.begin(), line.end(), [](char c) { return c == '\n' || c == '\r'; }, ' ');
  errors_.push_back(std::move(line));
}

void RowErrors::count_row(const std::string& file) {
  auto it = std::find_if(bad_.begin(), bad_.end(), [&](const auto& b) { return b.first == file; });
  if (it == bad_.end()) bad_.emplace_back(file, 1);
  else ++it->second;
}

void RowErrors::add(std::string_view file, std::string_view message) {
  const bool was_in_row = in_row_;
  in_row_ = false;
  record(message);
  in_row_ = was_in_row;
  count_row(std::string(file));
}

std::size_t RowErrors::rows() const {
  std::size_t n = 0;
  for (auto& b : bad_) n += b.second;
  return n;
}

std::string RowErrors::message() const {
  if (errors_.empty()) return "";
  std::string out;
  for (auto& e : errors_) out += e + "\n";
  if (total_ > errors_.size()) {
    std::size_t more = total_ - errors_.size();
    out += "and " + std::to_string(more) + " more error" + (more == 1 ? "" : "s") + "\n";
  }
  std::string where;
  for (std::size_t i = 0; i < bad_.size(); ++i) {
    if (i) where += i + 1 == bad_.size() ? " and " : ", ";
    where += std::to_string(bad_[i].second) + " " + unit_ + (bad_[i].second == 1 ? "" : "s") + " in " + bad_[i].first;
  }
  return out + where + " could not be read; nothing was imported";
}

void RowErrors::throw_if_any() const {
  if (!errors_.empty()) throw Error(ErrorCode::kUsage, message());
}

}  // namespace coffer::vault::detail

// Every bad row of an import in one run. An importer reads each row (a CSV
// line, a CTF <Pupil>) inside RowErrors::row(); a coffer::Error(kUsage) the
// row throws is recorded and the import goes on with the next row. At the
// end, throw_if_any() throws one Error(kUsage) that lists every error and a
// summary, so IT fixes the whole export at once, and nothing is imported.
// Private to the importers.
//
// Converting a throw-on-first-error importer:
//
//   detail::RowErrors errors;                       // "row"s ("pupil"s for XML)
//   for (auto& r : table.rows)
//     errors.row(table.file, [&] {                  // throws inside are recorded
//       ... read the row as before, throwing Error(kUsage, where + what) ...
//       data.pupils.push_back(std::move(p));        // only rows that read whole
//     });
//   errors.throw_if_any();                          // before any whole-source check
//
// A `continue` in the old loop body becomes `return` in the lambda. Call
// throw_if_any() before require_selection_found(): a selected pupil whose
// row failed is not in data.pupils and would otherwise be reported missing.
//
// Inside a row, errors.cell([&] { return parse_x(...); }) records an error
// and goes on with the row (returning a default value), so a row with a bad
// date and a bad sex shows both; use it where the rest of the row still
// makes sense without the value. Errors that are not about one row (a bad
// header, malformed CSV, a missing file) are still thrown at once.
//
// The thrown message, one line each (no line holds a newline of its own):
//
//   census.csv:14: column DOB (5): not a date in DD/MM/YYYY form ...
//   census.csv:15: column DOB (5): not a date in DD/MM/YYYY form ...
//   ... (at most kMaxListed errors, then:)
//   and 3 more errors
//   43 rows in census.csv could not be read; nothing was imported
//
// The first line is the first error, as a single error's message was before.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "coffer/error.h"

namespace coffer::vault::detail {

class RowErrors {
 public:
  // Errors listed in the message; the others are counted ("and N more").
  static constexpr std::size_t kMaxListed = 100;

  // `unit`: what the summary counts, singular ("row", or "pupil" for a
  // CTF); the plural adds "s".
  explicit RowErrors(std::string unit = "row") : unit_(std::move(unit)) {}

  // Runs `read` (no arguments) for one row of `file` (the name messages use).
  // An Error(kUsage) it throws is recorded; any other exception propagates.
  // Returns true when the row read without error (neither thrown nor
  // recorded by cell()).
  template <class F>
  bool row(std::string_view file, F&& read) {
    current_ = std::string(file);
    row_failed_ = false;
    in_row_ = true;
    try {
      std::forward<F>(read)();
    } catch (const Error& e) {
      if (e.code() != ErrorCode::kUsage) {
        in_row_ = false;
        throw;
      }
      record(e.what());
    } catch (...) {
      in_row_ = false;
      throw;
    }
    in_row_ = false;
    if (row_failed_) count_row(current_);
    return !row_failed_;
  }

  // Inside row(): runs `read`; when it throws Error(kUsage) the error is
  // recorded against the row and a value-initialised result is returned,
  // so the row goes on. Outside row() it only runs `read` (errors propagate).
  template <class F>
  std::invoke_result_t<F> cell(F&& read) {
    using T = std::invoke_result_t<F>;
    if (!in_row_) return std::forward<F>(read)();
    try {
      return std::forward<F>(read)();
    } catch (const Error& e) {
      if (e.code() != ErrorCode::kUsage) throw;
      record(e.what());
      if constexpr (!std::is_void_v<T>) return T{};
    }
  }

  // Records one error of a row of `file` that the importer found itself
  // (outside row()); it counts as one more bad row.
  void add(std::string_view file, std::string_view message);

  bool empty() const { return errors_.empty(); }
  std::size_t errors() const { return total_; }  // every error, listed or not
  std::size_t rows() const;                      // bad rows, every file
  // The message throw_if_any() throws ("" when there is no error).
  std::string message() const;
  // Throws Error(kUsage, message()) when any error was recorded.
  void throw_if_any() const;

 private:
  void record(std::string_view message);
  void count_row(const std::string& file);

  std::string unit_;
  std::vector<std::string> errors_;                       // the first kMaxListed
  std::size_t total_ = 0;                                 // all of them
  std::vector<std::pair<std::string, std::size_t>> bad_;  // file -> bad rows, in first-seen order
  std::string current_;
  bool in_row_ = false;
  bool row_failed_ = false;
};

}  // namespace coffer::vault::detail

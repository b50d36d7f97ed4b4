// A whole CSV file as rows with line numbers, parsed by libcsv in strict
// RFC 4180 mode. Private to the importers: each then maps header names to
// canonical fields. Leading "#" lines before the header are comments (the
// coffer-csv contract declares its date format there).
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "coffer/vault/records/import.h"

namespace coffer::vault::detail {

struct CsvRow {
  std::size_t line = 0;  // where the row starts (1-based)
  std::vector<std::string> cells;
};

struct CsvTable {
  std::string file;
  std::vector<std::string> comments;  // "#" lines before the header, without "#"
  std::size_t header_line = 0;
  std::vector<std::string> header;
  std::vector<CsvRow> rows;

  // Index of the column with exactly this name, if any.
  std::optional<std::size_t> column(std::string_view name) const;
  // "file:line: " for messages.
  std::string where(const CsvRow& row) const;
  std::string where(const CsvRow& row, std::size_t column) const;  // adds "column NAME (n): "
};

// Throws Error(kUsage) naming the file and line for malformed CSV, invalid
// UTF-8, a row whose cell count differs from the header's, an empty header
// or duplicate header names. Empty cells at the end of the header row are
// no columns: a row may leave them out or leave them empty, and a value in
// one is an error naming its line and column number.
CsvTable parse_csv(const SourceFile& file);

// Splits a multi-value cell on ';', trimming spaces and dropping empties.
std::vector<std::string> split_list(std::string_view cell);
std::string trim(std::string_view s);

}  // namespace coffer::vault::detail

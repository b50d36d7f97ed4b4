// CSV parsing for the importers; see csv_table.h. libcsv does the RFC 4180
// work; this adds line numbers (it reports none), a BOM, comment lines and
// UTF-8 validation, so every error can say file and line.
#include "csv_table.h"

#include <csv.h>

#include <algorithm>
#include <set>

#include "coffer/error.h"

namespace coffer::vault::detail {
namespace {

// The offset of the first byte that is not valid UTF-8, or npos.
std::size_t invalid_utf8_at(std::string_view s) {
  std::size_t i = 0;
  while (i < s.size()) {
    auto c = static_cast<unsigned char>(s[i]);
    std::size_t n;  // continuation bytes
    if (c < 0x80) n = 0;
    else if (c >= 0xC2 && c <= 0xDF) n = 1;
    else if (c >= 0xE0 && c <= 0xEF) n = 2;
    else if (c >= 0xF0 && c <= 0xF4) n = 3;
    else return i;
    if (n > 0 && i + n >= s.size()) return i;  // truncated sequence
    for (std::size_t k = 1; k <= n; ++k)
      if ((static_cast<unsigned char>(s[i + k]) & 0xC0) != 0x80) return i;
    if (n >= 2) {
      auto c1 = static_cast<unsigned char>(s[i + 1]);
      // overlong forms, UTF-16 surrogates, beyond U+10FFFF
      if ((c == 0xE0 && c1 < 0xA0) || (c == 0xED && c1 >= 0xA0) || (c == 0xF0 && c1 < 0x90) ||
          (c == 0xF4 && c1 >= 0x90))
        return i;
    }
    i += n + 1;
  }
  return std::string_view::npos;
}

struct Collector {
  std::vector<std::string> fields;
  std::vector<CsvRow> rows;
  std::size_t line = 0;  // the line being fed
};

void on_field(void* s, std::size_t len, void* data) {
  auto* c = static_cast<Collector*>(data);
  c->fields.emplace_back(s ? static_cast<const char*>(s) : "", s ? len : 0);
}

void on_row(int, void* data) {
  auto* c = static_cast<Collector*>(data);
  std::size_t newlines = 0;
  for (auto& f : c->fields) newlines += static_cast<std::size_t>(std::count(f.begin(), f.end(), '\n'));
  c->rows.push_back(CsvRow{c->line - newlines, std::move(c->fields)});
  c->fields.clear();
}

}  // namespace

std::optional<std::size_t> CsvTable::column(std::string_view name) const {
  for (std::size_t i = 0; i < header.size(); ++i)
    if (header[i] == name) return i;
  return std::nullopt;
}

std::string CsvTable::where(const CsvRow& row) const { return file + ":" + std::to_string(row.line) + ": "; }

std::string CsvTable::where(const CsvRow& row, std::size_t column) const {
  return where(row) + "column " + (column < header.size() ? header[column] : "?") + " (" + std::to_string(column + 1) +
         "): ";
}

CsvTable parse_csv(const SourceFile& file) {
  CsvTable table;
  table.file = file.name;
  std::string_view text = file.text;
  if (text.starts_with("\xEF\xBB\xBF")) text.remove_prefix(3);
  if (auto bad = invalid_utf8_at(text); bad != std::string_view::npos)
    throw Error(ErrorCode::kUsage,
                file.name + ":" +
                    std::to_string(1 + std::count(text.begin(), text.begin() + static_cast<long>(bad), '\n')) +
                    ": is not valid UTF-8; save the export as UTF-8 (\"CSV UTF-8\" in Excel)");

  csv_parser parser{};
  if (csv_init(&parser, CSV_STRICT | CSV_STRICT_FINI | CSV_APPEND_NULL) != 0)
    throw Error(ErrorCode::kOther, "cannot start the CSV parser");
  struct Free {
    csv_parser* p;
    ~Free() { csv_free(p); }
  } free_parser{&parser};

  Collector c;
  bool in_comments = true;
  std::size_t pending_start = 0;  // first line of a row not yet ended (an open quote)
  std::size_t pos = 0;
  while (pos < text.size()) {
    std::size_t end = text.find('\n', pos);
    end = end == std::string_view::npos ? text.size() : end + 1;
    std::string_view line = text.substr(pos, end - pos);
    ++c.line;
    pos = end;
    if (in_comments && c.rows.empty() && c.fields.empty() && line.starts_with("#")) {
      std::string_view body = line.substr(1);
      while (!body.empty() && (body.back() == '\n' || body.back() == '\r')) body.remove_suffix(1);
      table.comments.emplace_back(trim(body));
      continue;
    }
    in_comments = false;
    const std::size_t rows_before = c.rows.size();
    if (pending_start == 0 && line.find_first_not_of(" \t\r\n") != std::string_view::npos) pending_start = c.line;
    if (csv_parse(&parser, line.data(), line.size(), on_field, on_row, &c) != line.size())
      throw Error(ErrorCode::kUsage, file.name + ":" + std::to_string(c.line) + ": malformed CSV (" +
                                         csv_strerror(csv_error(&parser)) + "); check the quotes on this line");
    // A row ended on this line: nothing is pending unless a new row began
    // after it on the same line (an opening quote before the line end).
    if (c.rows.size() != rows_before) pending_start = 0;
  }
  if (csv_fini(&parser, on_field, on_row, &c) != 0)
    throw Error(ErrorCode::kUsage, file.name + ":" + std::to_string(pending_start ? pending_start : c.line) +
                                       ": malformed CSV: a quoted field opened on this line is never closed");
  if (c.rows.empty())
    throw Error(ErrorCode::kUsage, file.name + ": has no header row; the first line must name the columns");
  table.header_line = c.rows.front().line;
  table.header = std::move(c.rows.front().cells);
  // Empty cells at the end of the header (OneRoster 1.2 sets from a
  // learning platform end it ",,"): no columns, as long as every row leaves
  // them empty too.
  std::size_t named = table.header.size();
  while (named > 1 && trim(table.header[named - 1]).empty()) --named;
  const std::size_t written = table.header.size();
  table.header.resize(named);
  std::set<std::string> seen;
  for (std::size_t i = 0; i < table.header.size(); ++i) {
    table.header[i] = trim(table.header[i]);
    if (table.header[i].empty())
      throw Error(ErrorCode::kUsage, file.name + ":" + std::to_string(table.header_line) + ": column " +
                                         std::to_string(i + 1) + " has no name in the header row");
    if (!seen.insert(table.header[i]).second)
      throw Error(ErrorCode::kUsage, file.name + ":" + std::to_string(table.header_line) + ": column " +
                                         table.header[i] + " appears twice in the header row");
  }
  for (std::size_t r = 1; r < c.rows.size(); ++r) {
    auto& row = c.rows[r];
    if (row.cells.size() == written && written > named) {
      for (std::size_t i = named; i < written; ++i)
        if (!trim(row.cells[i]).empty())
          throw Error(ErrorCode::kUsage, table.where(row) + "column " + std::to_string(i + 1) +
                                             " has a value but no name in the header row; name the column or "
                                             "leave it empty");
      row.cells.resize(named);
    }
    if (row.cells.size() != table.header.size())
      throw Error(ErrorCode::kUsage, table.where(row) + "has " + std::to_string(row.cells.size()) +
                                         " cells but the header has " + std::to_string(table.header.size()) +
                                         " columns; check for a stray comma or a missing quote");
    table.rows.push_back(std::move(row));
  }
  return table;
}

std::string trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '\r' || s.front() == '\n'))
    s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r' || s.back() == '\n'))
    s.remove_suffix(1);
  return std::string(s);
}

std::vector<std::string> split_list(std::string_view cell) {
  std::vector<std::string> out;
  std::size_t pos = 0;
  while (pos <= cell.size()) {
    std::size_t end = cell.find(';', pos);
    if (end == std::string_view::npos) end = cell.size();
    auto item = trim(cell.substr(pos, end - pos));
    if (!item.empty()) out.push_back(std::move(item));
    pos = end + 1;
  }
  return out;
}

}  // namespace coffer::vault::detail

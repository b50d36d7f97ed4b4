// coffer_meta access; see meta.h.
#include "coffer/vault/container/meta.h"

#include <stdexcept>

namespace coffer::vault {

void put_meta(Database& db, const MetaRows& rows) {
  auto put = db.prepare("INSERT OR REPLACE INTO coffer_meta(key, value) VALUES (?, ?)");
  for (const auto& [k, v] : rows) {
    put.bind(1, k).bind(2, v);
    put.step();
    put.reset();
  }
}

std::optional<std::string> get_meta(Database& db, std::string_view key) {
  auto get = db.prepare("SELECT value FROM coffer_meta WHERE key = ?");
  get.bind(1, key);
  if (!get.step()) return std::nullopt;
  return get.column_text(0);
}

std::map<std::string, std::string> all_meta(Database& db) {
  std::map<std::string, std::string> out;
  auto st = db.prepare("SELECT key, value FROM coffer_meta");
  while (st.step()) out.emplace(st.column_text(0), st.column_text(1));
  return out;
}

std::int64_t clock_mark(Database& db) {
  auto v = get_meta(db, "clock_high_water");
  if (!v) return 0;
  try {
    return std::stoll(*v);
  } catch (const std::exception&) {
    return 0;
  }
}

void raise_clock_mark(Database& db, std::int64_t now) {
  if (now > clock_mark(db)) put_meta(db, {{"clock_high_water", std::to_string(now)}});
}

std::vector<std::string> split_fields(const std::string& stored) {
  std::vector<std::string> out;
  std::size_t pos = 0;
  while (pos < stored.size()) {
    auto end = stored.find(',', pos);
    if (end == std::string::npos) end = stored.size();
    if (end > pos) out.push_back(stored.substr(pos, end - pos));
    pos = end + 1;
  }
  return out;
}

}  // namespace coffer::vault

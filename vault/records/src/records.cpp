// Pupil records in SQL; see records.h and migration 3 in schema.cpp.
#include "coffer/vault/records/records.h"

#include <algorithm>
#include <map>
#include <nlohmann/json.hpp>

#include "coffer/error.h"
#include "coffer/vault/container/clock.h"
#include "coffer/vault/container/meta.h"

namespace coffer::vault {
namespace {

// Column names may hold any character (a quoted header can even hold a
// line break), so the sets are stored as JSON arrays.
std::string join_set(const std::set<std::string>& s) { return nlohmann::json(s).dump(); }

// A JSON array of names since 8166c7a (so a name may hold any character);
// logs written before it joined the names with newlines, and frozen
// coffers of schema 3 still carry that form.
std::set<std::string> split_set(const std::string& text) {
  std::set<std::string> out;
  auto j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_array()) {
    for (auto& v : j)
      if (v.is_string()) out.insert(v.get<std::string>());
    return out;
  }
  // A broken JSON array is damage, not the old form.
  if (!text.empty() && text.front() == '[') throw Error(ErrorCode::kDamaged, "an import log entry is not readable");
  for (std::size_t pos = 0; pos <= text.size();) {
    std::size_t end = text.find('\n', pos);
    if (end == std::string::npos) end = text.size();
    if (end > pos) out.insert(text.substr(pos, end - pos));
    pos = end + 1;
  }
  return out;
}

// What an import provided and warned, kept in coffer_meta under
// "import/<imports.id>" as {"provided": [...], "warnings": [...]}
// (FORMAT.md §8.6): imports logged before it have no such row.
std::string import_meta_key(std::int64_t id) { return "import/" + std::to_string(id); }

struct ImportExtra {
  std::optional<std::set<std::string>> provided;
  std::vector<std::string> warnings;
};

ImportExtra parse_import_extra(const std::optional<std::string>& text) {
  ImportExtra out;
  if (!text) return out;
  auto j = nlohmann::json::parse(*text, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object()) throw Error(ErrorCode::kDamaged, "an import log entry is not readable");
  if (auto p = j.find("provided"); p != j.end() && p->is_array()) {
    out.provided.emplace();
    for (auto& v : *p)
      if (v.is_string()) out.provided->insert(v.get<std::string>());
  }
  if (auto w = j.find("warnings"); w != j.end() && w->is_array())
    for (auto& v : *w)
      if (v.is_string()) out.warnings.push_back(v.get<std::string>());
  return out;
}

// Rolls back unless committed (an exception on the way out).
class Transaction {
 public:
  explicit Transaction(Database& db) : db_(db) { db_.exec("SAVEPOINT records"); }
  ~Transaction() {
    if (done_) return;
    try {
      db_.exec("ROLLBACK TO records");
      db_.exec("RELEASE records");
    } catch (...) {
    }
  }
  void commit() {
    db_.exec("RELEASE records");
    done_ = true;
  }

 private:
  Database& db_;
  bool done_ = false;
};

void add_item(Statement& st, std::int64_t pupil, const char* kind, std::int64_t pos, const std::string& text,
              const std::string& detail = "") {
  st.bind(1, pupil).bind(2, std::string_view(kind)).bind(3, pos).bind(4, text).bind(5, detail);
  st.step();
  st.reset();
}

}  // namespace

void RecordStore::import(const std::vector<Pupil>& pupils, const ImportLogEntry& log) {
  Transaction tx(db_);
  auto log_st = db_.prepare(
      "INSERT INTO imports(at, by_user, format, source, pupils, dropped, not_in_profile, unmapped)"
      " VALUES (?, ?, ?, ?, ?, ?, ?, ?)");
  log_st.bind(1, log.at)
      .bind(2, log.by)
      .bind(3, log.format)
      .bind(4, log.source)
      .bind(5, static_cast<std::int64_t>(pupils.size()))
      .bind(6, join_set(log.dropped))
      .bind(7, join_set(log.not_in_profile))
      .bind(8, join_set(log.unmapped));
  log_st.step();
  const std::int64_t import_id = db_.query_int64("SELECT last_insert_rowid()");
  if (log.provided || !log.warnings.empty()) {
    nlohmann::json extra = nlohmann::json::object();
    if (log.provided) extra["provided"] = *log.provided;
    extra["warnings"] = log.warnings;
    put_meta(db_, {{import_meta_key(import_id), extra.dump()}});
  }

  auto del = db_.prepare("DELETE FROM pupils WHERE source_key = ?");
  auto ins = db_.prepare(
      "INSERT INTO pupils(source_key, upn, surname, forename, preferred_surname, preferred_forename, dob,"
      " sex, year_group, reg_group, care_plan, emergency_consent, swimming, support_note, photo, expires,"
      " import_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
  auto item = db_.prepare("INSERT INTO pupil_items(pupil_id, kind, position, text, detail) VALUES (?, ?, ?, ?, ?)");
  auto contact = db_.prepare(
      "INSERT INTO contacts(pupil_id, priority, name, relationship, parental_responsibility, ranked,"
      " do_not_release) VALUES (?, ?, ?, ?, ?, ?, ?)");
  auto phone =
      db_.prepare("INSERT INTO contact_phones(contact_id, position, kind, number, display) VALUES (?, ?, ?, ?, ?)");

  for (const auto& p : pupils) {
    del.bind(1, p.key);
    del.step();
    del.reset();
    ins.bind(1, p.key)
        .bind(2, p.upn)
        .bind(3, p.surname)
        .bind(4, p.forename)
        .bind(5, p.preferred_surname)
        .bind(6, p.preferred_forename)
        .bind(7, p.dob ? format_date(*p.dob) : std::string())
        .bind(8, p.sex)
        .bind(9, p.year_group)
        .bind(10, p.reg_group)
        .bind(11, p.care_plan)
        .bind(12, p.emergency_consent)
        .bind(13, p.swimming)
        .bind(14, p.support_note)
        .bind(15, p.photo)
        .bind(16, p.expires ? format_date(*p.expires) : std::string())
        .bind(17, import_id);
    if (!p.dob) ins.bind_null(7);
    if (!p.expires) ins.bind_null(16);
    ins.step();
    ins.reset();
    const std::int64_t id = db_.query_int64("SELECT last_insert_rowid()");
    std::int64_t n = 0;
    for (auto& c : p.classes) add_item(item, id, "class", n++, c);
    n = 0;
    for (auto& c : p.conditions) add_item(item, id, "condition", n++, c);
    n = 0;
    for (auto& a : p.allergies) add_item(item, id, "allergy", n++, a.what, a.severity);
    n = 0;
    for (auto& m : p.medication) add_item(item, id, "medication", n++, m.what, m.administered_by);
    n = 0;
    for (auto& d : p.dietary) add_item(item, id, "dietary", n++, d);
    n = 0;
    for (auto& a : p.activity_notes) add_item(item, id, "activity", n++, a);
    for (auto& c : p.contacts) {
      contact.bind(1, id)
          .bind(2, c.priority)
          .bind(3, c.name)
          .bind(4, c.relationship)
          .bind(5, c.parental_responsibility.value_or(false) ? 1 : 0)
          .bind(6, c.ranked ? 1 : 0)
          .bind(7, c.do_not_release ? 1 : 0);
      if (!c.parental_responsibility) contact.bind_null(5);
      contact.step();
      contact.reset();
      const std::int64_t cid = db_.query_int64("SELECT last_insert_rowid()");
      std::int64_t k = 0;
      for (auto& ph : c.phones) {
        phone.bind(1, cid).bind(2, k++).bind(3, ph.kind).bind(4, ph.number).bind(5, ph.display);
        phone.step();
        phone.reset();
      }
    }
  }
  tx.commit();
}

std::vector<PupilEntry> RecordStore::list() {
  std::vector<PupilEntry> out;
  auto st = db_.prepare("SELECT id, source_key, surname, forename, preferred_surname, preferred_forename FROM pupils");
  while (st.step()) {
    Pupil p;
    p.surname = st.column_text(2);
    p.forename = st.column_text(3);
    p.preferred_surname = st.column_text(4);
    p.preferred_forename = st.column_text(5);
    out.push_back({st.column_int64(0), st.column_text(1), p.display_name()});
  }
  std::sort(out.begin(), out.end(), [](const PupilEntry& a, const PupilEntry& b) {
    return std::tie(a.display_name, a.key) < std::tie(b.display_name, b.key);
  });
  return out;
}

namespace {

// Reads one pupil (id >= 0) or all of them (id < 0) with four statements
// in all, however many pupils: the roster of a whole class renders in one
// pass.
std::map<std::int64_t, Pupil> read_pupils(Database& db, std::int64_t id) {
  const std::string only = id >= 0 ? " WHERE id = ?1" : "";
  const std::string only_pupil = id >= 0 ? " WHERE pupil_id = ?1" : "";
  std::map<std::int64_t, Pupil> out;
  auto st = db.prepare(
      "SELECT id, source_key, upn, surname, forename, preferred_surname, preferred_forename, ifnull(dob, ''),"
      " sex, year_group, reg_group, care_plan, emergency_consent, swimming, support_note, photo,"
      " ifnull(expires, ''), import_id FROM pupils" +
      only);
  // Each import's format and what it provided: the views tell "none
  // recorded" from "not provided" with them.
  std::map<std::int64_t, std::pair<std::string, ImportExtra>> sources;
  auto imports = db.prepare("SELECT id, format FROM imports");
  while (imports.step()) {
    const std::int64_t import_id = imports.column_int64(0);
    sources[import_id] = {imports.column_text(1), parse_import_extra(get_meta(db, import_meta_key(import_id)))};
  }
  if (id >= 0) st.bind(1, id);
  while (st.step()) {
    Pupil& p = out[st.column_int64(0)];
    p.key = st.column_text(1);
    p.upn = st.column_text(2);
    p.surname = st.column_text(3);
    p.forename = st.column_text(4);
    p.preferred_surname = st.column_text(5);
    p.preferred_forename = st.column_text(6);
    p.dob = parse_date(st.column_text(7));
    p.sex = st.column_text(8);
    p.year_group = st.column_text(9);
    p.reg_group = st.column_text(10);
    p.care_plan = st.column_text(11);
    p.emergency_consent = st.column_text(12);
    p.swimming = st.column_text(13);
    p.support_note = st.column_text(14);
    p.photo = st.column_text(15);
    p.expires = parse_date(st.column_text(16));
    if (auto src = sources.find(st.column_int64(17)); src != sources.end()) {
      p.source = src->second.first;
      p.provided = src->second.second.provided;
    }
  }
  auto items = db.prepare("SELECT pupil_id, kind, text, detail FROM pupil_items" + only_pupil +
                          " ORDER BY pupil_id, kind, position");
  if (id >= 0) items.bind(1, id);
  while (items.step()) {
    auto it = out.find(items.column_int64(0));
    if (it == out.end()) continue;
    Pupil& p = it->second;
    std::string kind = items.column_text(1), text = items.column_text(2), detail = items.column_text(3);
    if (kind == "class") p.classes.push_back(text);
    else if (kind == "condition") p.conditions.push_back(text);
    else if (kind == "allergy") p.allergies.push_back({text, detail});
    else if (kind == "medication") p.medication.push_back({text, detail});
    else if (kind == "dietary") p.dietary.push_back(text);
    else if (kind == "activity") p.activity_notes.push_back(text);
  }
  // Phones first, by contact; then each contact takes its own.
  std::map<std::int64_t, std::vector<Phone>> phones_of;
  auto phones =
      db.prepare("SELECT contact_id, kind, number, display FROM contact_phones" +
                 std::string(id >= 0 ? " WHERE contact_id IN (SELECT id FROM contacts WHERE pupil_id = ?1)" : "") +
                 " ORDER BY contact_id, position");
  if (id >= 0) phones.bind(1, id);
  while (phones.step())
    phones_of[phones.column_int64(0)].push_back({phones.column_text(1), phones.column_text(2), phones.column_text(3)});
  auto contacts = db.prepare(
      "SELECT pupil_id, id, priority, name, relationship, ifnull(parental_responsibility, -1), ranked,"
      " do_not_release FROM contacts" +
      only_pupil + " ORDER BY pupil_id, priority, id");
  if (id >= 0) contacts.bind(1, id);
  while (contacts.step()) {
    auto it = out.find(contacts.column_int64(0));
    if (it == out.end()) continue;
    Contact c;
    c.priority = static_cast<int>(contacts.column_int64(2));
    c.name = contacts.column_text(3);
    c.relationship = contacts.column_text(4);
    auto pr = contacts.column_int64(5);
    if (pr >= 0) c.parental_responsibility = pr == 1;
    c.ranked = contacts.column_int64(6) != 0;
    c.do_not_release = contacts.column_int64(7) != 0;
    if (auto ph = phones_of.find(contacts.column_int64(1)); ph != phones_of.end()) c.phones = std::move(ph->second);
    it->second.contacts.push_back(std::move(c));
  }
  return out;
}

}  // namespace

std::optional<Pupil> RecordStore::load(std::int64_t id) {
  if (id < 0) return std::nullopt;
  auto all = read_pupils(db_, id);
  if (all.empty()) return std::nullopt;
  return std::move(all.begin()->second);
}

std::vector<Pupil> RecordStore::load_all() {
  auto all = read_pupils(db_, -1);
  std::vector<Pupil> out;
  for (auto& e : list()) {
    auto it = all.find(e.id);
    if (it != all.end()) out.push_back(std::move(it->second));
  }
  return out;
}

std::int64_t RecordStore::count() { return db_.query_int64("SELECT count(*) FROM pupils"); }

std::size_t RecordStore::purge_expired(std::int64_t now) {
  // Days are stored as YYYY-MM-DD text, so they compare as strings; the
  // items and contacts go with the pupil (ON DELETE CASCADE).
  auto del = db_.prepare("DELETE FROM pupils WHERE expires IS NOT NULL AND expires <> '' AND expires < ?");
  del.bind(1, local_day(now));
  del.step();
  return static_cast<std::size_t>(db_.query_int64("SELECT changes()"));
}

std::vector<ImportLogEntry> RecordStore::imports() {
  std::vector<ImportLogEntry> out;
  auto st = db_.prepare(
      "SELECT at, by_user, format, source, pupils, dropped, not_in_profile, unmapped, id FROM imports ORDER BY id");
  while (st.step()) {
    ImportExtra extra = parse_import_extra(get_meta(db_, import_meta_key(st.column_int64(8))));
    out.push_back({st.column_int64(0), st.column_text(1), st.column_text(2), st.column_text(3), st.column_int64(4),
                   split_set(st.column_text(5)), split_set(st.column_text(6)), split_set(st.column_text(7)),
                   std::move(extra.provided), std::move(extra.warnings)});
  }
  return out;
}

}  // namespace coffer::vault

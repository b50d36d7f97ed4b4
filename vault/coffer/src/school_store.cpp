// IT's manifest store for the DPO; see school_store.h.
#include "coffer/vault/coffer/school_store.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <fstream>
#include <set>
#include <sstream>

#include "coffer/error.h"
#include "coffer/keystore/encoding.h"
#include "coffer/unique_fd.h"
#include "coffer/vault/audit/audit_drop.h"
#include "coffer/vault/container/coffer_file.h"
#include "coffer/vault/policy/retention.h"

namespace coffer::vault {
namespace fs = std::filesystem;
namespace {

constexpr std::uintmax_t kMaxStoreFile = 16 * 1024 * 1024;
constexpr int kDepth = 3;

std::optional<std::string> read_small(const fs::path& p) {
  std::error_code ec;
  if (!fs::is_regular_file(fs::symlink_status(p, ec)) || fs::file_size(p, ec) > kMaxStoreFile || ec)
    return std::nullopt;
  std::ifstream in(p, std::ios::binary);
  if (!in) return std::nullopt;
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

std::string str(const nlohmann::json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

std::int64_t time_of(const nlohmann::json& j, const char* key) {
  auto it = j.find(key);
  if (it == j.end()) return 0;
  if (it->is_number_integer()) return it->get<std::int64_t>();
  if (it->is_string()) return parse_iso_time(it->get<std::string>()).value_or(0);
  return 0;
}

// Regular files under `store` (three levels, links never followed) whose
// names end in `suffix`.
std::vector<fs::path> store_files(const fs::path& store, std::string_view suffix) {
  std::vector<fs::path> out;
  std::error_code ec;
  auto it = fs::recursive_directory_iterator(store, fs::directory_options::skip_permission_denied, ec);
  if (ec) throw Error(ErrorCode::kIo, "cannot read the manifest store " + store.string() + ": " + ec.message());
  for (; it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (ec) break;
    if (it.depth() >= kDepth) it.disable_recursion_pending();
    if (!it->is_regular_file(ec) || it->is_symlink(ec)) continue;
    if (it->path().filename().string().ends_with(suffix)) out.push_back(it->path());
  }
  std::sort(out.begin(), out.end());
  return out;
}

void require_store(const fs::path& store) {
  std::error_code ec;
  if (!fs::is_directory(store, ec))
    throw Error(ErrorCode::kIo, "the manifest store " + store.string() +
                                    " is not a readable folder; give IT's manifest store with --manifests DIR");
}

std::optional<StoreCoffer> parse_manifest(const fs::path& p, const std::string& text) {
  auto j = nlohmann::json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object() || !j.contains("vault_id") || !j.contains("pupils")) return std::nullopt;
  StoreCoffer c;
  c.manifest = p;
  c.coffer = str(j, "coffer");
  c.vault_id = str(j, "vault_id");
  c.owner = str(j, "owner");
  c.purpose = str(j, "purpose");
  c.protection = str(j, "protection");
  c.provisioned_by = str(j, "provisioned_by");
  c.issued = time_of(j, "provisioned_at");
  c.expires = time_of(j, "expires");
  if (auto f = j.find("fields"); f != j.end() && f->is_array())
    for (auto& g : *f) {
      if (!g.is_object()) continue;
      StoreGroup sg{str(g, "group"), str(g, "description"), false};
      if (auto s = g.find("special_category"); s != g.end() && s->is_boolean()) sg.special_category = s->get<bool>();
      c.fields.push_back(std::move(sg));
    }
  c.per_pupil_special = true;
  if (auto ps = j.find("pupils"); ps != j.end() && ps->is_array())
    for (auto& pj : *ps) {
      if (!pj.is_object()) continue;
      StorePupil sp;
      sp.key = str(pj, "key");
      if (sp.key.empty()) sp.key = str(pj, "id");  // manifests before per-pupil recording
      sp.name = str(pj, "name");
      if (auto s = pj.find("special_category"); s != pj.end() && s->is_array()) {
        sp.special_category.emplace();
        for (auto& f : *s)
          if (f.is_string()) sp.special_category->push_back(f.get<std::string>());
      } else {
        c.per_pupil_special = false;
      }
      c.pupils.push_back(std::move(sp));
    }
  if (c.pupils.empty()) c.per_pupil_special = false;
  if (auto a = j.find("audit_anchor"); a != j.end() && a->is_object()) {
    c.anchor_in_manifest = true;
    c.audit_genesis = str(*a, "audit_genesis");
  }
  if (c.coffer.empty()) {
    std::string n = p.filename().string();
    c.coffer = n.substr(0, n.size() - std::string_view(".manifest.json").size()) + ".coffer";
  }
  return c;
}

std::optional<VaultId> vault_id_of(std::string_view hex) {
  VaultId out{};
  if (hex.size() != 32) return std::nullopt;
  for (std::size_t i = 0; i < 16; ++i) {
    unsigned v = 0;
    for (char ch : hex.substr(2 * i, 2)) {
      int n = ch >= '0' && ch <= '9' ? ch - '0' : ch >= 'a' && ch <= 'f' ? ch - 'a' + 10 : -1;
      if (n < 0) return std::nullopt;
      v = v * 16 + static_cast<unsigned>(n);
    }
    out[i] = static_cast<std::uint8_t>(v);
  }
  return out;
}

std::string stem_of(const std::string& coffer) {
  return coffer.ends_with(".coffer") ? coffer.substr(0, coffer.size() - 7) : coffer;
}

void sync_dir(const fs::path& dir) {
  UniqueFd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (fd.valid()) ::fsync(fd.get());
}

bool is_use(AuditKind k) {
  return k == AuditKind::kUnlock || k == AuditKind::kRecoveryUsed || k == AuditKind::kOpenView ||
         k == AuditKind::kOpenFile || k == AuditKind::kExport;
}
bool is_lock(AuditKind k) {
  return k == AuditKind::kLock || k == AuditKind::kSealed || k == AuditKind::kLockout || k == AuditKind::kWipe ||
         k == AuditKind::kCheckin;
}

}  // namespace

std::optional<std::int64_t> parse_iso_time(std::string_view text) {
  std::tm tm{};
  std::string s(text);
  const char* rest = ::strptime(s.c_str(), "%Y-%m-%dT%H:%M:%S", &tm);
  if (!rest) return std::nullopt;
  std::int64_t offset = 0;
  std::string_view r(rest);
  if (r == "Z") {
    offset = 0;
  } else if (!r.empty() && (r[0] == '+' || r[0] == '-')) {
    std::string digits;
    for (char ch : r.substr(1))
      if (ch != ':') digits += ch;
    if (digits.size() != 4 ||
        !std::all_of(digits.begin(), digits.end(), [](char ch) { return ch >= '0' && ch <= '9'; }))
      return std::nullopt;
    offset = (std::stoi(digits.substr(0, 2)) * 60 + std::stoi(digits.substr(2))) * 60;
    if (r[0] == '-') offset = -offset;
  } else if (!r.empty()) {
    return std::nullopt;
  }
  return static_cast<std::int64_t>(::timegm(&tm)) - offset;
}

std::string iso_time(std::int64_t unix_seconds) {
  std::time_t t = static_cast<std::time_t>(unix_seconds);
  std::tm tm{};
  ::localtime_r(&t, &tm);
  char buf[40];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S%z", &tm);
  return buf;
}

std::vector<std::string> StoreCoffer::special_groups() const {
  std::vector<std::string> out;
  for (auto& g : fields)
    if (g.special_category) out.push_back(g.group);
  return out;
}

std::vector<StoreCoffer> read_store(const fs::path& store, std::vector<std::string>* skipped) {
  require_store(store);
  std::vector<StoreCoffer> coffers;
  for (auto& p : store_files(store, ".manifest.json")) {
    auto text = read_small(p);
    std::optional<StoreCoffer> c;
    if (text) c = parse_manifest(p, *text);
    if (!c || c->vault_id.empty()) {
      if (skipped) skipped->push_back(p.string());
      continue;
    }
    coffers.push_back(std::move(*c));
  }
  auto by_id = [&](const std::string& id) -> StoreCoffer* {
    for (auto& c : coffers)
      if (c.vault_id == id) return &c;
    return nullptr;
  };
  for (auto& p : store_files(store, ".checkin.json")) {
    auto text = read_small(p);
    if (!text) continue;
    auto j = nlohmann::json::parse(*text, nullptr, false);
    if (j.is_discarded() || !j.is_object()) continue;
    StoreCoffer* c = by_id(str(j, "vault_id"));
    if (!c) continue;
    StoreCheckin ci{p, time_of(j, "checked_in"), str(j, "checked_in_by"), false, j.contains("on_hold")};
    if (auto w = j.find("wiped"); w != j.end() && w->is_boolean()) ci.wiped = w->get<bool>();
    c->checkins.push_back(std::move(ci));
  }
  if (auto text = read_small(store / kLossLog)) {
    std::istringstream in(*text);
    std::string line;
    while (std::getline(in, line)) {
      auto j = nlohmann::json::parse(line, nullptr, false);
      if (j.is_discarded() || !j.is_object()) continue;
      if (StoreCoffer* c = by_id(str(j, "vault_id")))
        c->losses.push_back(
            {time_of(j, "reported_at"), str(j, "reported_by"), time_of(j, "recorded_at"), str(j, "recorded_by")});
    }
  }
  std::stable_sort(coffers.begin(), coffers.end(), [](auto& a, auto& b) { return a.issued < b.issued; });
  return coffers;
}

const StoreCoffer& find_in_store(const std::vector<StoreCoffer>& coffers, std::string_view coffer_or_id,
                                 const fs::path& store) {
  std::string want(coffer_or_id);
  std::string base = fs::path(want).filename().string();
  std::vector<const StoreCoffer*> hits;
  for (auto& c : coffers)
    if (c.coffer == base || stem_of(c.coffer) == base || c.vault_id == want) hits.push_back(&c);
  if (hits.empty() && want.size() >= 8 &&
      std::all_of(want.begin(), want.end(), [](char ch) { return std::isxdigit(static_cast<unsigned char>(ch)); }))
    for (auto& c : coffers)
      if (c.vault_id.starts_with(want)) hits.push_back(&c);
  if (hits.size() == 1) return *hits.front();
  if (hits.empty())
    throw Error(ErrorCode::kUsage, "no coffer \"" + want + "\" in the manifest store " + store.string() +
                                       ": give the coffer's file name (as in NAME.manifest.json) or its vault id");
  throw Error(ErrorCode::kUsage, std::to_string(hits.size()) + " coffers in the manifest store " + store.string() +
                                     " match \"" + want + "\": give the vault id (in NAME.manifest.json)");
}

void append_store_log(const fs::path& log, const std::string& line) {
  std::string text;
  std::error_code ec;
  if (fs::exists(fs::symlink_status(log, ec))) {
    auto old = read_small(log);
    if (!old) throw Error(ErrorCode::kIo, "cannot read " + log.string() + ": it must be a regular file");
    text = std::move(*old);
    if (!text.empty() && text.back() != '\n') text += '\n';
  }
  text += line;
  text += '\n';
  const fs::path tmp = log.parent_path() / ("." + log.filename().string() + ".tmp");
  fs::remove(tmp, ec);
  UniqueFd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0640));
  if (!fd.valid()) throw Error(ErrorCode::kIo, "cannot create " + tmp.string() + ": " + std::strerror(errno));
  bool ok = ::write(fd.get(), text.data(), text.size()) == static_cast<ssize_t>(text.size()) && ::fsync(fd.get()) == 0;
  fd.reset();
  if (!ok || ::rename(tmp.c_str(), log.c_str()) != 0) {
    fs::remove(tmp, ec);
    throw Error(ErrorCode::kIo, "cannot write " + log.string() + ": " + std::strerror(errno));
  }
  sync_dir(log.parent_path());
}

StoreLoss record_loss(const fs::path& store, const StoreCoffer& c, const StoreLoss& loss) {
  require_store(store);
  nlohmann::ordered_json j;
  j["coffer"] = c.coffer;
  j["vault_id"] = c.vault_id;
  j["reported_at"] = iso_time(loss.reported_at);
  j["reported_by"] = loss.reported_by;
  j["recorded_at"] = iso_time(loss.recorded_at);
  j["recorded_by"] = loss.recorded_by;
  append_store_log(store / kLossLog, j.dump());
  return loss;
}

TrailFacts read_trail_facts(const StoreCoffer& c, const fs::path& store, const fs::path& drop_dir,
                            const keystore::SchoolKeyPair& audit_key, std::optional<std::int64_t> since) {
  TrailFacts t;
  auto vid = vault_id_of(c.vault_id);
  if (!vid) throw Error(ErrorCode::kDamaged, c.manifest.string() + ": the vault id is not 32 hex digits");
  // The latest trail of the coffer (a restarted one has several copies):
  // the copy whose last record is the latest.
  std::optional<SidecarReport> best;
  for (auto& copy : find_drop_copies(drop_dir, *vid)) {
    SidecarReport r = read_sidecar(copy.path, audit_key);
    const std::int64_t last = r.entries.empty() ? 0 : r.entries.back().event.time;
    const std::int64_t best_last = best && !best->entries.empty() ? best->entries.back().event.time : -1;
    if (!best || last > best_last) {
      best = std::move(r);
      t.copy = copy.path;
    }
  }
  if (!best) {
    t.notes.push_back("no drop copy of this coffer's trail in " + drop_dir.string() +
                      ": the laptop never reached the share with it open");
    return t;
  }
  t.found = true;
  t.anchor = check_anchor(*best, audit_key, AnchorQuery{store, drop_dir, c.coffer, *vid});
  t.problems = best->problems;
  t.problems.insert(t.problems.end(), t.anchor.problems.begin(), t.anchor.problems.end());
  t.notes = best->notes;
  t.notes.insert(t.notes.end(), t.anchor.notes.begin(), t.anchor.notes.end());
  t.consistent = best->problems.empty();
  std::vector<const SidecarEntry*> all;
  for (auto& part : t.anchor.earlier)
    for (auto& e : part.report.entries) all.push_back(&e);
  for (auto& e : best->entries) all.push_back(&e);
  t.records = all.size();
  std::optional<std::size_t> last_unlock, last_lock, last_open, last_key;
  for (std::size_t i = 0; i < all.size(); ++i) {
    const SidecarEntry& e = *all[i];
    const AuditKind k = e.event.kind;
    if (is_use(k)) t.last_use = e.event;
    if (is_lock(k)) {
      t.last_lock = e.event;
      last_lock = i;
    }
    if (k == AuditKind::kUnlock || k == AuditKind::kRecoveryUsed) last_unlock = i;
    if (k == AuditKind::kOpenView || k == AuditKind::kOpenFile) last_open = i;
    if (k == AuditKind::kWipe) {
      t.wiped = true;
      t.wiped_at = e.event.time;
    }
    if (e.authenticated) last_key = i;
  }
  t.last_event = all.empty() ? std::nullopt : std::optional<AuditEvent>(all.back()->event);
  // Open at the last contact: unlocked, something opened since, and no
  // lock after it. A one-shot command (fsck, hold) closes the coffer again.
  t.locked_at_last_contact =
      !last_unlock || (last_lock && *last_lock > *last_unlock) || !last_open || *last_open < *last_unlock;
  for (std::size_t i = 0; i < all.size(); ++i) {
    const SidecarEntry& e = *all[i];
    if (e.event.kind != AuditKind::kUnlockFailed && e.event.kind != AuditKind::kLockout) continue;
    if (e.event.kind == AuditKind::kUnlockFailed) t.last_failed = e.event.time;
    if (e.event.kind != AuditKind::kUnlockFailed) continue;
    if (!last_key || i > *last_key) ++t.failed_after_last_contact;
    if (since && e.event.time >= *since) ++t.failed_since;
  }
  return t;
}

std::string_view coffer_state_name(CofferState s) {
  switch (s) {
    case CofferState::kReturned:
      return "returned";
    case CofferState::kLost:
      return "lost";
    case CofferState::kWiped:
      return "wiped";
    case CofferState::kExpired:
      return "expired";
    case CofferState::kOut:
      break;
  }
  return "still out";
}

CofferState coffer_state(const StoreCoffer& c, const TrailFacts* trail, std::int64_t now) {
  if (!c.checkins.empty()) return CofferState::kReturned;
  if (!c.losses.empty()) return CofferState::kLost;
  if (trail && trail->wiped) return CofferState::kWiped;
  if (c.expires != 0 && now > c.expires) return CofferState::kExpired;
  return CofferState::kOut;
}

BreachFacts breach_facts(const StoreCoffer& c, std::optional<TrailFacts> trail, std::int64_t now) {
  BreachFacts b;
  b.coffer = &c;
  b.state = coffer_state(c, trail ? &*trail : nullptr, now);
  if (!c.losses.empty()) {
    b.loss = c.losses.front();
    b.deadline = b.loss->reported_at + 72 * 3600;
  }
  b.pupils = c.pupils.size();
  b.special_groups = c.special_groups();
  b.per_pupil = c.per_pupil_special;
  if (b.per_pupil)
    for (auto& p : c.pupils) {
      if (!p.special_category->empty()) ++b.pupils_with_special;
      for (auto& f : *p.special_category) ++b.special_counts[f];
    }
  b.trail = std::move(trail);
  return b;
}

// ---------------------------------------------------------------- sweep

const char* store_sweep_action_name(StoreSweepItem::Action a) {
  using A = StoreSweepItem::Action;
  switch (a) {
    case A::kRemoved:
      return "removed";
    case A::kWouldRemove:
      return "would-remove";
    case A::kHeld:
      return "held";
    case A::kFailed:
      return "failed";
    case A::kKept:
      break;
  }
  return "kept";
}

namespace {

// Coffer files in the store with this vault id on hold (header flag).
bool coffer_in_store_on_hold(const fs::path& store, const VaultId& vid) {
  for (auto& p : store_files(store, ".coffer")) {
    try {
      SelectedHeader sel = read_header(p);
      if (sel.header.vault_id == vid && sel.header.on_hold) return true;
    } catch (const Error&) {
    }
  }
  return false;
}

std::vector<fs::path> audit_copies(const fs::path& dir, const VaultId& vid, bool recursive) {
  std::vector<fs::path> out;
  if (recursive) {
    for (auto& p : store_files(dir, ".audit")) try {
        if (read_sidecar_genesis(p).vault_id == vid) out.push_back(p);
      } catch (const Error&) {
      }
  } else {
    std::error_code ec;
    if (!fs::is_directory(dir, ec)) return out;
    for (auto& copy : find_drop_copies(dir, vid)) out.push_back(copy.path);
  }
  return out;
}

}  // namespace

std::vector<StoreSweepItem> sweep_store(const fs::path& store, const std::optional<fs::path>& drop_dir,
                                        std::int64_t now, int keep_days, bool dry_run, const std::string& by) {
  std::vector<StoreCoffer> coffers = read_store(store);
  std::vector<StoreSweepItem> items;
  for (auto& c : coffers) {
    StoreSweepItem it;
    it.coffer = c.coffer;
    it.vault_id = c.vault_id;
    it.ends = c.expires;
    for (auto& ci : c.checkins) it.ends = std::max(it.ends, ci.at);
    for (auto& l : c.losses) it.ends = std::max(it.ends, l.reported_at);
    it.keep_until = it.ends + static_cast<std::int64_t>(keep_days) * 86400;
    auto vid = vault_id_of(c.vault_id);
    if (c.expires == 0 || !vid) {
      it.why = "its expiry cannot be read from " + c.manifest.filename().string();
      items.push_back(std::move(it));
      continue;
    }
    const bool held = std::any_of(c.checkins.begin(), c.checkins.end(), [](auto& ci) { return ci.on_hold; }) ||
                      coffer_in_store_on_hold(store, *vid);
    if (held) {
      it.action = StoreSweepItem::Action::kHeld;
      it.why = "on hold";
      items.push_back(std::move(it));
      continue;
    }
    if (now <= it.keep_until) {
      it.why = "kept until " + iso_time(it.keep_until);
      items.push_back(std::move(it));
      continue;
    }
    // What goes: the audit copies here and in the drop directory first,
    // then (the anchor kept if a copy is left) the manifests and check-in
    // reports with their text.
    std::error_code ec;
    std::vector<fs::path> copies = audit_copies(store, *vid, true);
    if (drop_dir)
      for (auto& p : audit_copies(*drop_dir, *vid, false)) copies.push_back(p);
    const fs::path dir = c.manifest.parent_path();
    const std::string stem = stem_of(c.coffer);
    std::vector<fs::path> rest{c.manifest};
    if (fs::is_regular_file(fs::symlink_status(dir / (stem + ".manifest.txt"), ec)))
      rest.push_back(dir / (stem + ".manifest.txt"));
    for (auto& ci : c.checkins) {
      rest.push_back(ci.report);
      fs::path txt = ci.report;
      txt.replace_extension(".txt");
      if (fs::is_regular_file(fs::symlink_status(txt, ec))) rest.push_back(txt);
    }
    it.action = dry_run ? StoreSweepItem::Action::kWouldRemove : StoreSweepItem::Action::kRemoved;
    auto remove = [&](const fs::path& p) {
      if (!dry_run && !fs::remove(p, ec) && fs::exists(fs::symlink_status(p, ec))) {
        it.action = StoreSweepItem::Action::kFailed;
        it.why = "could not remove " + p.string();
        return false;
      }
      it.removed.push_back(p);
      return true;
    };
    bool copy_left = !drop_dir.has_value();  // a drop directory not looked in may hold one
    for (auto& p : copies)
      if (!remove(p)) copy_left = true;
    // The anchor stays while an audit copy of the trail may still be kept:
    // without it that copy could not be verified.
    if (c.anchor_in_manifest && c.audit_genesis && copy_left) {
      const fs::path anchor = dir / (stem + ".anchor.json");
      it.anchor_kept = anchor;
      if (!dry_run && !fs::exists(fs::symlink_status(anchor, ec))) {
        nlohmann::ordered_json j;
        j["coffer"] = c.coffer;
        j["vault_id"] = c.vault_id;
        j["audit_genesis"] = *c.audit_genesis;
        j["note"] =
            "coffer audit anchor kept by coffer sweep (its manifest was removed): an audit copy of the trail may "
            "still be kept";
        try {
          append_store_log(anchor, j.dump(2));
        } catch (const Error& e) {
          it.action = StoreSweepItem::Action::kFailed;
          it.why = std::string("the anchor could not be kept: ") + e.what() + "; the manifest stays";
          items.push_back(std::move(it));
          continue;
        }
      }
    }
    for (auto& p : rest) remove(p);
    items.push_back(std::move(it));
  }
  if (!dry_run) {
    nlohmann::ordered_json j;
    j["swept_at"] = iso_time(now);
    j["swept_by"] = by;
    j["keep_days"] = keep_days;
    j["drop_dir"] = drop_dir ? drop_dir->string() : std::string();
    auto& arr = j["coffers"] = nlohmann::ordered_json::array();
    for (auto& it : items) {
      nlohmann::ordered_json o;
      o["coffer"] = it.coffer;
      o["vault_id"] = it.vault_id;
      o["action"] = store_sweep_action_name(it.action);
      o["keep_until"] = iso_time(it.keep_until);
      auto& files = o["removed"] = nlohmann::ordered_json::array();
      for (auto& p : it.removed) files.push_back(p.string());
      if (it.anchor_kept) o["anchor_kept"] = it.anchor_kept->string();
      if (!it.why.empty()) o["why"] = it.why;
      arr.push_back(std::move(o));
    }
    append_store_log(store / kSweepLog, j.dump());
  }
  return items;
}

}  // namespace coffer::vault

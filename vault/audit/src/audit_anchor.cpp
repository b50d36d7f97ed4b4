// The audit trail anchored at school; see audit_anchor.h and
// docs/FORMAT.md §12.3. Everything read here (the store's JSON, drop
// copies, restart records) is checked, never trusted.
#include "coffer/vault/audit/audit_anchor.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <nlohmann/json.hpp>

#include "coffer/error.h"
#include "coffer/keystore/encoding.h"
#include "coffer/unique_fd.h"

namespace coffer::vault {
namespace fs = std::filesystem;
namespace {

constexpr std::string_view kMagic = "COFFERAU";
constexpr std::size_t kVaultIdOffset = 16;
constexpr std::string_view kLinkLabel = "coffer audit restart v1";
constexpr std::size_t kMaxStoreFile = 8u << 20;
// Restart records are followed back through at most this many trails.
constexpr int kMaxRestarts = 16;
// A restart record's count is believed only up to this many ratchet steps.
constexpr std::uint64_t kMaxLinkSteps = 10'000'000;

std::optional<std::string> read_prefix(const fs::path& p, std::size_t limit) {
  UniqueFd fd(::open(p.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK));
  if (!fd.valid()) return std::nullopt;
  std::string out;
  std::array<char, 65536> buf{};
  while (out.size() <= limit) {
    ssize_t n = ::read(fd.get(), buf.data(), std::min(buf.size(), limit + 1 - out.size()));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    out.append(buf.data(), static_cast<std::size_t>(n));
  }
  return out;
}

template <std::size_t N>
std::optional<std::array<std::uint8_t, N>> from_hex(std::string_view hex) {
  std::array<std::uint8_t, N> out{};
  if (hex.size() != 2 * N) return std::nullopt;
  auto nibble = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
  };
  for (std::size_t i = 0; i < N; ++i) {
    int hi = nibble(hex[2 * i]), lo = nibble(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) return std::nullopt;
    out[i] = static_cast<std::uint8_t>(hi * 16 + lo);
  }
  return out;
}

// The text after `label` up to the next ';' (or the end).
std::optional<std::string_view> field_after(std::string_view text, std::string_view label) {
  auto at = text.find(label);
  if (at == std::string_view::npos) return std::nullopt;
  auto rest = text.substr(at + label.size());
  return rest.substr(0, rest.find(';'));
}

// MAC_K("coffer audit restart v1" ‖ old header ‖ new genesis ‖ u64 records).
keystore::Digest32 link_mac(const keystore::AuditChainKey& key, const SidecarHeaderBytes& old_header,
                            const keystore::Digest32& new_genesis, std::uint64_t records) {
  keystore::AuditMacStream mac(key);
  mac.update(std::span(reinterpret_cast<const std::uint8_t*>(kLinkLabel.data()), kLinkLabel.size()));
  mac.update(old_header);
  mac.update(new_genesis);
  std::array<std::uint8_t, 8> count{};
  for (std::size_t i = 0; i < count.size(); ++i) count[i] = static_cast<std::uint8_t>(records >> (8 * i));
  mac.update(count);
  return mac.finish();
}

bool same(const keystore::Digest32& a, const keystore::Digest32& b) { return keystore::digest_equal(a, b); }

std::string short_hex(const keystore::Digest32& d) { return keystore::to_hex(std::span(d).first(8)); }

}  // namespace

SidecarGenesis genesis_of_header(std::span<const std::uint8_t> bytes, std::string_view source) {
  if (bytes.size() < kMagic.size() || !std::equal(kMagic.begin(), kMagic.end(), bytes.begin()))
    throw Error(ErrorCode::kDamaged, std::string(source) + ": not a coffer audit sidecar");
  if (bytes.size() < kSidecarHeaderSize)
    throw Error(ErrorCode::kDamaged, std::string(source) + ": the audit sidecar's header is truncated");
  SidecarGenesis g;
  std::copy_n(bytes.begin(), kSidecarHeaderSize, g.header.begin());
  std::copy_n(bytes.begin() + kVaultIdOffset, g.vault_id.size(), g.vault_id.begin());
  g.digest = keystore::checksum32(g.header);
  return g;
}

SidecarGenesis read_sidecar_genesis(const fs::path& sidecar) {
  auto bytes = read_prefix(sidecar, kSidecarHeaderSize);
  if (!bytes)
    throw Error(ErrorCode::kIo, "cannot open the audit sidecar " + sidecar.string() + ": " + std::strerror(errno));
  return genesis_of_header(std::span(reinterpret_cast<const std::uint8_t*>(bytes->data()), bytes->size()),
                           sidecar.string());
}

fs::path anchor_file_path(const fs::path& coffer_path) {
  return coffer_path.parent_path() / (coffer_path.stem().string() + ".anchor.json");
}

std::string anchor_file_json(const SidecarGenesis& genesis, std::string_view coffer_name) {
  nlohmann::ordered_json j;
  j["coffer"] = std::string(coffer_name);
  j["vault_id"] = keystore::to_hex(genesis.vault_id);
  j["audit_genesis"] = keystore::to_hex(genesis.digest);
  j["note"] = "coffer audit anchor: file in the school's manifest store, where teachers cannot write (docs/ADMIN.md)";
  return j.dump(2) + "\n";
}

std::string manifest_with_anchor(std::string_view manifest_json, const SidecarGenesis& genesis) {
  auto j = nlohmann::ordered_json::parse(manifest_json.begin(), manifest_json.end());
  j["audit_anchor"] = {{"vault_id", keystore::to_hex(genesis.vault_id)},
                       {"audit_genesis", keystore::to_hex(genesis.digest)}};
  return j.dump(2) + "\n";
}

std::vector<FoundAnchor> find_anchors(const fs::path& store, std::span<const std::uint8_t, 16> vault_id) {
  std::error_code ec;
  if (!fs::is_directory(store, ec))
    throw Error(ErrorCode::kIo, "the manifest store " + store.string() +
                                    " is not a readable folder; give IT's manifest store with --manifests DIR");
  const std::string want = keystore::to_hex(vault_id);
  std::vector<FoundAnchor> found;
  auto it = fs::recursive_directory_iterator(store, fs::directory_options::skip_permission_denied, ec);
  if (ec) throw Error(ErrorCode::kIo, "cannot read the manifest store " + store.string() + ": " + ec.message());
  for (; it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (ec) break;
    if (it.depth() >= 3) it.disable_recursion_pending();
    const std::string name = it->path().filename().string();
    const bool manifest = name.ends_with(".manifest.json");
    if (!manifest && !name.ends_with(".anchor.json")) continue;
    if (!it->is_regular_file(ec)) continue;
    auto text = read_prefix(it->path(), kMaxStoreFile);
    if (!text || text->size() > kMaxStoreFile) continue;
    auto j = nlohmann::json::parse(*text, nullptr, false);
    if (j.is_discarded() || !j.is_object()) continue;
    const nlohmann::json* a = &j;
    if (manifest) {
      auto f = j.find("audit_anchor");
      if (f == j.end() || !f->is_object()) continue;
      a = &*f;
    }
    auto vid = a->find("vault_id");
    auto gen = a->find("audit_genesis");
    if (vid == a->end() || !vid->is_string() || gen == a->end() || !gen->is_string()) continue;
    if (vid->get<std::string>() != want) continue;
    auto digest = from_hex<32>(gen->get<std::string>());
    if (!digest) continue;
    FoundAnchor fa;
    fa.file = it->path();
    if (auto c = j.find("coffer"); c != j.end() && c->is_string()) fa.coffer = c->get<std::string>();
    fa.genesis = *digest;
    found.push_back(std::move(fa));
  }
  std::sort(found.begin(), found.end(), [](auto& a, auto& b) { return a.file < b.file; });
  return found;
}

std::string restart_detail(std::uint64_t records, const keystore::AuditChainKey* old_key,
                           std::optional<SidecarHeaderBytes> old_header, const SidecarHeaderBytes& new_header) {
  std::string d = "the sidecar was missing; it had held " + std::to_string(records) + " record(s)";
  if (old_header && old_key) {
    d += "; previous header " + keystore::to_hex(*old_header);
    d += "; new genesis " + keystore::to_hex(keystore::checksum32(new_header));
    d += "; link " + keystore::to_hex(link_mac(*old_key, *old_header, keystore::checksum32(new_header), records));
  } else {
    d += "; new genesis " + keystore::to_hex(keystore::checksum32(new_header));
  }
  return d;
}

std::optional<RestartClaim> parse_restart(const AuditEvent& event) {
  if (event.kind != AuditKind::kAuditDamaged || event.result != "restarted") return std::nullopt;
  RestartClaim c;
  const std::string_view d = event.detail;
  if (auto n = field_after(d, "it had held ")) {
    auto num = n->substr(0, n->find(' '));
    if (num.empty() || num.size() > 19 ||
        !std::all_of(num.begin(), num.end(), [](char ch) { return ch >= '0' && ch <= '9'; }))
      return std::nullopt;
    c.records = std::stoull(std::string(num));
  } else {
    return std::nullopt;
  }
  if (auto h = field_after(d, "; previous header ")) c.previous_header = from_hex<kSidecarHeaderSize>(*h);
  if (auto g = field_after(d, "; new genesis ")) c.new_genesis = from_hex<32>(*g);
  if (auto l = field_after(d, "; link ")) c.link = from_hex<32>(*l);
  return c;
}

bool restart_link_verifies(const RestartClaim& claim, const keystore::SchoolKeyPair& audit_key) {
  if (!claim.previous_header || !claim.link || !claim.new_genesis) return false;
  if (claim.records > kMaxLinkSteps) return false;
  constexpr std::size_t kSealedKeyOffset = 48;
  auto key = keystore::unseal_chain_key(std::span(*claim.previous_header).subspan(kSealedKeyOffset), audit_key);
  if (!key) return false;
  // The old trail had at most `records` authenticated records: its chain
  // key was K_j for some j <= records.
  for (std::uint64_t step = 0; step <= claim.records; ++step) {
    if (same(link_mac(*key, *claim.previous_header, *claim.new_genesis, claim.records), *claim.link)) return true;
    keystore::ratchet(*key);
  }
  return false;
}

std::vector<DropCopy> find_drop_copies(const fs::path& drop_dir, std::span<const std::uint8_t, 16> vault_id) {
  std::vector<DropCopy> out;
  std::error_code ec;
  for (auto it = fs::directory_iterator(drop_dir, ec); !ec && it != fs::directory_iterator(); it.increment(ec)) {
    if (it->path().extension() != ".audit" || !it->is_regular_file(ec)) continue;
    auto bytes = read_prefix(it->path(), kSidecarHeaderSize);
    if (!bytes) continue;
    try {
      SidecarGenesis g = genesis_of_header(
          std::span(reinterpret_cast<const std::uint8_t*>(bytes->data()), bytes->size()), it->path().string());
      if (std::equal(g.vault_id.begin(), g.vault_id.end(), vault_id.begin())) out.push_back({it->path(), g});
    } catch (const Error&) {
    }
  }
  std::sort(out.begin(), out.end(), [](auto& a, auto& b) { return a.path < b.path; });
  return out;
}

std::string_view anchor_status_name(AnchorStatus status) {
  switch (status) {
    case AnchorStatus::kNotAnchored:
      return "not-anchored";
    case AnchorStatus::kAnchored:
      return "anchored";
    case AnchorStatus::kReplaced:
      return "replaced";
    case AnchorStatus::kRestarted:
      return "restarted";
    case AnchorStatus::kConflict:
      return "conflict";
  }
  return "not-anchored";
}

AnchorVerdict check_anchor(const SidecarReport& report, const keystore::SchoolKeyPair& audit_key,
                           const AnchorQuery& query) {
  const SidecarGenesis current = genesis_of_header(report.header, "the audit sidecar");
  AnchorVerdict v;
  auto problem = [&](std::string s) { v.problems.push_back(std::move(s)); };
  const VaultId vid = query.coffer_vault_id.value_or(current.vault_id);
  const std::string vid_hex = keystore::to_hex(vid);
  bool replaced = false;
  if (query.coffer_vault_id && *query.coffer_vault_id != current.vault_id) {
    replaced = true;
    problem("REPLACED: the sidecar names vault id " + keystore::to_hex(current.vault_id) + ", the coffer is " +
            vid_hex + ": it is another coffer's trail");
  }
  std::vector<DropCopy> drops;
  if (query.drop_dir) drops = find_drop_copies(*query.drop_dir, vid);

  // The trail's lineage: its own genesis, then each earlier trail a
  // verified restart record links it to.
  std::vector<keystore::Digest32> lineage{current.digest};
  const SidecarReport* part = &report;
  std::vector<EarlierPart> earlier;  // newest first while walking
  for (int depth = 0; depth < kMaxRestarts; ++depth) {
    if (part->entries.empty()) break;
    const SidecarEntry& first = part->entries.front();
    auto claim = parse_restart(first.event);
    if (!claim) break;
    if (!first.authenticated || !first.verified) {
      problem("the restart record at the start of a trail does not verify (forged or edited)");
      break;
    }
    if (!claim->previous_header) {
      v.notes.push_back(
          "the trail restarted after its sidecar went missing, but the coffer had not kept the earlier trail's "
          "header (made before anchoring): the restart cannot be linked to the earlier trail");
      break;
    }
    if (!claim->new_genesis || !same(*claim->new_genesis, lineage.back())) {
      problem("a restart record names another trail than the one it starts (moved or forged)");
      break;
    }
    if (!restart_link_verifies(*claim, audit_key)) {
      problem(
          "a restart record's link to the earlier trail does not verify: it was not written by the coffer "
          "that kept that trail (forged)");
      break;
    }
    SidecarGenesis prev = genesis_of_header(*claim->previous_header, "the restart record");
    if (prev.vault_id != vid) {
      problem("a restart record links to the trail of another vault id (" + keystore::to_hex(prev.vault_id) + ")");
      break;
    }
    lineage.push_back(prev.digest);
    auto d = std::find_if(drops.begin(), drops.end(), [&](auto& c) { return same(c.genesis.digest, prev.digest); });
    if (d == drops.end()) {
      v.notes.push_back("the trail restarted; the earlier trail (genesis " + short_hex(prev.digest) + "..., " +
                        std::to_string(claim->records) +
                        " record(s)) is in no drop copy found by vault id: those records are lost");
      break;
    }
    EarlierPart e;
    e.drop_copy = d->path;
    e.records_claimed = claim->records;
    e.report = read_sidecar(d->path, audit_key);
    for (auto& p : e.report.problems) problem("earlier part (" + d->path.string() + "): " + p);
    if (e.report.records < claim->records)
      v.notes.push_back("the earlier part " + d->path.string() + " holds " + std::to_string(e.report.records) +
                        " of the " + std::to_string(claim->records) +
                        " record(s) its sidecar had when it went missing: the rest reached no drop copy");
    earlier.push_back(std::move(e));
    part = &earlier.back().report;
  }
  std::reverse(earlier.begin(), earlier.end());
  v.earlier = std::move(earlier);
  auto in_lineage = [&](const keystore::Digest32& g) {
    return std::any_of(lineage.begin(), lineage.end(), [&](auto& l) { return same(l, g); });
  };

  if (query.store) v.anchors = find_anchors(*query.store, vid);
  if (v.anchors.size() > 1) {
    v.status = AnchorStatus::kConflict;
    std::string files;
    for (auto& a : v.anchors) files += (files.empty() ? "" : ", ") + a.file.string();
    problem("CONFLICT: the manifest store holds " + std::to_string(v.anchors.size()) + " anchors for vault id " +
            vid_hex + " (" + files + "); only one can be genuine: IT must find out which");
  } else if (v.anchors.size() == 1) {
    const FoundAnchor& a = v.anchors.front();
    if (!a.coffer.empty() && !query.coffer_name.empty() && a.coffer != query.coffer_name) {
      replaced = true;
      problem("REPLACED: this trail is anchored for " + a.coffer + " (" + a.file.string() + "), not for " +
              query.coffer_name + ": it is another coffer's trail");
    } else if (same(a.genesis, current.digest)) {
      v.status = AnchorStatus::kAnchored;
    } else if (in_lineage(a.genesis)) {
      v.status = AnchorStatus::kRestarted;
    } else {
      replaced = true;
      problem("REPLACED: the trail's genesis (" + short_hex(current.digest) +
              "...) differs from the anchor filed at "
              "school (" +
              a.file.string() + ": " + short_hex(a.genesis) +
              "...): this is not the trail the coffer "
              "began with");
    }
    if (replaced)
      for (auto& d : drops)
        if (same(d.genesis.digest, a.genesis))
          v.notes.push_back("the drop copy " + d.path.string() + " begins the anchored trail: read it");
  }
  if (replaced) v.status = AnchorStatus::kReplaced;
  // Drop copies named for this coffer but of another vault id.
  if (query.drop_dir && !query.coffer_name.empty()) {
    std::error_code ec;
    const std::string prefix = query.coffer_name + ".";
    for (auto it = fs::directory_iterator(*query.drop_dir, ec); !ec && it != fs::directory_iterator();
         it.increment(ec)) {
      const std::string name = it->path().filename().string();
      if (!name.starts_with(prefix) || !name.ends_with(".audit") || name.size() != prefix.size() + 32 + 6) continue;
      auto named = from_hex<16>(std::string_view(name).substr(prefix.size(), 32));
      if (!named || *named == vid) continue;
      if (replaced)
        v.notes.push_back("the drop copy " + it->path().string() + " was made for " + query.coffer_name + ": read it");
      else
        problem("the drop copy " + it->path().string() + " was made for " + query.coffer_name +
                " with another vault id than this trail's (" + vid_hex + "): one of them is another coffer's trail");
    }
  }
  // A drop copy of this vault id outside the lineage is a trail this one
  // does not account for.
  if (!replaced && v.status != AnchorStatus::kConflict)
    for (auto& d : drops)
      if (!in_lineage(d.genesis.digest))
        problem("the drop copy " + d.path.string() + " belongs to this coffer (vault id " + vid_hex +
                ") but begins another trail (genesis " + short_hex(d.genesis.digest) +
                "...): one of them was replaced; read both");
  return v;
}

}  // namespace coffer::vault

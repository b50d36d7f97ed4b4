// The CTF importer: the DfE Common Transfer File (XML; research §1.2 and
// §6.3). Element names are compared without any namespace prefix. Pupils
// are keyed by UPN; a pupil who is not selected is never read beyond it.
// What a trip needs is mapped (names, DOB, sex, year, contacts); every other
// element is left out and reported by name, deny-listed ones as dropped.
#include <pugixml.hpp>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <map>
#include <unordered_map>

#include "coffer/error.h"
#include "coffer/vault/records/import.h"
#include "import_common.h"
#include "row_errors.h"

namespace coffer::vault {
namespace {

std::string_view local_name(const pugi::xml_node& n) {
  std::string_view name = n.name();
  auto colon = name.rfind(':');
  return colon == std::string_view::npos ? name : name.substr(colon + 1);
}

pugi::xml_node child(const pugi::xml_node& parent, std::string_view name) {
  for (auto c = parent.first_child(); c; c = c.next_sibling())
    if (c.type() == pugi::node_element && local_name(c) == name) return c;
  return {};
}

std::string trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return std::string(s);
}

std::string text(const pugi::xml_node& n) { return trim(n.text().get()); }

// CBDS "relationship to pupil" codes as English MIS write them. Only PAR,
// CAR and OTH appear in the research's sources; the rest are the CBDS code
// set's other common entries. An unknown code is kept as written.
std::string relationship_label(const std::string& code) {
  static const std::map<std::string, std::string, std::less<>> kLabels = {
      {"PAR", "Parent"},        {"CAR", "Carer"},          {"OTH", "Other"},         {"STP", "Step-parent"},
      {"FOP", "Foster parent"}, {"REL", "Other relative"}, {"FAM", "Family member"}, {"CHM", "Childminder"},
      {"SWR", "Social worker"}, {"DOC", "Doctor"}};
  auto it = kLabels.find(code);
  return it == kLabels.end() ? code : it->second;
}

std::string phone_kind(const std::string& type) {
  if (type == "M") return "mobile";
  if (type == "H") return "home";
  if (type == "W") return "work";
  return "";
}

class Reader {
 public:
  Reader(const SourceFile& file, const Selection& sel, SourceData& data) : file_(file), sel_(sel), data_(data) {
    for (std::size_t i = 0; i < file.text.size(); ++i)
      if (file.text[i] == '\n') newlines_.push_back(i);
  }

  void run() {
    check_encoding();
    pugi::xml_document doc;
    pugi::xml_parse_result r =
        doc.load_buffer(file_.text.data(), file_.text.size(), pugi::parse_default, pugi::encoding_utf8);
    if (!r)
      throw Error(ErrorCode::kUsage, at(r.offset) + "malformed XML (" + r.description() +
                                         "); check that this is the whole file as the MIS exported it");
    pugi::xml_node root = doc.document_element();
    if (!root) throw Error(ErrorCode::kUsage, file_.name + ": holds no XML element; is this the right file?");
    if (local_name(root) != "CTfile")
      throw Error(ErrorCode::kUsage, where(root) + "not a Common Transfer File (root element is " +
                                         std::string(local_name(root)).substr(0, 60) +
                                         "); give the .xml CTF file the MIS exported");
    read_version(root);
    for (auto block = root.first_child(); block; block = block.next_sibling()) {
      // CTFpupilData; ATFpupilData in the admissions variant.
      if (local_name(block) != "CTFpupilData" && local_name(block) != "ATFpupilData") continue;
      for (auto pupil = block.first_child(); pupil; pupil = pupil.next_sibling())
        if (pupil.type() == pugi::node_element && local_name(pupil) == "Pupil")
          errors_.row(file_.name, [&] { read_pupil(pupil); });
    }
    errors_.throw_if_any();  // every bad pupil; nothing is imported
    detail::require_selection_found(data_, sel_, file_.name);
  }

 private:
  std::size_t line(std::ptrdiff_t offset) const {
    if (offset <= 0) return 1;
    return 1 + static_cast<std::size_t>(
                   std::lower_bound(newlines_.begin(), newlines_.end(), static_cast<std::size_t>(offset)) -
                   newlines_.begin());
  }
  // "file:line: " for a byte offset into the text.
  std::string at(std::ptrdiff_t offset) const { return file_.name + ":" + std::to_string(line(offset)) + ": "; }
  std::string where(const pugi::xml_node& n) const { return at(n.offset_debug()); }
  std::string where_element(const pugi::xml_node& n) const {
    return where(n) + "element " + std::string(local_name(n)) + ": ";
  }

  // pugixml does not check UTF-8; a CTF must be UTF-8 (with or without BOM).
  void check_encoding() const {
    const std::string& s = file_.text;
    if (s.starts_with("\xFE\xFF") || s.starts_with("\xFF\xFE"))
      throw Error(ErrorCode::kUsage, file_.name + ": is UTF-16; a CTF is UTF-8, export it again or convert it");
    std::size_t i = 0;
    while (i < s.size()) {
      auto c = static_cast<unsigned char>(s[i]);
      std::size_t n = c < 0x80                   ? 0
                      : (c >= 0xC2 && c <= 0xDF) ? 1
                      : (c >= 0xE0 && c <= 0xEF) ? 2
                      : (c >= 0xF0 && c <= 0xF4) ? 3
                                                 : 9;
      bool ok = n != 9 && i + n < s.size();
      for (std::size_t k = 1; ok && k <= n; ++k) ok = (static_cast<unsigned char>(s[i + k]) & 0xC0) == 0x80;
      if (ok && n >= 2) {
        auto c1 = static_cast<unsigned char>(s[i + 1]);
        ok = !((c == 0xE0 && c1 < 0xA0) || (c == 0xED && c1 >= 0xA0) || (c == 0xF0 && c1 < 0x90) ||
               (c == 0xF4 && c1 >= 0x90));
      }
      if (!ok)
        throw Error(ErrorCode::kUsage,
                    at(static_cast<std::ptrdiff_t>(i)) + "is not valid UTF-8; a CTF is UTF-8, export it again");
      i += n + 1;
    }
  }

  void read_version(const pugi::xml_node& root) {
    pugi::xml_node header = child(root, "Header");
    pugi::xml_node version = child(header, "CTFversion");
    std::string v = text(version);
    // "NN.0": CTF 18 to 25 keep arriving (research §1.1).
    bool ok = (v.size() == 3 || v.size() == 4) && v.ends_with(".0") &&
              std::all_of(v.begin(), v.end() - 2, [](char c) { return c >= '0' && c <= '9'; });
    if (ok) {
      data_.format = "CTF " + v;
    } else {
      data_.format = "CTF";
      data_.warnings.push_back((version
                                    ? where(version) + "the CTFversion " + v.substr(0, 20) + " is not in the NN.0 form"
                                    : where(header ? header : root) + "the Header has no CTFversion") +
                               "; read as a CTF anyway, check the pupils imported");
    }
  }

  // Elements this importer does not map: named in `dropped` when the
  // deny-list covers them, else in `unmapped` (as a path below Pupil), and
  // then searched for deny-listed elements inside, so that an Ethnicity
  // wrapped in an unknown element is still reported. Iterative: the depth
  // of a hostile file is unbounded.
  void leave_out(const pugi::xml_node& n, const std::string& path) {
    if (n.type() != pugi::node_element) return;
    std::string name(local_name(n));
    if (detail::is_denied_column(name)) {
      data_.dropped.insert(std::move(name));
      return;
    }
    data_.unmapped.insert(path + name);
    pugi::xml_node c = n.first_child();
    while (c && c != n) {
      bool denied = c.type() == pugi::node_element && detail::is_denied_column(local_name(c));
      if (denied) data_.dropped.insert(std::string(local_name(c)));
      if (!denied && c.first_child()) {
        c = c.first_child();
        continue;
      }
      while (c != n && !c.next_sibling()) c = c.parent();
      if (c != n) c = c.next_sibling();
    }
  }

  // The one child of each name a pupil or contact may have.
  class Singles {
   public:
    explicit Singles(const Reader& r) : r_(r) {}
    void see(const pugi::xml_node& n) {
      auto [it, fresh] = seen_.emplace(std::string(local_name(n)), n);
      if (!fresh)
        throw Error(ErrorCode::kUsage, r_.where_element(n) + "appears twice (also on line " +
                                           std::to_string(r_.line(it->second.offset_debug())) +
                                           "); a CTF has one per parent element");
    }

   private:
    const Reader& r_;
    std::map<std::string, pugi::xml_node, std::less<>> seen_;
  };

  void read_pupil(const pugi::xml_node& node) {
    pugi::xml_node upn = child(node, "UPN");
    std::string key = text(upn);
    if (key.empty())
      throw Error(ErrorCode::kUsage, where(node) +
                                         "a Pupil has no UPN; every pupil in a CTF needs one, "
                                         "correct it in the MIS");
    if (auto [it, fresh] = line_of_.emplace(key, line(upn.offset_debug())); !fresh)
      throw Error(ErrorCode::kUsage, where_element(upn) + "the UPN " + key + " is also used on line " +
                                         std::to_string(it->second) + "; a CTF lists a pupil once");
    ++data_.source_pupils;
    Pupil p;
    p.key = key;
    if (!detail::select_pupil(data_, sel_, p)) return;

    Singles singles(*this);
    for (auto c = node.first_child(); c; c = c.next_sibling()) {
      if (c.type() != pugi::node_element) continue;
      std::string_view name = local_name(c);
      if (name == "UPN") {
        singles.see(c);
        p.upn = detail::check_upn_cell(key, where_element(c), data_.warnings);
      } else if (name == "Surname") {
        singles.see(c);
        p.surname = text(c);
      } else if (name == "Forename") {
        singles.see(c);
        p.forename = text(c);
      } else if (name == "DOB") {
        singles.see(c);
        std::string dob = text(c);
        if (!dob.empty()) {
          p.dob = parse_date(dob);
          data_.dob_where[p.key] = where_element(c);
          if (!p.dob)
            errors_.cell([&] {
              throw Error(ErrorCode::kUsage, where_element(c) +
                                                 "not a date in YYYY-MM-DD form or an impossible "
                                                 "date; correct it in the MIS and export again");
            });
        }
      } else if (name == "Sex" || name == "Gender") {  // older files say Gender
        singles.see(c);
        if (!p.sex.empty()) throw Error(ErrorCode::kUsage, where_element(c) + "a Pupil has both Sex and Gender");
        p.sex = errors_.cell([&] { return detail::parse_sex(text(c), where_element(c)); });
      } else if (name == "BasicDetails") {
        singles.see(c);
        read_basic_details(c, p);
      } else if (name == "Contacts") {
        singles.see(c);
        for (auto k = c.first_child(); k; k = k.next_sibling()) {
          if (k.type() == pugi::node_element && local_name(k) == "Contact")
            errors_.cell([&] { p.contacts.push_back(read_contact(k, static_cast<int>(p.contacts.size()) + 1)); });
          else leave_out(k, "Pupil/Contacts/");
        }
      } else {
        leave_out(c, "Pupil/");
      }
    }
    detail::sort_contacts(p);
    data_.pupils.push_back(std::move(p));
  }

  void read_basic_details(const pugi::xml_node& node, Pupil& p) {
    Singles singles(*this);
    for (auto c = node.first_child(); c; c = c.next_sibling()) {
      if (c.type() != pugi::node_element) continue;
      std::string_view name = local_name(c);
      if (name == "PreferredSurname") {
        singles.see(c);
        p.preferred_surname = text(c);
      } else if (name == "PreferredForename") {
        singles.see(c);
        p.preferred_forename = text(c);
      } else if (name == "NCyearActual") {
        singles.see(c);
        p.year_group = text(c);
      } else if (name == "MedicalFlag") {
        singles.see(c);
        if (detail::parse_flag(text(c), where_element(c)).value_or(false))
          data_.warnings.push_back(where(c) + "pupil " + p.key +
                                   ": the CTF says medical information exists but a CTF carries none; "
                                   "import it from the MIS (coffer-csv)");
      } else {
        leave_out(c, "Pupil/BasicDetails/");
      }
    }
  }

  // `position`: the contact's place in the file, its priority if it has no Order.
  Contact read_contact(const pugi::xml_node& node, int position) {
    Contact k;
    k.priority = position;
    k.ranked = false;
    std::string title, forename, surname;
    Singles singles(*this);
    for (auto c = node.first_child(); c; c = c.next_sibling()) {
      if (c.type() != pugi::node_element) continue;
      std::string_view name = local_name(c);
      if (name == "Order") {
        singles.see(c);
        std::string order = text(c);
        int value = 0;
        auto [end, ec] = std::from_chars(order.data(), order.data() + order.size(), value);
        if (ec != std::errc() || end != order.data() + order.size() || value < 1)
          throw Error(ErrorCode::kUsage, where_element(c) + "expected a whole number from 1 (1 = call first)");
        k.priority = value;
        k.ranked = true;
      } else if (name == "Title") {
        singles.see(c);
        title = text(c);
      } else if (name == "Forename") {
        singles.see(c);
        forename = text(c);
      } else if (name == "Surname") {
        singles.see(c);
        surname = text(c);
      } else if (name == "Relationship") {
        singles.see(c);
        k.relationship = relationship_label(text(c));
      } else if (name == "Responsibility") {
        singles.see(c);
        k.parental_responsibility = detail::parse_flag(text(c), where_element(c));
      } else if (name == "Phones") {
        singles.see(c);
        for (auto ph = c.first_child(); ph; ph = ph.next_sibling()) {
          if (ph.type() == pugi::node_element && local_name(ph) == "Phone") read_phone(ph, k);
          else leave_out(ph, "Pupil/Contacts/Contact/Phones/");
        }
      } else {
        leave_out(c, "Pupil/Contacts/Contact/");
      }
    }
    for (auto* part : {&title, &forename, &surname})
      if (!part->empty()) k.name += (k.name.empty() ? "" : " ") + *part;
    if (forename.empty() && surname.empty())
      throw Error(ErrorCode::kUsage, where_element(node) + "the contact has no name (Forename or Surname)");
    return k;
  }

  void read_phone(const pugi::xml_node& node, Contact& k) {
    std::string type, number;
    Singles singles(*this);
    for (auto c = node.first_child(); c; c = c.next_sibling()) {
      if (c.type() != pugi::node_element) continue;
      std::string_view name = local_name(c);
      if (name == "TelephoneType") {
        singles.see(c);
        type = text(c);
      } else if (name == "PhoneNo") {
        singles.see(c);
        number = text(c);
      } else {
        leave_out(c, "Pupil/Contacts/Contact/Phones/Phone/");
      }
    }
    if (!number.empty()) k.phones.push_back({phone_kind(type), number, display_phone(number)});
  }

  const SourceFile& file_;
  const Selection& sel_;
  SourceData& data_;
  std::vector<std::size_t> newlines_;                     // offsets of '\n', for line numbers
  std::unordered_map<std::string, std::size_t> line_of_;  // UPN -> line
  detail::RowErrors errors_{"pupil"};                     // every bad pupil, thrown at the end of run()
};

}  // namespace

SourceData parse_ctf(const SourceFile& xml, const Selection& selection) {
  if (!selection.groups.empty())
    throw Error(ErrorCode::kUsage, xml.name + ": a CTF has no registration groups or classes (only year groups)",
                Remedy::kSelectByUpn);
  SourceData data;
  // The elements a CTF's Pupil carries (Contacts with Phones); a CTF has no
  // medical, dietary or activity data (at most a MedicalFlag).
  data.provided = {"names", "upn", "dob", "sex", "preferred_names", "year_group", "contacts", "contact_phones"};
  Reader(xml, selection, data).run();
  return data;
}

}  // namespace coffer::vault

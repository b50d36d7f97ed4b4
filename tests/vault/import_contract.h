// The importer contract: a neutral description of a pupil source (pupils
// with key, UPN, names, date of birth and group; a BOM, CRLF line ends, a
// deny-listed column) and, per importer, an adapter that writes it in that
// importer's format and says where each value landed (file, line, column),
// so import_contract_test.cpp can hold every importer to the same cases.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <vector>

#include "coffer/vault/records/import.h"

namespace coffer::vault::contract {

struct NeutralPupil {
  std::string key;  // the source's own pupil key (a CTF keys pupils by UPN)
  std::string upn;  // "" = none
  std::string surname;
  std::string forename;
  std::string dob;    // YYYY-MM-DD as written (may be impossible, on purpose)
  std::string group;  // registration group, "" = none
};

// A value written in the deny-listed column of every pupil; it must appear
// nowhere in what an importer returns.
inline constexpr const char* kDeniedValue = "LEAKWBRI";

struct NeutralSource {
  std::vector<NeutralPupil> pupils;
  bool bom = false;     // a UTF-8 byte order mark at the start of every file
  bool crlf = false;    // CRLF line ends
  bool denied = false;  // add the importer's deny-listed column, holding kDeniedValue
  // The deny-listed column's (or element's) name; "" = the adapter's own
  // denied_name().
  std::string denied_column;
};

// What a case needs from an importer's format. Each adapter is a struct with:
//   static constexpr const char* kName;
//   static std::string format();              // what SourceData::format says
//   static constexpr const char* kNotADate;   // a bad date's message, after where()
//   static SourceData parse(const NeutralSource&, const Selection&);
//   static SourceData parse_empty();          // the main file is empty (0 bytes)
//   static std::string main_file();           // how messages name the file of the pupils
//   static std::string key_of(const NeutralPupil&);   // the key it reads
//   static std::string where(const NeutralSource&, std::size_t pupil, Field);
//       "file:line: column X (n)" / "file:line: element X": the prefix of a
//       message about that pupil's field
//   static int line_of(const NeutralSource&, std::size_t pupil, Field);
//   static std::string denied_name();         // as reported in SourceData::dropped
//   static std::optional<std::string> lacks(Concept);  // why a case does not apply
enum class Field { kKey, kUpn, kDob };
// kEarlierLineOfDuplicate: a repeated pupil key's message gives the line
// number of its first use. kUpn: the source carries UPNs. kRegGroup: a
// group can be a registration group (not only a class).
enum class Concept { kGroups, kBom, kCrlf, kEarlierLineOfDuplicate, kUpn, kRegGroup };

}  // namespace coffer::vault::contract

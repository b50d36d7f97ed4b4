// A deterministic generator of an obviously fictional school's MIS export,
// "Northwind Academy (fictional)", in the coffer-csv format (pupils.csv and
// contacts.csv, see vault/src/import_coffer_csv.cpp). For the demo script,
// tests and benchmarks: never real data, and the same seed always gives the
// same bytes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace coffer::demo_school {

inline constexpr std::string_view kSchoolName = "Northwind Academy (fictional)";
inline constexpr std::size_t kMaxPupils = 999'999;  // PupilKey P + 6 digits, UPN scheme below
inline constexpr std::size_t kPupilsPerGroup = 25;
inline constexpr int kFirstYear = 7, kLastYear = 12;
// Every 97th pupil (P00097, P00194, ...) has a single contact with no phone
// number, so tests can exercise the "no reachable emergency contact" rule.
inline constexpr std::size_t kUnreachableEvery = 97;

struct Options {
  std::size_t pupils = 600;  // 1 .. kMaxPupils
  std::uint64_t seed = 1;
  bool minimal = false;  // leave out the Ethnicity, FSMeligible, SENProvision columns
};

struct Export {
  std::string pupils_csv;
  std::string contacts_csv;
  std::size_t pupils = 0;
  std::size_t groups = 0;  // registration groups holding at least one pupil
  std::size_t contacts = 0;
  std::size_t pupils_with_allergies = 0;
  std::size_t allergies = 0;  // items over all pupils
};

Export generate(const Options& options);

// Forms per year: enough for at most 25 pupils a group, ceil(N / 25 / 6).
std::size_t forms_per_year(std::size_t pupils);
// Form letters after the year: A..Z, then AA, AB, ..., AZ, BA, ... (like
// spreadsheet columns), so 67 forms end at BO and 7A sorts before 7AA.
std::string form_letters(std::size_t form);
// "P00001" (0-based index 0); six digits once there are 100000 pupils.
std::string pupil_key(std::size_t index, std::size_t pupils);
// A valid, unique permanent UPN for pupil `index` (0-based); see school.cpp.
std::string upn(std::size_t index);

}  // namespace coffer::demo_school

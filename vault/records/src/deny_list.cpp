// The deny-list of source column and element names; see deny_list.h and
// the table in docs/IMPORT.md (keep the two in step).
#include "deny_list.h"

#include <algorithm>
#include <array>
#include <cctype>

namespace coffer::vault::detail {
namespace {

// Why, in the words an error message and docs/IMPORT.md use.
constexpr std::string_view kEthnic = "racial or ethnic origin (special category data)";
constexpr std::string_view kReligion = "religion or belief (special category data)";
constexpr std::string_view kBirth = "nationality or place of birth (can reveal ethnic origin)";
constexpr std::string_view kIncome =
    "free school meals, free or reduced-price lunch, pupil premium or economic disadvantage (family income)";
constexpr std::string_view kSen =
    "special educational needs or disability (SEN, EHCP, IEP, Section 504 plan, special education)";
constexpr std::string_view kLanguage = "first language or English-learner status (EAL, ELL, LEP, ESL)";
constexpr std::string_view kCare =
    "care, child protection or housing status (looked after, child in need, foster care, homeless)";
constexpr std::string_view kFamily = "family circumstances (service child, young carer)";
constexpr std::string_view kMigrant = "migrant, refugee or immigration status";
constexpr std::string_view kFlags =
    "US student flags (SDS userFlags: IEP, 504 plan, free lunch and the like; special educational needs and family "
    "income)";
constexpr std::string_view kContact = "an address or email address (no purpose needs them; phones are carried)";
constexpr std::string_view kPassword = "a password (a credential, never pupil data)";
constexpr std::string_view kRecords =
    "attendance, assessment, exclusion, admission or school history (records no purpose needs)";
constexpr std::string_view kIds = "a national learner identifier other than the UPN (ULN, UCI)";
constexpr std::string_view kIdentity =
    "gender identity, pronouns or a former name (can reveal a transition or an adoption)";

struct Stem {
  std::string_view stem;
  std::string_view why;
};

// Short codes, only as a whole word of the name: "LAC" and "Is LAC" match,
// "Lactose" does not; "isELL" and "ell_status" match, "Spelling" does not.
constexpr std::array<Stem, 14> kWords = {{{"fsm", kIncome},
                                          {"frl", kIncome},
                                          {"sen", kSen},
                                          {"iep", kSen},
                                          {"504", kSen},
                                          {"lac", kCare},
                                          {"cla", kCare},
                                          {"cin", kCare},
                                          {"eal", kLanguage},
                                          {"ell", kLanguage},
                                          {"lep", kLanguage},
                                          {"esl", kLanguage},
                                          {"esol", kLanguage},
                                          {"aln", kSen}}};

// Stems found anywhere in the folded name: "Home Address", "Parent Email",
// "FSM Eligible", "isFreeLunchEligible". A false match only drops a column,
// and the drop is reported by name.
constexpr std::array<Stem, 70> kContains = {{
    {"userflag", kFlags},
    {"ethnic", kEthnic},
    {"religio", kReligion},
    {"faith", kReligion},
    {"nationalit", kBirth},
    {"countryofbirth", kBirth},
    {"birthcountry", kBirth},
    {"cityofbirth", kBirth},
    {"birthcity", kBirth},
    {"stateofbirth", kBirth},
    {"birthstate", kBirth},
    {"placeofbirth", kBirth},
    {"birthplace", kBirth},
    {"freeschoolmeal", kIncome},
    {"freemeal", kIncome},
    {"freelunch", kIncome},
    {"reducedlunch", kIncome},
    {"pupilpremium", kIncome},
    {"premium", kIncome},
    {"disadvantage", kIncome},
    {"senprovision", kSen},
    {"senneed", kSen},
    {"senstatus", kSen},
    {"senhistory", kSen},
    {"sencode", kSen},
    {"sensupport", kSen},
    {"senunit", kSen},
    {"specialed", kSen},
    {"disabilit", kSen},
    {"topupfunding", kSen},
    {"resourcedprovision", kSen},
    {"nawdetails", kSen},
    {"language", kLanguage},
    {"lookedafter", kCare},
    {"childlookedafter", kCare},
    {"careauthority", kCare},
    {"everincare", kCare},
    {"adoptedfromcare", kCare},
    {"postlookedafter", kCare},
    {"childprotection", kCare},
    {"childinneed", kCare},
    {"fostercare", kCare},
    {"homeless", kCare},
    {"publicschoolresidence", kCare},
    {"servicechild", kFamily},
    {"youngcarer", kFamily},
    {"migrant", kMigrant},
    {"immigration", kMigrant},
    {"refugee", kMigrant},
    {"asylum", kMigrant},
    {"address", kContact},
    {"postcode", kContact},
    {"email", kContact},
    {"password", kPassword},
    {"attendance", kRecords},
    {"assessment", kRecords},
    {"keystage", kRecords},
    {"schoolhistory", kRecords},
    {"admission", kRecords},
    {"exclusion", kRecords},
    {"examresult", kRecords},
    {"testresult", kRecords},
    {"uniquelearnernumber", kIds},
    {"formersurname", kIdentity},
    {"formerforename", kIdentity},
    {"formername", kIdentity},
    {"genderidentity", kIdentity},
    {"pronoun", kIdentity},
    // SDS demographics' race codes ("raceCodes") start with race: below.
    {"hispanicorlatino", kEthnic},
    {"demographicrace", kEthnic},
}};

// Short stems only at the start of the folded name ("FSMeligible", "SEN
// status", "EAL", "raceCodes", "KS2 results").
constexpr std::array<Stem, 9> kPrefixes = {{{"fsm", kIncome},
                                            {"ehcp", kSen},
                                            {"send", kSen},
                                            {"eal", kLanguage},
                                            {"uci", kIds},
                                            {"uln", kIds},
                                            {"race", kEthnic},
                                            {"incare", kCare},
                                            {"ks", kRecords}}};

// Exact folded names (OneRoster's race columns and other short ones).
constexpr std::array<Stem, 12> kExact = {{{"sen", kSen},
                                          {"cin", kCare},
                                          {"cla", kCare},
                                          {"aln", kSen},
                                          {"asian", kEthnic},
                                          {"white", kEthnic},
                                          {"americanindianoralaskanative", kEthnic},
                                          {"blackorafricanamerican", kEthnic},
                                          {"nativehawaiianorotherpacificislander", kEthnic},
                                          {"speakwelsh", kLanguage},
                                          {"homewelsh", kLanguage},
                                          {"nationalidentity", kBirth}}};

std::string fold(std::string_view s) {
  std::string out;
  for (char c : s)
    if (std::isalnum(static_cast<unsigned char>(c)))
      out += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

}  // namespace

std::vector<std::string> name_words(std::string_view name) {
  std::string_view s = name;
  auto up = [](char c) { return std::isupper(static_cast<unsigned char>(c)) != 0; };
  auto lo = [](char c) { return std::islower(static_cast<unsigned char>(c)) != 0; };
  auto digit = [](char c) { return std::isdigit(static_cast<unsigned char>(c)) != 0; };
  std::vector<std::string> out;
  std::string w;
  for (std::size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (!std::isalnum(static_cast<unsigned char>(c))) {
      if (!w.empty()) out.push_back(std::move(w)), w.clear();
      continue;
    }
    if (!w.empty()) {
      char prev = s[i - 1];
      bool next_lower = i + 1 < s.size() && lo(s[i + 1]);
      // aB | letter-digit | ABc (the last capital starts a word: "IEPDate")
      if ((lo(prev) && up(c)) || (digit(prev) != digit(c)) || (up(prev) && up(c) && next_lower))
        out.push_back(std::move(w)), w.clear();
    }
    w += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  if (!w.empty()) out.push_back(std::move(w));
  return out;
}

std::optional<std::string> deny_reason(std::string_view name) {
  std::string f = fold(name);
  if (f.empty()) return std::nullopt;
  for (auto& w : name_words(name))
    for (auto& s : kWords)
      if (w == s.stem) return std::string(s.why);
  for (auto& s : kContains)
    if (f.find(s.stem) != std::string::npos) return std::string(s.why);
  for (auto& s : kPrefixes)
    if (f.starts_with(s.stem)) return std::string(s.why);
  for (auto& s : kExact)
    if (f == s.stem) return std::string(s.why);
  return std::nullopt;
}

bool is_denied_column(std::string_view name) { return deny_reason(name).has_value(); }

}  // namespace coffer::vault::detail

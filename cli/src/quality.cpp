// zxcvbn check; see quality.h. zxcvbn needs a NUL-terminated string, so the
// passphrase is copied into secure memory for the call.
#include "quality.h"

#include <zxcvbn.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <memory>
#include <set>
#include <string>

#include "coffer/error.h"

namespace coffer::cli {
namespace {

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// The word, its parts and the parts run together ("Jane Smith": "jane smith",
// "jane", "smith", "janesmith").
void add_word(std::set<std::string>& out, const std::string& text) {
  std::string whole = lower(text);
  if (whole.empty()) return;
  out.insert(whole);
  std::string part, joined;
  auto flush = [&] {
    if (part.size() >= 3) out.insert(part);
    part.clear();
  };
  for (char c : whole) {
    if (std::isalnum(static_cast<unsigned char>(c))) {
      part += c;
      joined += c;
    } else {
      flush();
    }
  }
  flush();
  if (joined.size() >= 3) out.insert(joined);
}

struct Info {
  ZxcMatch_t* p = nullptr;
  Info() = default;
  Info(const Info&) = delete;
  Info& operator=(const Info&) = delete;
  ~Info() { ZxcvbnFreeInfo(p); }
};

double match(const keystore::Passphrase& passphrase, const std::vector<std::string>& words, Info& info) {
  keystore::SecretBytes text(passphrase.size() + 1);
  auto pw = passphrase.reveal_bytes();
  std::copy(pw.begin(), pw.end(), text.writable_bytes().begin());
  std::vector<const char*> dict;
  dict.reserve(words.size() + 1);
  for (const auto& w : words) dict.push_back(w.c_str());
  dict.push_back(nullptr);
  return ZxcvbnMatch(reinterpret_cast<const char*>(text.reveal_bytes().data()), dict.data(), &info.p);
}

}  // namespace

std::vector<std::string> passphrase_context(const std::string& owner, const std::string& purpose,
                                            const std::filesystem::path& file, const std::string& school) {
  std::set<std::string> words;
  add_word(words, owner);
  add_word(words, purpose);
  std::filesystem::path name = file.filename();
  add_word(words, name.string());
  add_word(words, name.stem().string());
  add_word(words, school);
  add_word(words, "coffer");
  return {words.begin(), words.end()};
}

double passphrase_bits(const keystore::Passphrase& passphrase, const std::vector<std::string>& words) {
  Info info;
  return match(passphrase, words, info);
}

keystore::Passphrase one_time_passphrase(keystore::Random& random, std::string& shown,
                                         const std::vector<std::string>& words) {
  static constexpr char kAlphabet[] = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789";
  static constexpr std::size_t kLength = 20;
  for (;;) {
    keystore::SecretBytes bytes(kLength);
    random.fill(bytes.writable_bytes());
    keystore::Passphrase p;
    std::string text;
    text.reserve(kLength + kLength / 4);  // never reallocated: no stray copy
    for (std::size_t i = 0; i < kLength; ++i) {
      if (i && i % 4 == 0) text += '-', p.push_back('-');
      char c = kAlphabet[bytes.reveal_bytes()[i] & 31];
      text += c;
      p.push_back(static_cast<std::uint8_t>(c));
    }
    if (passphrase_bits(p, words) >= kMinPassphraseBits) {
      shown += text;
      keystore::wipe(std::span<char>(text.data(), text.size()));
      return p;
    }
    keystore::wipe(std::span<char>(text.data(), text.size()));
  }
}

void require_strong(const keystore::Passphrase& passphrase, const std::vector<std::string>& words) {
  Info info;
  double bits = match(passphrase, words, info);
  if (bits >= kMinPassphraseBits) return;
  // Why, in general terms (never the passphrase or the matched words).
  bool own = false, common = false, pattern = false;
  for (const ZxcMatch_t* m = info.p; m != nullptr; m = m->Next) {
    int type = static_cast<int>(m->Type) & ~static_cast<int>(MULTIPLE_MATCH);
    if (type == USER_MATCH || type == USER_LEET_MATCH) own = true;
    if (type == DICTIONARY_MATCH || type == DICT_LEET_MATCH) common = true;
    if (type == SPATIAL_MATCH || type == SEQUENCE_MATCH || type == REPEATS_MATCH || type == DATE_MATCH ||
        type == YEAR_MATCH)
      pattern = true;
  }
  std::string why;
  if (own) why += "; it contains the owner's name, the purpose or the file's name";
  if (common) why += "; it is built on common words or passwords (letter swaps like 0 for o do not help)";
  if (pattern) why += "; it uses a date, a year, a keyboard run or a repeat";
  throw Error(ErrorCode::kPolicy,
              "passphrase refused as too weak: about " + std::to_string(static_cast<int>(std::floor(bits))) +
                  " bits of strength, at least " + std::to_string(static_cast<int>(kMinPassphraseBits)) + " needed" +
                  why +
                  ". Choose four or more unrelated words you will remember (a phrase of your own, not a "
                  "quotation).");
}

}  // namespace coffer::cli

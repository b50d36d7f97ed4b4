// Passphrase strength, judged by zxcvbn (Debian's zxcvbn-c: an estimate of
// the guesses an attacker who knows common passwords, names, keyboard
// patterns, dates and leet substitutions would need), never by home-made
// rules. Words the attacker knows about this coffer (its owner, purpose,
// file name, the school) count as dictionary words.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "coffer/keystore/random.h"
#include "coffer/keystore/secret.h"

namespace coffer::cli {

// The documented minimum (docs/CLI.md): about 2^50 guesses. At the default
// Argon2id cost (about a second and 256 MiB per guess on one core) that is
// far beyond what anyone spends on a stolen laptop; at the test cost it is
// still out of reach for a single machine.
inline constexpr double kMinPassphraseBits = 50.0;

// The words an attacker knows about one coffer: the owner's name, the
// purpose, the file's name, the school (any may be empty), with their parts
// (split at spaces, dots, dashes and underscores).
std::vector<std::string> passphrase_context(const std::string& owner, const std::string& purpose,
                                            const std::filesystem::path& file, const std::string& school = {});

// zxcvbn's estimate in bits, with `words` as the user dictionary.
double passphrase_bits(const keystore::Passphrase& passphrase, const std::vector<std::string>& words);

// Throws Error(kPolicy) when the passphrase is below kMinPassphraseBits,
// saying why without repeating it, and suggesting four unrelated words.
void require_strong(const keystore::Passphrase& passphrase, const std::vector<std::string>& words);

// A one-time passphrase for provisioning: 20 characters from an alphabet
// without look-alikes (no I, O, 0, 1), shown in groups of four. 32 symbols,
// so each is 5 unbiased bits: 100 bits in all; a draw that zxcvbn would
// still rate below kMinPassphraseBits with `words` (a run such as ABCD...,
// vanishingly rare) is drawn again, so every one meets the same bar as a
// chosen passphrase. `shown` receives the text with its dashes.
keystore::Passphrase one_time_passphrase(keystore::Random& random, std::string& shown,
                                         const std::vector<std::string>& words);

}  // namespace coffer::cli

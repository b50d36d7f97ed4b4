// coffer-tamper-trials: damages copies of a populated coffer at random
// (flipped bytes, zeroed pages, the last page of a row's overflow chain
// zeroed or flipped, truncation, appended bytes, swapped pages, forged
// headers) and
// checks that each damage is refused at unlock, or that reading the affected
// data fails with an integrity error, or that fsck reports it: never wrong
// data, never a crash or a hang, no error message naming a pupil, a file or
// a passphrase. Messages that do not say what is damaged (or come with
// another code than kDamaged) are listed; --strict-messages makes them
// failures too. Prints a table per mutation and outcome and the detection
// rate; exits 1 on any failure.
//
//   coffer-tamper-trials [--trials N] [--seed S] [--kind KIND] [--only-trial K]
//                        [--timeout SECONDS] [--strict-messages] [--verbose]
#include <sys/resource.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <map>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "coffer/vault/audit/audit.h"
#include "mutation.h"
#include "population.h"
#include "test_support.h"
#include "trial.h"

namespace coffer::tamper {
namespace {

namespace fs = std::filesystem;

struct Options {
  std::uint64_t trials = 1000;
  std::uint64_t seed = 0;
  bool seed_given = false;
  std::optional<MutationKind> kind;
  std::optional<std::uint64_t> only_trial;
  unsigned timeout = 120;
  bool strict_messages = false;
  bool verbose = false;
};

enum class Outcome { kRefused, kReadError, kFsck, kRepaired, kUnnoticed, kWrongData, kCrash, kUnexpected, kLeak };
constexpr std::array kOutcomes{Outcome::kRefused,  Outcome::kReadError,  Outcome::kFsck,
                               Outcome::kRepaired, Outcome::kUnnoticed,  Outcome::kWrongData,
                               Outcome::kCrash,    Outcome::kUnexpected, Outcome::kLeak};

std::string_view outcome_name(Outcome o) {
  switch (o) {
    case Outcome::kRefused:
      return "refused at unlock";
    case Outcome::kReadError:
      return "integrity error on read";
    case Outcome::kFsck:
      return "reported by fsck";
    case Outcome::kRepaired:
      return "repaired (other header copy)";
    case Outcome::kUnnoticed:
      return "unnoticed, content identical";
    case Outcome::kWrongData:
      return "WRONG DATA";
    case Outcome::kCrash:
      return "CRASH/HANG";
    case Outcome::kUnexpected:
      return "UNEXPECTED EXCEPTION";
    case Outcome::kLeak:
      return "MESSAGE LEAKS";
  }
  return "?";
}

bool is_failure(Outcome o) { return o >= Outcome::kWrongData; }
bool is_detection(Outcome o) { return o <= Outcome::kRepaired; }

struct Verdict {
  Outcome outcome;
  std::string detail;
  std::string unclear;  // a message that does not say what is damaged, if any
};

// ---------------------------------------------------------------- judging messages

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

// A message for damage must say so, in words a teacher or IT can act on.
bool says_damaged(const std::string& message) {
  static const char* kWords[] = {"damaged",   "tamper",   "corrupt",  "malformed",    "integrity",
                                 "truncated", "appended", "checksum", "not a coffer", "modified"};
  const std::string m = lower(message);
  return std::any_of(std::begin(kWords), std::end(kWords),
                     [&](const char* w) { return m.find(w) != std::string::npos; });
}

std::optional<std::string> leaked_secret(const std::string& message, const Population& pop) {
  for (const auto& s : pop.secrets)
    if (message.find(s) != std::string::npos) return s;
  return std::nullopt;
}

std::vector<std::string> all_messages(const Examination& e) {
  std::vector<std::string> out{e.refusal_message};
  out.insert(out.end(), e.warnings.begin(), e.warnings.end());
  out.insert(out.end(), e.fsck_problems.begin(), e.fsck_problems.end());
  for (const auto* list : {&e.damaged, &e.other_errors})
    for (const auto& p : *list) out.push_back(p.message);
  return out;
}

// ---------------------------------------------------------------- classifying a trial

// The failed-attempt counter and key-slot contents can be rewritten by
// anyone, with valid checksums (docs/FORMAT.md §2.2, §2.5): a forged header
// may then lock the coffer out, or fail to unwrap and read as a wrong
// passphrase. Both refuse; neither can return data.
bool documented_forge_refusal(const Examination& e, const Mutation& m) {
  return m.kind == MutationKind::kForgeHeader &&
         (e.refusal_code == "kWrongPassphrase" || e.refusal_code == "kLockedOut");
}

std::optional<std::string> leak(const Examination& e, const Population& pop) {
  for (const auto& msg : all_messages(e))
    if (auto s = leaked_secret(msg, pop)) return "a message names '" + *s + "': " + msg;
  return std::nullopt;
}

// The first error message that does not say what is damaged, or that came
// with another code than kDamaged ("" if none).
std::string unclear_message(const Examination& e, const Mutation& m) {
  if (!e.unlocked && !documented_forge_refusal(e, m) &&
      (e.refusal_code != "kDamaged" || !says_damaged(e.refusal_message)))
    return "unlock (" + e.refusal_code + "): " + e.refusal_message;
  if (!e.other_errors.empty()) return "read (" + e.other_errors[0].code + "): " + e.other_errors[0].message;
  for (const auto& p : e.damaged)
    if (!says_damaged(p.message)) return "read (" + p.code + "): " + p.message;
  return "";
}

Outcome detection(const Examination& e) {
  if (!e.unlocked) return Outcome::kRefused;
  if (!e.damaged.empty() || !e.other_errors.empty()) return Outcome::kReadError;
  if (!e.fsck_problems.empty()) return Outcome::kFsck;
  if (!e.warnings.empty()) return Outcome::kRepaired;
  return Outcome::kUnnoticed;
}

std::string first_finding(const Examination& e) {
  if (!e.unlocked) return e.refusal_code + ": " + e.refusal_message;
  for (const auto* list : {&e.damaged, &e.other_errors})
    if (!list->empty()) return list->front().part + ": " + list->front().message;
  // integrity_check's first line only names the database: show the next.
  for (const auto& f : e.fsck_problems)
    if (f.find("*** in database") == std::string::npos) return f;
  if (!e.fsck_problems.empty()) return e.fsck_problems[0];
  return e.warnings.empty() ? "" : e.warnings[0];
}

Verdict classify(const Examination& e, const Mutation& m, const Population& pop) {
  if (!e.abnormal_end.empty()) return {Outcome::kCrash, e.abnormal_end, ""};
  if (!e.unexpected.empty()) return {Outcome::kUnexpected, e.unexpected[0], ""};
  if (!e.wrong.empty()) return {Outcome::kWrongData, e.wrong[0].part + ": " + e.wrong[0].message, ""};
  if (auto l = leak(e, pop)) return {Outcome::kLeak, *l, ""};
  return {detection(e), first_finding(e), unclear_message(e, m)};
}

// ---------------------------------------------------------------- the run

struct Tally {
  std::map<MutationKind, std::map<Outcome, std::uint64_t>> counts;
  std::map<std::string, std::uint64_t> messages;  // "where: message" (paths replaced)
  std::vector<std::string> failures;
  std::vector<std::string> unnoticed;
  std::map<std::string, std::uint64_t> unclear;  // message (paths replaced) -> trials
  // For the chain-tail mutations: which parts failed to read, per trial.
  std::map<std::string, std::uint64_t> tail_parts;
};

std::string without(std::string s, const std::string& path) {
  for (std::size_t at; !path.empty() && (at = s.find(path)) != std::string::npos;) s.replace(at, path.size(), "PATH");
  return s;
}

// Which kind of part a read error was met in.
std::string part_group(const std::string& part) {
  if (part.rfind("files/", 0) == 0) return "files/";
  if (part == "audit trail") return "audit trail";
  return "records";
}

void note_messages(const Examination& e, const std::string& path, Tally& t) {
  if (!e.unlocked && !e.refusal_message.empty())
    ++t.messages["unlock refused (" + e.refusal_code + "): " + without(e.refusal_message, path)];
  for (const auto& p : e.damaged) ++t.messages["read of " + part_group(p.part) + ": " + without(p.message, path)];
}

// The parts a chain-tail mutation made unreadable: only the row's own
// (its file; roster.csv and its pupil's sheet; the audit trail) if the page
// located was that row's.
void note_tail_parts(MutationKind kind, const Examination& e, Tally& t) {
  if (kind != MutationKind::kZeroChainTail && kind != MutationKind::kFlipChainTail) return;
  std::string parts;
  for (const auto* list : {&e.damaged, &e.other_errors, &e.wrong})
    for (const auto& p : *list)
      parts += std::string(parts.empty() ? "" : " + ") + (list == &e.wrong ? "WRONG DATA in " : "") + p.part;
  if (!e.unlocked) parts = "(unlock refused)";
  ++t.tail_parts[std::string(kind_name(kind)) + ": " + (parts.empty() ? "(every part read back)" : parts)];
}

std::mt19937_64 trial_rng(std::uint64_t seed, std::uint64_t trial) {
  std::seed_seq seq{static_cast<std::uint32_t>(seed), static_cast<std::uint32_t>(seed >> 32),
                    static_cast<std::uint32_t>(trial), static_cast<std::uint32_t>(trial >> 32)};
  return std::mt19937_64(seq);
}

void copy_coffer(const fs::path& from, const fs::path& to) {
  for (const auto& p : vault::sibling_files(to)) fs::remove(p);
  fs::copy_file(from, to, fs::copy_options::overwrite_existing);
  fs::copy_file(vault::sidecar_path(from), vault::sidecar_path(to), fs::copy_options::overwrite_existing);
}

std::string reproduce(const Options& o, std::uint64_t trial, MutationKind kind) {
  return "coffer-tamper-trials --seed " + std::to_string(o.seed) + " --only-trial " + std::to_string(trial) +
         " --kind " + std::string(kind_name(kind)) + (o.strict_messages ? " --strict-messages" : "") + " --verbose";
}

// Everything one trial found (--only-trial K --verbose).
void print_examination(const Examination& e, const std::string& path) {
  std::cout << "  unlocked: "
            << (e.unlocked ? "yes" : "no, " + e.refusal_code + ": " + without(e.refusal_message, path)) << "\n";
  for (const auto& w : e.warnings) std::cout << "  warning: " << without(w, path) << "\n";
  for (const auto* list : {&e.damaged, &e.other_errors, &e.wrong})
    for (const auto& p : *list)
      std::cout << "  " << (list == &e.wrong ? "WRONG" : "error") << " in " << p.part << " (" << p.code
                << "): " << without(p.message, path) << "\n";
  for (const auto& f : e.fsck_problems) std::cout << "  fsck: " << without(f, path) << "\n";
  for (const auto& u : e.unexpected) std::cout << "  unexpected: " << u << "\n";
}

void run_trial(std::uint64_t trial, const Options& o, const Population& pop, const Target& target,
               const Expected& expected, const fs::path& scratch, Tally& t) {
  const auto& kinds = all_mutation_kinds();
  MutationKind kind = o.kind ? *o.kind : kinds[trial % kinds.size()];
  std::mt19937_64 rng = trial_rng(o.seed, trial);
  copy_coffer(pop.coffer, scratch);
  Mutation m = mutate(scratch, kind, target, rng);
  Examination e = examine_in_child(scratch, expected, o.timeout);
  Verdict v = classify(e, m, pop);
  ++t.counts[kind][v.outcome];
  note_messages(e, scratch.string(), t);
  note_tail_parts(kind, e, t);
  std::string summary = "trial " + std::to_string(trial) + " [" + std::string(kind_name(kind)) + "] " + m.description +
                        " -> " + std::string(outcome_name(v.outcome)) +
                        (v.detail.empty() ? "" : ": " + without(v.detail, scratch.string()));
  if (!v.unclear.empty()) {
    ++t.unclear[without(v.unclear, scratch.string())];
    summary += " [unclear message: " + without(v.unclear, scratch.string()) + "]";
  }
  if (is_failure(v.outcome) || (o.strict_messages && !v.unclear.empty())) {
    t.failures.push_back(summary + "\n    reproduce: " + reproduce(o, trial, kind));
    std::cout << "FAILURE " << t.failures.back() << std::endl;
  } else if (o.verbose) {
    std::cout << summary << std::endl;
  }
  if (v.outcome == Outcome::kUnnoticed) t.unnoticed.push_back(summary);
  if (o.only_trial && o.verbose) print_examination(e, scratch.string());
}

// ---------------------------------------------------------------- the report

void print_table(const Tally& t) {
  std::printf("\n%-16s %6s", "mutation", "trials");
  for (Outcome o : kOutcomes) std::printf(" | %s", std::string(outcome_name(o)).c_str());
  std::printf("\n");
  std::map<Outcome, std::uint64_t> total;
  std::uint64_t all = 0;
  auto row = [&](const std::string& name, const std::map<Outcome, std::uint64_t>& c) {
    std::uint64_t n = 0;
    for (const auto& [o, k] : c) n += k;
    std::printf("%-16s %6llu", name.c_str(), static_cast<unsigned long long>(n));
    for (Outcome o : kOutcomes) {
      auto it = c.find(o);
      std::printf(" | %*llu", static_cast<int>(outcome_name(o).size()),
                  static_cast<unsigned long long>(it == c.end() ? 0 : it->second));
    }
    std::printf("\n");
    return n;
  };
  for (const auto& [kind, c] : t.counts) {
    all += row(std::string(kind_name(kind)), c);
    for (const auto& [o, k] : c) total[o] += k;
  }
  row("all", total);
  std::uint64_t detected = 0;
  for (Outcome o : kOutcomes)
    if (is_detection(o)) detected += total[o];
  std::uint64_t wrong = total[Outcome::kWrongData];
  std::printf("\ndetected: %llu of %llu trials; unnoticed with identical content: %llu; wrong data: %llu\n",
              static_cast<unsigned long long>(detected), static_cast<unsigned long long>(all),
              static_cast<unsigned long long>(total[Outcome::kUnnoticed]), static_cast<unsigned long long>(wrong));
  if (detected + wrong > 0)
    std::printf("detection rate = detected / (detected + wrong data) = %llu / %llu = %.2f %%\n",
                static_cast<unsigned long long>(detected), static_cast<unsigned long long>(detected + wrong),
                100.0 * static_cast<double>(detected) / static_cast<double>(detected + wrong));
}

void print_messages(const Tally& t) {
  std::vector<std::pair<std::uint64_t, std::string>> by_count;
  for (const auto& [m, n] : t.messages) by_count.emplace_back(n, m);
  std::sort(by_count.rbegin(), by_count.rend());
  std::printf("\nerror messages seen (%zu distinct; the 25 most frequent):\n", by_count.size());
  for (std::size_t i = 0; i < by_count.size() && i < 25; ++i)
    std::printf("%6llu  %s\n", static_cast<unsigned long long>(by_count[i].first), by_count[i].second.c_str());
}

void print_tail_parts(const Tally& t) {
  if (t.tail_parts.empty()) return;
  std::printf("\nparts that failed to read after a chain-tail mutation (trials):\n");
  for (const auto& [parts, n] : t.tail_parts)
    std::printf("%6llu  %s\n", static_cast<unsigned long long>(n), parts.c_str());
}

void print_lists(const Tally& t) {
  if (!t.unclear.empty()) {
    std::printf("\nmessages that do not say what is damaged, or not with kDamaged (exit 4):\n");
    for (const auto& [m, n] : t.unclear) std::printf("%6llu  %s\n", static_cast<unsigned long long>(n), m.c_str());
  }
  if (!t.unnoticed.empty()) {
    std::printf("\nunnoticed mutations (content read back identical, nothing reported):\n");
    for (std::size_t i = 0; i < t.unnoticed.size() && i < 20; ++i) std::printf("  %s\n", t.unnoticed[i].c_str());
  }
  if (!t.failures.empty()) {
    std::printf("\n%zu FAILURE(S):\n", t.failures.size());
    for (const auto& f : t.failures) std::printf("  %s\n", f.c_str());
  }
}

// ---------------------------------------------------------------- arguments

[[noreturn]] void usage(const std::string& problem) {
  std::cerr << (problem.empty() ? "" : "coffer-tamper-trials: " + problem + "\n")
            << "usage: coffer-tamper-trials [--trials N] [--seed S] [--kind KIND] [--only-trial K]\n"
               "                            [--timeout SECONDS] [--strict-messages] [--verbose]\nkinds:";
  for (MutationKind k : all_mutation_kinds()) std::cerr << " " << kind_name(k);
  std::cerr << "\n";
  std::exit(problem.empty() ? 0 : 2);
}

std::uint64_t number(const std::string& flag, const char* text) {
  try {
    std::size_t used = 0;
    std::uint64_t v = std::stoull(text, &used);
    if (used == std::string(text).size()) return v;
  } catch (const std::exception&) {
  }
  usage(flag + " needs a number, not '" + text + "'");
}

Options parse_args(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--help" || a == "-h") usage("");
    if (a == "--verbose" || a == "--strict-messages") {
      (a == "--verbose" ? o.verbose : o.strict_messages) = true;
      continue;
    }
    if (i + 1 >= argc) usage("unknown option or missing value: " + a);
    const char* v = argv[++i];
    if (a == "--trials") {
      o.trials = number(a, v);
    } else if (a == "--seed") {
      o.seed = number(a, v);
      o.seed_given = true;
    } else if (a == "--only-trial") {
      o.only_trial = number(a, v);
    } else if (a == "--timeout") {
      o.timeout = static_cast<unsigned>(number(a, v));
    } else if (a == "--kind") {
      o.kind = kind_from_name(v);
      if (!o.kind) usage(std::string("unknown kind ") + v);
    } else {
      usage("unknown option " + a);
    }
  }
  if (!o.seed_given) o.seed = (std::uint64_t{std::random_device{}()} << 32) | std::random_device{}();
  return o;
}

int run(const Options& o) {
  // Keys live in these processes; a crashing child must not dump them.
  struct rlimit no_core {
    0, 0
  };
  ::setrlimit(RLIMIT_CORE, &no_core);
  std::cout << "seed " << o.seed << " (reproduce: coffer-tamper-trials --trials " << o.trials << " --seed " << o.seed
            << (o.kind ? " --kind " + std::string(kind_name(*o.kind)) : "") << ")" << std::endl;
  const auto start = std::chrono::steady_clock::now();
  test::TempDir dir;
  Population pop = populate(dir.path(), COFFER_FIXTURES_DIR);
  const fs::path scratch = dir / "trial.coffer";
  copy_coffer(pop.coffer, scratch);
  Expected expected = read_expected(scratch, pop.audit_events);
  Target target{pop.pages, {}};
  std::string tails;
  for (const auto& [page, row] : pop.chain_tails) {
    target.chain_tails.emplace_back(page, row);
    tails += (tails.empty() ? " " : ", ") + std::to_string(page) + " (" + row + ")";
  }
  std::cout << "populated coffer: " << pop.pages << " pages of 16 KiB, " << expected.layout.pupils.size() << " pupils, "
            << expected.layout.file_paths.size() << " files and links, " << pop.audit_events
            << " audit events; overflow chains end at pages" << tails << std::endl;
  Tally t;
  const auto trials_start = std::chrono::steady_clock::now();
  for (std::uint64_t i = 0; i < o.trials; ++i)
    if (!o.only_trial || *o.only_trial == i) run_trial(i, o, pop, target, expected, scratch, t);
  const auto end = std::chrono::steady_clock::now();
  print_table(t);
  print_messages(t);
  print_tail_parts(t);
  print_lists(t);
  using secs = std::chrono::duration<double>;
  const double run_s = secs(end - trials_start).count();
  const std::uint64_t ran = o.only_trial ? 1 : std::max<std::uint64_t>(o.trials, 1);
  std::printf("\n%llu trial(s) in %.1f s (%.1f ms per trial; setup %.1f s); seed %llu\n",
              static_cast<unsigned long long>(ran), run_s, 1000.0 * run_s / static_cast<double>(ran),
              secs(trials_start - start).count(), static_cast<unsigned long long>(o.seed));
  std::printf("%s\n", t.failures.empty() ? "PASS: no wrong data, no crash, no message naming a secret"
                                         : "FAIL: see the failures above");
  return t.failures.empty() ? 0 : 1;
}

}  // namespace
}  // namespace coffer::tamper

int main(int argc, char** argv) {
  try {
    return coffer::tamper::run(coffer::tamper::parse_args(argc, argv));
  } catch (const std::exception& e) {
    std::cerr << "coffer-tamper-trials: " << e.what() << "\n";
    return 3;
  }
}

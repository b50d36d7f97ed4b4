// Linked into every gtest binary through coffer_test_support: the test
// program fails if a file descriptor opened while its tests ran is still
// open when they end. A leaked descriptor in a test is a handle the code
// under test (or the test) forgot to release: an unclosed database, fanotify
// group or socket that, in the filesystem process, would pin a coffer file
// or leak across a lock.
//
// Descriptors open before the first test (inherited from ctest or the shell,
// opened by static initialisers or gtest's own set-up) are the baseline and
// never count; gtest opens its XML report only after this check. The check
// runs once, when the tests end (ctest runs one test per process, so that
// is per test there); a listener notes after which test each leaked
// descriptor first appeared, to name the culprit when a binary runs many.
#include <dirent.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <map>
#include <string>

#include "coffer/proc.h"
#include "coffer/unique_dir.h"

namespace coffer::test {
namespace {

// fd -> what /proc/self/fd/N points at.
using FdTable = std::map<int, std::string>;

FdTable open_descriptors() {
  FdTable out;
  UniqueDir dir(::opendir("/proc/self/fd"));
  if (!dir) return out;  // no /proc: nothing to compare, nothing reported
  const int own = ::dirfd(dir.get());
  while (const dirent* e = ::readdir(dir.get())) {
    char* end = nullptr;
    long fd = std::strtol(e->d_name, &end, 10);
    if (end == e->d_name || *end != '\0' || fd == own) continue;
    out[static_cast<int>(fd)] = read_link("/proc/self/fd/" + std::string(e->d_name)).value_or("?");
  }
  return out;
}

// New since the baseline: a number not open then, or reused for another target.
FdTable new_descriptors(const FdTable& baseline, const FdTable& now) {
  FdTable out;
  for (const auto& [fd, target] : now) {
    auto it = baseline.find(fd);
    if (it == baseline.end() || it->second != target) out[fd] = target;
  }
  return out;
}

struct State {
  FdTable baseline;
  bool armed = false;
  std::map<int, std::string> first_seen_after;  // fd -> test name
};
State& state() {
  static State s;
  return s;
}

class Attribution final : public ::testing::EmptyTestEventListener {
  void OnTestEnd(const ::testing::TestInfo& info) override {
    if (!state().armed) return;
    for (const auto& [fd, target] : new_descriptors(state().baseline, open_descriptors()))
      state().first_seen_after.emplace(fd, std::string(info.test_suite_name()) + "." + info.name());
  }
};

class FdLeakCheck final : public ::testing::Environment {
 public:
  void SetUp() override {
    state().baseline = open_descriptors();
    state().armed = true;
  }
  void TearDown() override {
    if (!state().armed) return;
    FdTable leaked = new_descriptors(state().baseline, open_descriptors());
    if (leaked.empty()) return;
    std::string list;
    for (const auto& [fd, target] : leaked) {
      auto who = state().first_seen_after.find(fd);
      list += "\n  fd " + std::to_string(fd) + " -> " + target +
              (who != state().first_seen_after.end() ? " (open after " + who->second + ")" : "");
    }
    ADD_FAILURE() << leaked.size() << " file descriptor(s) opened during the tests are still open:" << list;
  }
};

// gtest owns (and deletes) both objects.
[[maybe_unused]] const bool kRegistered = [] {
  ::testing::UnitTest::GetInstance()->listeners().Append(new Attribution);
  ::testing::AddGlobalTestEnvironment(new FdLeakCheck);
  return true;
}();

}  // namespace
}  // namespace coffer::test

// A random workload on the files/ tree of a coffer (vault::FileStore, the
// code under the mount), mirrored in a plain model: creates, writes across
// chunk boundaries, truncations, renames (replacing or not), unlinks,
// directories and commits. The model keeps the last committed state and
// the current one, so after a crash or an I/O error the test knows what
// may be on disk: the last commit, or the next one if it failed mid-commit.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "coffer/vault/files/filestore.h"

namespace coffer::test {

// Path ("dir/name") -> contents; a directory has none.
using Tree = std::map<std::string, std::optional<std::vector<std::uint8_t>>>;

class Workload {
 public:
  Workload(vault::FileStore& store, std::uint64_t seed, Tree start)
      : store_(store), rng_(seed), committed_(start), current_(std::move(start)) {}

  // Runs up to `ops` random operations. Returns normally when all ran;
  // an exception from the store propagates (after a crash or fault), and
  // then in_commit() says whether it came out of a commit.
  void run(int ops);
  bool in_commit() const { return in_commit_; }
  const Tree& committed() const { return committed_; }
  const Tree& current() const { return current_; }
  int ops_done() const { return done_; }

 private:
  void one_op();
  std::uint64_t resolve(const std::string& path);
  std::vector<std::string> pick(bool dirs);
  std::string random_dir();
  std::string fresh_name(const std::string& dir, char kind);
  std::vector<std::uint8_t> random_bytes(std::size_t n);
  std::size_t random_length();

  vault::FileStore& store_;
  std::mt19937_64 rng_;
  Tree committed_;
  Tree current_;
  bool in_commit_ = false;
  int done_ = 0;
  int names_ = 0;
  std::string last_op_;
};

// The whole files/ tree as stored (every file read in full).
Tree read_tree(vault::FileStore& store);

// Differences between two trees, for failure messages ("" when equal).
std::string describe_difference(const Tree& want, const Tree& got);

}  // namespace coffer::test

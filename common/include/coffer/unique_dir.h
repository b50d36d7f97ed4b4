// An owned directory stream (opendir/fdopendir), closed once on destruction;
// the DIR* counterpart of UniqueFd.
#pragma once

#include <dirent.h>

#include <memory>

namespace coffer {

struct DirCloser {
  void operator()(DIR* d) const noexcept { ::closedir(d); }
};
// Test with `if (!dir)`; the descriptor inside is ::dirfd(dir.get()).
using UniqueDir = std::unique_ptr<DIR, DirCloser>;

}  // namespace coffer

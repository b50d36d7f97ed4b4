// The random files/ workload; see workload.h.
#include "workload.h"

#include <sys/stat.h>

#include <algorithm>
#include <sstream>
#include <stdexcept>
#include <system_error>

namespace coffer::test {
namespace {

using vault::FileStore;
using vault::kFilesRootIno;
using vault::kMounterId;

std::string parent_of(const std::string& path) {
  auto slash = path.rfind('/');
  return slash == std::string::npos ? std::string() : path.substr(0, slash);
}
std::string base_of(const std::string& path) {
  auto slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}
std::string join(const std::string& dir, const std::string& name) { return dir.empty() ? name : dir + "/" + name; }

void read_dir(FileStore& store, std::uint64_t dir, const std::string& prefix, Tree& out) {
  std::uint64_t after = 0;
  for (;;) {
    auto entries = store.readdir(dir, after, 64);
    if (entries.empty()) return;
    for (const auto& e : entries) {
      after = e.cookie;
      std::string path = join(prefix, e.name);
      if (S_ISDIR(e.mode)) {
        out[path] = std::nullopt;
        read_dir(store, e.ino, path, out);
      } else {
        std::vector<std::uint8_t> bytes(store.get(e.ino).size);
        bytes.resize(store.read(e.ino, 0, bytes));
        out[path] = std::move(bytes);
      }
    }
  }
}

}  // namespace

Tree read_tree(FileStore& store) {
  Tree out;
  read_dir(store, kFilesRootIno, "", out);
  return out;
}

std::string describe_difference(const Tree& want, const Tree& got) {
  std::ostringstream s;
  for (const auto& [path, content] : want) {
    auto it = got.find(path);
    if (it == got.end()) s << "missing " << path << "; ";
    else if (content.has_value() != it->second.has_value()) s << "kind differs " << path << "; ";
    else if (content && *content != *it->second)
      s << "content differs " << path << " (" << content->size() << " vs " << it->second->size() << " bytes); ";
  }
  for (const auto& [path, content] : got)
    if (!want.count(path)) s << "unexpected " << path << "; ";
  return s.str();
}

void Workload::run(int ops) {
  for (int i = 0; i < ops; ++i) {
    try {
      one_op();
    } catch (const vault::FsError& e) {
      // Every operation is valid for the model: a refusal is a bug in the
      // store or in this workload, never an injected fault.
      throw std::logic_error("workload: the store refused operation " + std::to_string(done_) + " (" + last_op_ +
                             ") with " + std::make_error_code(e.code()).message());
    }
    ++done_;
  }
}

std::uint64_t Workload::resolve(const std::string& path) {
  std::uint64_t ino = kFilesRootIno;
  std::size_t start = 0;
  while (start < path.size()) {
    auto slash = path.find('/', start);
    std::string part = path.substr(start, slash == std::string::npos ? std::string::npos : slash - start);
    auto node = store_.lookup(ino, part);
    if (!node) throw std::logic_error("workload: the store lost " + path + " before any fault");
    ino = node->ino;
    if (slash == std::string::npos) break;
    start = slash + 1;
  }
  return ino;
}

std::vector<std::string> Workload::pick(bool dirs) {
  std::vector<std::string> out;
  for (const auto& [path, content] : current_)
    if (content.has_value() != dirs) out.push_back(path);
  return out;
}

std::string Workload::random_dir() {
  auto dirs = pick(true);
  std::uniform_int_distribution<std::size_t> d(0, dirs.size());
  std::size_t i = d(rng_);
  return i == dirs.size() ? std::string() : dirs[i];
}

std::string Workload::fresh_name(const std::string& dir, char kind) {
  std::string path;
  do path = join(dir, std::string(1, kind) + std::to_string(++names_));
  while (current_.count(path));
  return path;
}

std::vector<std::uint8_t> Workload::random_bytes(std::size_t n) {
  std::vector<std::uint8_t> v(n);
  for (auto& b : v) b = static_cast<std::uint8_t>(rng_());
  return v;
}

// Mostly small writes, some across one or two chunk boundaries.
std::size_t Workload::random_length() {
  switch (rng_() % 4) {
    case 0:
      return 1 + rng_() % 512;
    case 1:
      return 1 + rng_() % 8192;
    case 2:
      return 1 + rng_() % (64 * 1024);
    default:
      return 1 + rng_() % (2 * vault::kChunkSize + 4096);
  }
}

void Workload::one_op() {
  auto files = pick(false);
  const unsigned roll = static_cast<unsigned>(rng_() % 100);
  if (roll < 15 || files.empty()) {  // create a file
    std::string path = fresh_name(random_dir(), 'f');
    last_op_ = "create " + path;
    store_.make_node(resolve(parent_of(path)), base_of(path), S_IFREG | 0644, kMounterId, kMounterId);
    current_[path] = std::vector<std::uint8_t>();
    return;
  }
  const std::string& file = files[rng_() % files.size()];
  auto& content = *current_[file];
  last_op_ = std::to_string(roll) + " on " + file;
  if (roll < 50) {  // write
    std::uint64_t offset = rng_() % (content.size() + 16 * 1024);
    auto data = random_bytes(random_length());
    store_.write(resolve(file), offset, data);
    if (content.size() < offset + data.size()) content.resize(offset + data.size(), 0);
    std::copy(data.begin(), data.end(), content.begin() + static_cast<std::ptrdiff_t>(offset));
  } else if (roll < 58) {  // truncate, shorter or longer
    std::uint64_t size = rng_() % (content.size() * 2 + 4096);
    vault::SetAttr attr;
    attr.size = size;
    store_.setattr(resolve(file), attr);
    content.resize(size, 0);
  } else if (roll < 68) {  // rename: to a fresh name, or over another file
    std::string to = (files.size() > 1 && rng_() % 2) ? files[rng_() % files.size()] : fresh_name(random_dir(), 'f');
    if (to == file) return;
    auto replaced = store_.rename(resolve(parent_of(file)), base_of(file), resolve(parent_of(to)), base_of(to), 0);
    if (replaced) store_.remove_if_unlinked(replaced->ino);
    auto moved = std::move(current_[file]);
    current_.erase(file);
    current_[to] = std::move(moved);
  } else if (roll < 74) {  // unlink
    auto gone = store_.unlink(resolve(parent_of(file)), base_of(file));
    store_.remove_if_unlinked(gone.ino);
    current_.erase(file);
  } else if (roll < 78) {  // mkdir (at most two levels deep)
    std::string dir = random_dir();
    if (std::count(dir.begin(), dir.end(), '/') >= 1) dir = parent_of(dir);
    std::string path = fresh_name(dir, 'd');
    store_.make_node(resolve(dir), base_of(path), S_IFDIR | 0755, kMounterId, kMounterId);
    current_[path] = std::nullopt;
  } else if (roll < 81) {  // rmdir of an empty directory
    for (const auto& dir : pick(true)) {
      bool empty =
          std::none_of(current_.begin(), current_.end(), [&](const auto& e) { return parent_of(e.first) == dir; });
      if (!empty) continue;
      store_.rmdir(resolve(parent_of(dir)), base_of(dir));
      current_.erase(dir);
      break;
    }
  } else if (roll < 96) {  // commit: durable from here
    in_commit_ = true;
    store_.commit();
    in_commit_ = false;
    committed_ = current_;
  }
  // else: a no-op round (reads only), so crashes also fall between changes
  else {
    std::vector<std::uint8_t> buf(4096);
    store_.read(resolve(file), 0, buf);
  }
}

}  // namespace coffer::test

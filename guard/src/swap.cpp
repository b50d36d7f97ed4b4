// Unencrypted swap and hibernation images; see swap.h.
#include "coffer/guard/swap.h"

#include <sys/stat.h>
#include <sys/sysmacros.h>

#include <fstream>
#include <optional>
#include <sstream>

namespace coffer::guard {
namespace fs = std::filesystem;
namespace {

constexpr int kMaxDepth = 8;  // dm stacks deeper than this are not followed

std::optional<std::string> read_text(const fs::path& p) {
  std::ifstream in(p);
  if (!in) return std::nullopt;
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

std::optional<std::string> read_attr(const fs::path& p) {
  auto t = read_text(p);
  if (!t) return std::nullopt;
  while (!t->empty() && (t->back() == '\n' || t->back() == ' ')) t->pop_back();
  return t;
}

std::string unescape(const std::string& s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\' && i + 3 < s.size() && s[i + 1] >= '0' && s[i + 1] <= '3' && s[i + 2] >= '0' && s[i + 2] <= '7' &&
        s[i + 3] >= '0' && s[i + 3] <= '7') {
      out.push_back(static_cast<char>((s[i + 1] - '0') * 64 + (s[i + 2] - '0') * 8 + (s[i + 3] - '0')));
      i += 3;
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

// The sysfs directory of a block device, canonical (under sysfs_root), or
// nullopt.
std::optional<fs::path> canonical_dir(const fs::path& p) {
  std::error_code ec;
  fs::path c = fs::canonical(p, ec);
  if (ec || !fs::is_directory(c, ec)) return std::nullopt;
  return c;
}

class Resolver {
 public:
  explicit Resolver(const SwapConfig& c) : c_(c) {}

  std::optional<fs::path> by_majmin(unsigned major, unsigned minor) const {
    return canonical_dir(c_.sysfs_root / "dev" / "block" / (std::to_string(major) + ":" + std::to_string(minor)));
  }
  std::optional<fs::path> by_majmin_text(const std::string& mm) const {
    unsigned major = 0, minor = 0;
    char colon = 0;
    std::istringstream in(mm);
    if (!(in >> major >> colon >> minor) || colon != ':') return std::nullopt;
    return by_majmin(major, minor);
  }
  // A /dev path: stat (real system), else /dev/mapper/NAME by dm name,
  // else /sys/class/block/BASENAME.
  std::optional<fs::path> by_dev_path(const std::string& path) const {
    if (c_.stat_devices) {
      struct stat st {};
      if (::stat(path.c_str(), &st) == 0 && S_ISBLK(st.st_mode)) return by_majmin(major(st.st_rdev), minor(st.st_rdev));
    }
    const std::string mapper = "/dev/mapper/";
    if (path.compare(0, mapper.size(), mapper) == 0) {
      std::string name = path.substr(mapper.size());
      std::error_code ec;
      for (fs::directory_iterator it(c_.sysfs_root / "block", ec), end; !ec && it != end; it.increment(ec))
        if (read_attr(it->path() / "dm" / "name") == name) return canonical_dir(it->path());
      return std::nullopt;
    }
    return canonical_dir(c_.sysfs_root / "class" / "block" / fs::path(path).filename());
  }
  // The block device holding a swap file's filesystem (always by stat: the
  // tests point at a real file whose device they add to their fake sysfs).
  std::optional<fs::path> by_file(const std::string& path) const {
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) return std::nullopt;
    return by_majmin(major(st.st_dev), minor(st.st_dev));
  }

 private:
  const SwapConfig& c_;
};

// Encrypted: zram with no writeback device; dm-crypt; or a stacked device
// (dm, md) whose every slave is encrypted. A partition or a plain disk is
// not.
bool encrypted(const fs::path& dir, int depth = 0) {
  if (depth > kMaxDepth) return false;
  const std::string name = dir.filename().string();
  if (name.rfind("zram", 0) == 0) {
    auto backing = read_attr(dir / "backing_dev");
    return !backing || backing->empty() || *backing == "none";
  }
  if (auto uuid = read_attr(dir / "dm" / "uuid"); uuid && uuid->rfind("CRYPT-", 0) == 0) return true;
  std::error_code ec;
  fs::path slaves = dir / "slaves";
  if (!fs::is_directory(slaves, ec)) return false;
  bool any = false;
  for (fs::directory_iterator it(slaves, ec), end; !ec && it != end; it.increment(ec)) {
    auto slave = canonical_dir(it->path());
    if (!slave || !encrypted(*slave, depth + 1)) return false;
    any = true;
  }
  return any && !ec;
}

}  // namespace

std::vector<SwapArea> parse_proc_swaps(const std::string& text) {
  std::vector<SwapArea> out;
  std::istringstream in(text);
  std::string line;
  bool header = true;
  while (std::getline(in, line)) {
    if (header) {
      header = false;
      if (line.rfind("Filename", 0) == 0) continue;
    }
    std::istringstream fields(line);
    SwapArea a;
    if (!(fields >> a.filename >> a.type)) continue;
    a.filename = unescape(a.filename);
    out.push_back(a);
  }
  return out;
}

std::vector<std::string> unprotected_swap(const SwapConfig& config) {
  std::vector<std::string> out;
  Resolver r(config);
  if (auto swaps = read_text(config.proc_root / "swaps")) {
    for (const SwapArea& a : parse_proc_swaps(*swaps)) {
      const bool file = a.type == "file";
      std::optional<fs::path> dir = file ? r.by_file(a.filename) : r.by_dev_path(a.filename);
      if (!dir)
        out.push_back("swap " + std::string(file ? "file " : "partition ") + a.filename +
                      ": its device cannot be identified, so it is not known to be encrypted");
      else if (!encrypted(*dir))
        out.push_back("swap " + std::string(file ? "file " : "partition ") + a.filename + " is not encrypted" +
                      (file ? " (its filesystem's device " + dir->filename().string() + " is not)" : ""));
    }
  } else {
    out.push_back("cannot read " + (config.proc_root / "swaps").string() + " to check for unencrypted swap");
  }
  // Hibernation: the kernel's resume device (set from resume= or by the
  // initramfs), else resume= on the command line.
  std::optional<std::string> resume_arg;
  if (auto cmdline = read_text(config.proc_root / "cmdline")) {
    std::istringstream words(*cmdline);
    std::string w;
    while (words >> w)
      if (w.rfind("resume=", 0) == 0) resume_arg = w.substr(7);
  }
  std::optional<fs::path> resume_dir;
  bool resume_set = false;
  if (auto dev = read_attr(config.sysfs_root / "power" / "resume"); dev && *dev != "0:0" && !dev->empty()) {
    resume_set = true;
    resume_dir = r.by_majmin_text(*dev);
  } else if (resume_arg && !resume_arg->empty()) {
    resume_set = true;
    if ((*resume_arg)[0] == '/') resume_dir = r.by_dev_path(*resume_arg);
    else if (resume_arg->find(':') != std::string::npos && resume_arg->find('=') == std::string::npos)
      resume_dir = r.by_majmin_text(*resume_arg);
  }
  if (resume_set && (!resume_dir || !encrypted(*resume_dir)))
    out.push_back("the hibernation image" + (resume_arg ? " (resume=" + *resume_arg + ")" : std::string()) +
                  (resume_dir ? " goes to an unencrypted device" : " goes to a device that cannot be identified"));
  return out;
}

}  // namespace coffer::guard

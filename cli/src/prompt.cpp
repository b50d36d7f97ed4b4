// Terminal and file passphrase sources; see prompt.h. Bytes go
// straight from read(2) into sodium_malloc'd memory, one at a time, so no
// std::string or stdio buffer ever holds a passphrase.
#include "prompt.h"

#include <fcntl.h>
#include <termios.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "coffer/error.h"

namespace coffer::cli {
namespace {

using keystore::Passphrase;

// Reads one line (without its newline) from fd into a passphrase. Returns
// false at end of input before any byte.
bool read_line(int fd, Passphrase& out, const std::string& source) {
  out.clear();
  bool any = false;
  for (;;) {
    unsigned char c = 0;
    ssize_t n = ::read(fd, &c, 1);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw Error(ErrorCode::kIo, "cannot read the passphrase from " + source + ": " + std::strerror(errno));
    }
    if (n == 0) return any;
    any = true;
    if (c == '\n') break;
    if (!out.push_back(c))
      throw Error(ErrorCode::kUsage,
                  "a passphrase in " + source + " is longer than " + std::to_string(Passphrase::kMaxLength) + " bytes");
  }
  // Tolerate files written on Windows.
  if (out.size() > 0 && out.reveal_bytes().back() == '\r') {
    Passphrase trimmed;
    for (std::size_t i = 0; i + 1 < out.size(); ++i) trimmed.push_back(out.reveal_bytes()[i]);
    out = std::move(trimmed);
  }
  return true;
}

class FileSource final : public PassphraseSource {
 public:
  explicit FileSource(const std::string& path) : name_(path == "-" ? "standard input" : path) {
    if (path == "-") {
      fd_ = 0;
    } else {
      fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
      if (fd_ < 0) throw Error(ErrorCode::kIo, "cannot open passphrase file " + path + ": " + std::strerror(errno));
      owned_ = true;
    }
  }
  ~FileSource() override {
    if (owned_) ::close(fd_);
  }
  Passphrase existing(const std::string& prompt) override { return next(prompt); }
  Passphrase new_one(const std::string& prompt) override { return next(prompt); }

 private:
  Passphrase next(const std::string& prompt) {
    ++line_;
    Passphrase p;
    if (!read_line(fd_, p, name_))
      throw Error(ErrorCode::kUsage, name_ + " has no line " + std::to_string(line_) + " (for: " + prompt +
                                         "); see docs/CLI.md for the order of lines");
    if (p.empty()) throw Error(ErrorCode::kUsage, name_ + ":" + std::to_string(line_) + ": empty passphrase");
    return p;
  }
  std::string name_;
  int fd_ = -1;
  bool owned_ = false;
  int line_ = 0;
};

class TerminalSource final : public PassphraseSource {
 public:
  Passphrase existing(const std::string& prompt) override { return ask(prompt); }
  Passphrase new_one(const std::string& prompt) override {
    for (int attempt = 0; attempt < 3; ++attempt) {
      Passphrase a = ask(prompt);
      Passphrase b = ask("Repeat: " + prompt);
      if (a.equals(b)) return a;
      say("The two entries differ; try again.\n");
    }
    throw Error(ErrorCode::kUsage, "the passphrases entered did not match");
  }

 private:
  static void say(const std::string& text) {
    int fd = ::open("/dev/tty", O_WRONLY | O_CLOEXEC);
    if (fd >= 0) {
      (void)!::write(fd, text.data(), text.size());
      ::close(fd);
    }
  }

  static Passphrase ask(const std::string& prompt) {
    int fd = ::open("/dev/tty", O_RDWR | O_CLOEXEC);
    if (fd < 0)
      throw Error(ErrorCode::kUsage,
                  "no terminal to ask for the passphrase; use --passphrase-file FILE (or - for "
                  "standard input)");
    termios old{};
    bool restore = ::tcgetattr(fd, &old) == 0;
    if (restore) {
      termios quiet = old;
      quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
      quiet.c_lflag |= ECHONL;
      ::tcsetattr(fd, TCSAFLUSH, &quiet);
    }
    std::string text = prompt + ": ";
    (void)!::write(fd, text.data(), text.size());
    Passphrase p;
    bool got = false;
    try {
      got = read_line(fd, p, "the terminal");
    } catch (...) {
      if (restore) ::tcsetattr(fd, TCSAFLUSH, &old);
      ::close(fd);
      throw;
    }
    if (restore) ::tcsetattr(fd, TCSAFLUSH, &old);
    ::close(fd);
    if (!got || p.empty()) throw Error(ErrorCode::kUsage, "no passphrase entered");
    return p;
  }
};

}  // namespace

std::unique_ptr<PassphraseSource> terminal_source() { return std::make_unique<TerminalSource>(); }

std::unique_ptr<PassphraseSource> file_source(const std::string& path) { return std::make_unique<FileSource>(path); }

}  // namespace coffer::cli

// Terminal and file passphrase sources; see prompt.h. Bytes go
// straight from read(2) into sodium_malloc'd memory, one at a time, so no
// std::string or stdio buffer ever holds a passphrase.
#include "prompt.h"

#include <fcntl.h>
#include <fmt/core.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ostream>

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
  FileSource(const std::string& path, std::ostream& err) : name_(path == "-" ? "standard input" : path) {
    if (path == "-") {
      fd_ = 0;
    } else {
      fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
      if (fd_ < 0) throw Error(ErrorCode::kIo, "cannot open passphrase file " + path + ": " + std::strerror(errno));
      owned_ = true;
      check_private(path, err);
    }
  }
  ~FileSource() override {
    if (owned_) ::close(fd_);
  }
  FileSource(const FileSource&) = delete;
  FileSource& operator=(const FileSource&) = delete;
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
  // A passphrase file others can read gives the passphrase to every user
  // of the computer: refused. Readable by the group: said, as it may be
  // meant (a group of one), but rarely is. Checked on the open descriptor.
  void check_private(const std::string& path, std::ostream& err) {
    struct stat st {};
    if (::fstat(fd_, &st) != 0 || !(S_ISREG(st.st_mode) || S_ISFIFO(st.st_mode))) return;
    const auto mode = fmt::format("{:04o}", st.st_mode & 07777);
    if ((st.st_mode & S_IROTH) != 0) {
      ::close(fd_);
      owned_ = false;
      throw Error(ErrorCode::kPolicy, "the passphrase file " + path +
                                          " is readable by every user of this computer (mode " + mode +
                                          "), so its passphrases are not secret: make it private (chmod 600 " + path +
                                          ") and change the passphrases it holds");
    }
    if ((st.st_mode & S_IRGRP) != 0)
      err << "coffer: warning: the passphrase file " << path << " is readable by its group (mode " << mode
          << "): every member can read the passphrases; chmod 600 " << path << " keeps them to you\n";
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

std::unique_ptr<PassphraseSource> file_source(const std::string& path, std::ostream& err) {
  return std::make_unique<FileSource>(path, err);
}

}  // namespace coffer::cli

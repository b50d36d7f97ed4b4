// Examining a damaged copy in a child process; see trial.h. The child
// compares what it reads with the expected parts it inherited at fork, and
// sends back only the findings, one per line.
#include "trial.h"

#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstring>
#include <stdexcept>

#include "coffer/vault/coffer/coffer.h"
#include "population.h"
#include "test_support.h"

namespace coffer::tamper {
namespace {

// ---------------------------------------------------------------- findings as lines

std::string escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '\\') out += "\\\\";
    else if (c == '\n') out += "\\n";
    else if (c == '\t') out += "\\t";
    else out += c;
  }
  return out;
}

std::string unescape(const std::string& s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '\\' || i + 1 == s.size()) {
      out += s[i];
      continue;
    }
    char c = s[++i];
    out += c == 'n' ? '\n' : c == 't' ? '\t' : c;
  }
  return out;
}

std::vector<std::string> split_tabs(const std::string& line) {
  std::vector<std::string> out(1);
  for (char c : line) {
    if (c == '\t') out.emplace_back();
    else out.back() += c;
  }
  for (auto& f : out) f = unescape(f);
  return out;
}

std::string line(char tag, std::initializer_list<std::string> fields) {
  std::string out(1, tag);
  for (const auto& f : fields) out += "\t" + escape(f);
  return out + "\n";
}

std::string serialize(const Examination& e) {
  std::string out;
  if (e.unlocked) out += line('U', {});
  else out += line('R', {e.refusal_code, e.refusal_message});
  for (const auto& w : e.warnings) out += line('W', {w});
  for (const auto& p : e.damaged) out += line('D', {p.part, p.message, p.code});
  for (const auto& p : e.other_errors) out += line('O', {p.part, p.message, p.code});
  for (const auto& p : e.wrong) out += line('X', {p.part, p.message, p.code});
  for (const auto& f : e.fsck_problems) out += line('F', {f});
  for (const auto& u : e.unexpected) out += line('E', {u});
  return out + line('.', {});
}

Examination parse(const std::string& text) {
  Examination e;
  std::size_t start = 0;
  for (std::size_t nl; (nl = text.find('\n', start)) != std::string::npos; start = nl + 1) {
    std::vector<std::string> f = split_tabs(text.substr(start, nl - start));
    auto at = [&](std::size_t i) { return i < f.size() ? f[i] : std::string(); };
    switch (f[0].empty() ? '?' : f[0][0]) {
      case 'U':
        e.unlocked = true;
        break;
      case 'R':
        e.refusal_code = at(1);
        e.refusal_message = at(2);
        break;
      case 'W':
        e.warnings.push_back(at(1));
        break;
      case 'D':
        e.damaged.push_back({at(1), at(2), at(3)});
        break;
      case 'O':
        e.other_errors.push_back({at(1), at(2), at(3)});
        break;
      case 'X':
        e.wrong.push_back({at(1), at(2), at(3)});
        break;
      case 'F':
        e.fsck_problems.push_back(at(1));
        break;
      case 'E':
        e.unexpected.push_back(at(1));
        break;
      case '.':
        e.finished = true;
        break;
      default:
        e.unexpected.push_back("unreadable report line from the child");
        break;
    }
  }
  return e;
}

// ---------------------------------------------------------------- in the child

// How two contents differ, without showing either (they are pupil data).
std::string difference(const std::string& got, const std::string& want) {
  std::size_t i = 0;
  while (i < got.size() && i < want.size() && got[i] == want[i]) ++i;
  return "read " + std::to_string(got.size()) + " bytes without an error, expected " + std::to_string(want.size()) +
         "; first difference at byte " + std::to_string(i);
}

void judge_part(const PartRead& got, const PartRead& want, Examination& e) {
  switch (got.status) {
    case ReadStatus::kOk:
      if (got.value != want.value) e.wrong.push_back({got.name, difference(got.value, want.value), ""});
      return;
    case ReadStatus::kCofferError:
      if (got.code == ErrorCode::kDamaged) e.damaged.push_back({got.name, got.value, std::string(code_name(got.code))});
      else e.other_errors.push_back({got.name, got.value, std::string(code_name(got.code))});
      return;
    case ReadStatus::kFsError:
      e.wrong.push_back({got.name, got.value + " (no integrity error: the part silently went missing)", ""});
      return;
    case ReadStatus::kException:
      e.unexpected.push_back(got.name + ": " + got.value);
      return;
  }
}

// fsck as `coffer fsck` runs it: the container's checks and the audit chain.
void run_fsck(vault::Coffer& c, Examination& e) {
  try {
    for (const auto& p : c.check().problems) e.fsck_problems.push_back(p);
  } catch (const Error& err) {
    e.fsck_problems.push_back(std::string("fsck stopped: ") + err.what());
  } catch (const std::exception& err) {
    e.unexpected.push_back(std::string("fsck: ") + err.what());
  }
  try {
    for (const auto& p : c.verify_audit().problems) e.fsck_problems.push_back("audit: " + p);
  } catch (const Error& err) {
    e.fsck_problems.push_back(std::string("audit verification stopped: ") + err.what());
  } catch (const std::exception& err) {
    e.unexpected.push_back(std::string("verify_audit: ") + err.what());
  }
}

Examination examine(const std::filesystem::path& coffer, const Expected& expected) {
  Examination e;
  test::FixedClock clock(kNow);
  std::optional<vault::Coffer> c;
  try {
    c.emplace(vault::Coffer::unlock(coffer, trial_passphrase(), keystore::system_random(), trial_policy(clock)));
  } catch (const Error& err) {
    e.refusal_code = code_name(err.code());
    e.refusal_message = err.what();
    return e;
  } catch (const std::exception& err) {
    e.refusal_code = "exception";
    e.unexpected.push_back(std::string("unlock: ") + err.what());
    return e;
  }
  e.unlocked = true;
  e.warnings = c->warnings();
  std::vector<PartRead> got = read_parts(*c, expected.layout, expected.audit_events_before);
  for (std::size_t i = 0; i < got.size(); ++i) judge_part(got[i], expected.parts[i], e);
  run_fsck(*c, e);
  return e;
}

void write_all(int fd, const std::string& s) {
  std::size_t done = 0;
  while (done < s.size()) {
    ssize_t n = ::write(fd, s.data() + done, s.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    done += static_cast<std::size_t>(n);
  }
}

[[noreturn]] void child(int fd, const std::filesystem::path& coffer, const Expected& expected, unsigned timeout) {
  ::alarm(timeout);
  std::string report;
  try {
    report = serialize(examine(coffer, expected));
  } catch (const std::exception& err) {
    report = line('E', {std::string("escaped the examination: ") + err.what()}) + line('.', {});
  }
  write_all(fd, report);
  // _exit: no atexit handlers or stdio buffers inherited from the parent.
  ::_exit(0);
}

std::string read_all(int fd) {
  std::string out;
  char buf[4096];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return out;
    out.append(buf, static_cast<std::size_t>(n));
  }
}

}  // namespace

std::string_view code_name(ErrorCode code) {
  switch (code) {
    case ErrorCode::kOther:
      return "kOther";
    case ErrorCode::kUsage:
      return "kUsage";
    case ErrorCode::kWrongPassphrase:
      return "kWrongPassphrase";
    case ErrorCode::kDamaged:
      return "kDamaged";
    case ErrorCode::kExpired:
      return "kExpired";
    case ErrorCode::kPolicy:
      return "kPolicy";
    case ErrorCode::kIo:
      return "kIo";
    case ErrorCode::kNoSpace:
      return "kNoSpace";
    case ErrorCode::kBusy:
      return "kBusy";
    case ErrorCode::kLockedOut:
      return "kLockedOut";
  }
  return "unknown";
}

Expected read_expected(const std::filesystem::path& coffer, std::size_t audit_events_before) {
  test::FixedClock clock(kNow);
  vault::Coffer c = vault::Coffer::unlock(coffer, trial_passphrase(), keystore::system_random(), trial_policy(clock));
  if (!c.warnings().empty()) throw std::runtime_error("the undamaged coffer unlocks with a warning");
  Expected x{discover_layout(c), {}, audit_events_before};
  x.parts = read_parts(c, x.layout, audit_events_before);
  for (const auto& p : x.parts)
    if (p.status != ReadStatus::kOk) throw std::runtime_error("the undamaged coffer: " + p.name + ": " + p.value);
  Examination e;
  run_fsck(c, e);
  if (!e.fsck_problems.empty() || !e.unexpected.empty())
    throw std::runtime_error("the undamaged coffer fails fsck: " +
                             (e.fsck_problems.empty() ? e.unexpected[0] : e.fsck_problems[0]));
  return x;
}

Examination examine_in_child(const std::filesystem::path& coffer, const Expected& expected, unsigned timeout) {
  int fds[2];
  if (::pipe(fds) != 0) throw std::runtime_error(std::string("pipe: ") + std::strerror(errno));
  pid_t pid = ::fork();
  if (pid < 0) throw std::runtime_error(std::string("fork: ") + std::strerror(errno));
  if (pid == 0) {
    ::close(fds[0]);
    child(fds[1], coffer, expected, timeout);
  }
  ::close(fds[1]);
  std::string report = read_all(fds[0]);
  ::close(fds[0]);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  Examination e = parse(report);
  if (WIFSIGNALED(status)) {
    e.finished = false;
    e.abnormal_end = WTERMSIG(status) == SIGALRM ? "timeout after " + std::to_string(timeout) + " s"
                                                 : "killed by signal " + std::to_string(WTERMSIG(status)) + " (" +
                                                       strsignal(WTERMSIG(status)) + ")";
  } else if (WEXITSTATUS(status) != 0) {
    e.finished = false;
    e.abnormal_end = "exit status " + std::to_string(WEXITSTATUS(status));
  } else if (!e.finished) {
    e.abnormal_end = "the child ended without a complete report";
  }
  return e;
}

}  // namespace coffer::tamper

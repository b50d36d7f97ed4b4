// The copy guard's wire protocol (layer 2, "guarded"): newline-delimited
// JSON over a SOCK_STREAM unix socket between the root `coffer guard`
// service and each coffer filesystem process. The coffer registers its
// mount and approved destinations, the guard answers with what it guards,
// then pushes one line per blocked write; closing the socket unregisters.
// Every message is hostile input on the other side: lines are bounded and
// parsed strictly, so a malformed line is an error, never a guess.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "coffer/unique_fd.h"

namespace coffer::guard {

// Not /run/coffer: that directory is root's private (0700) control-socket
// directory (fusefs/control.cpp), while every teacher must reach this socket.
inline constexpr const char* kDefaultGuardSocket = "/run/coffer-guard/guard.sock";

// A line longer than this (newline excluded) is refused by both sides.
inline constexpr std::size_t kMaxGuardLine = 64 * 1024;
// Bounds on a registration, so one request cannot make the guard's
// per-event work unbounded.
inline constexpr std::size_t kMaxApprovedDestinations = 64;
inline constexpr std::size_t kMaxGuardPath = 4096;

// Descriptors are coffer::UniqueFd (common/include/coffer/unique_fd.h).
using coffer::UniqueFd;

// client -> guard: {"op":"register","mountpoint":"/abs","approved":["/abs",...]}
// plus "readonly_media":true from a `guarded` coffer: while one is
// registered, the guard makes every removable filesystem read-only at the
// superblock (docs/GUARD.md), and refuses the registration if one cannot be.
struct RegisterRequest {
  std::string mountpoint;
  std::vector<std::string> approved;
  bool readonly_media = false;
  bool operator==(const RegisterRequest&) const = default;
};

// A process of the coffer's owner that already held a writable descriptor on
// a guarded filesystem when the coffer registered.
struct OpenWriter {
  pid_t pid = 0;
  std::string exe;
  std::string path;
  bool operator==(const OpenWriter&) const = default;
};

// guard -> client, once: {"ok":true,"marked":[...],"open_writers":[...],
// "unmarked":[...],"readonly":[...]} or {"ok":false,"error":"..."}.
// `unmarked` names guarded kinds of mount the guard failed to mark
// ("PATH: reason"); `readonly` the removable filesystems it holds read-only
// (only for a readonly_media registration).
struct RegisterReply {
  bool ok = false;
  std::string error;
  std::vector<std::string> marked;
  std::vector<OpenWriter> open_writers;
  std::vector<std::string> unmarked;
  std::vector<std::string> readonly;
  bool operator==(const RegisterReply&) const = default;
};

// guard -> client, after each denied open by the owner's processes:
// {"op":"blocked","pid":N,"exe":"/usr/bin/cp","path":"/media/usb/x.csv",
//  "flags":"0301","empty_file_left":true}. `flags` is the opener's open
// flags in octal with a leading 0, or "unknown" (counted as a write).
struct BlockedReport {
  pid_t pid = 0;
  std::string exe;
  std::string path;
  std::string flags;
  bool empty_file_left = false;
  bool operator==(const BlockedReport&) const = default;
};

// client -> guard: {"op":"query","what":"guarded-open"}; guard -> client:
// {"ok":true,"guarded_open":BOOL}, then the guard closes the connection.
// Anyone may ask (the answer shows only what read-only sticks show anyway):
// the polkit rule (contrib/polkit) asks it before udisks2 mounts a stick.
struct QueryRequest {
  std::string what = "guarded-open";
  bool operator==(const QueryRequest&) const = default;
};
struct QueryReply {
  bool guarded_open = false;
  bool operator==(const QueryReply&) const = default;
};

// Each returns one line with its trailing newline. Paths that are not UTF-8
// (JSON strings must be) have the offending bytes replaced by U+FFFD.
std::string encode(const RegisterRequest& m);
std::string encode(const RegisterReply& m);
std::string encode(const BlockedReport& m);
std::string encode(const QueryRequest& m);
std::string encode(const QueryReply& m);

// Each parses one line (without its newline). Throws coffer::Error(kDamaged)
// for anything but exactly the message described above: bad JSON, a
// missing, extra or mistyped field, an unknown op, a path that is not
// absolute or is too long, too many entries.
RegisterRequest decode_register_request(std::string_view line);
RegisterReply decode_register_reply(std::string_view line);
BlockedReport decode_blocked_report(std::string_view line);
// True if LINE is a JSON object whose "op" is "query" (then decode it with
// decode_query_request; anything else is a registration).
bool is_query(std::string_view line);
QueryRequest decode_query_request(std::string_view line);
QueryReply decode_query_reply(std::string_view line);

// Splits a byte stream into lines. A line over kMaxGuardLine is an error
// (overlong() stays true): the connection must be dropped, as resyncing
// inside a hostile stream is guesswork.
class LineBuffer {
 public:
  void append(std::string_view bytes);
  // The next complete line without its newline, if any.
  std::optional<std::string> next_line();
  bool overlong() const noexcept { return overlong_; }
  std::size_t pending() const noexcept { return buffer_.size() - start_; }

 private:
  std::string buffer_;
  std::size_t start_ = 0;
  bool overlong_ = false;
};

}  // namespace coffer::guard

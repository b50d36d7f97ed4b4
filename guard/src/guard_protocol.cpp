// Encoding and strict decoding of the guard's JSON lines (guard_protocol.h).
// nlohmann_json stays inside this file: the header shows plain structs.
#include "coffer/guard/guard_protocol.h"

#include <unistd.h>

#include <initializer_list>
#include <limits>
#include <nlohmann/json.hpp>

#include "coffer/error.h"

namespace coffer::guard {
namespace {

using Json = nlohmann::json;

[[noreturn]] void bad(const std::string& what) {
  throw Error(ErrorCode::kDamaged, "malformed copy guard message: " + what);
}

Json parse_object(std::string_view line) {
  if (line.size() > kMaxGuardLine) bad("line too long");
  Json j = Json::parse(line.begin(), line.end(), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) bad("not JSON");
  if (!j.is_object()) bad("not a JSON object");
  return j;
}

// Exactly these keys (`optional` ones may be absent), nothing else: a field
// we do not understand is not silently dropped.
void expect_keys(const Json& j, std::initializer_list<const char*> required,
                 std::initializer_list<const char*> optional = {}) {
  for (const char* k : required)
    if (!j.contains(k)) bad(std::string("missing \"") + k + "\"");
  for (auto it = j.begin(); it != j.end(); ++it) {
    bool known = false;
    for (const char* k : required) known = known || it.key() == k;
    for (const char* k : optional) known = known || it.key() == k;
    if (!known) bad("unexpected field \"" + it.key() + "\"");
  }
}

std::string get_string(const Json& j, const char* key) {
  const Json& v = j.at(key);
  if (!v.is_string()) bad(std::string("\"") + key + "\" is not a string");
  std::string s = v.get<std::string>();
  if (s.size() > kMaxGuardPath) bad(std::string("\"") + key + "\" is too long");
  if (s.find('\0') != std::string::npos) bad(std::string("\"") + key + "\" contains NUL");
  return s;
}

std::string get_absolute_path(const Json& j, const char* key) {
  std::string s = get_string(j, key);
  if (s.empty() || s[0] != '/') bad(std::string("\"") + key + "\" is not an absolute path");
  return s;
}

bool get_bool(const Json& j, const char* key) {
  const Json& v = j.at(key);
  if (!v.is_boolean()) bad(std::string("\"") + key + "\" is not true or false");
  return v.get<bool>();
}

pid_t get_pid(const Json& j, const char* key) {
  const Json& v = j.at(key);
  if (!v.is_number_integer()) bad(std::string("\"") + key + "\" is not an integer");
  auto n = v.get<std::int64_t>();
  if (n < 0 || n > std::numeric_limits<pid_t>::max()) bad(std::string("\"") + key + "\" is out of range");
  return static_cast<pid_t>(n);
}

const Json& get_array(const Json& j, const char* key, std::size_t max) {
  const Json& v = j.at(key);
  if (!v.is_array()) bad(std::string("\"") + key + "\" is not an array");
  if (v.size() > max) bad(std::string("\"") + key + "\" has too many entries");
  return v;
}

std::vector<std::string> get_path_array(const Json& j, const char* key, std::size_t max) {
  std::vector<std::string> out;
  for (const Json& e : get_array(j, key, max)) {
    if (!e.is_string()) bad(std::string("an entry of \"") + key + "\" is not a string");
    Json wrapper = {{"p", e}};
    out.push_back(get_absolute_path(wrapper, "p"));
  }
  return out;
}

std::vector<std::string> get_string_array(const Json& j, const char* key, std::size_t max) {
  std::vector<std::string> out;
  for (const Json& e : get_array(j, key, max)) {
    if (!e.is_string()) bad(std::string("an entry of \"") + key + "\" is not a string");
    Json wrapper = {{"s", e}};
    out.push_back(get_string(wrapper, "s"));
  }
  return out;
}

std::string line_of(const Json& j) {
  // Paths come from the kernel as bytes; JSON wants UTF-8.
  return j.dump(-1, ' ', false, Json::error_handler_t::replace) + "\n";
}

// A guard reports at most this many mounts and open writers: more would be
// a broken or hostile peer (the line limit bounds it anyway).
constexpr std::size_t kMaxListed = 4096;

}  // namespace

std::string encode(const RegisterRequest& m) {
  Json j = {{"op", "register"}, {"mountpoint", m.mountpoint}, {"approved", m.approved}};
  if (m.readonly_media) j["readonly_media"] = true;
  return line_of(j);
}

std::string encode(const RegisterReply& m) {
  Json j;
  j["ok"] = m.ok;
  if (!m.ok) {
    j["error"] = m.error;
    return line_of(j);
  }
  j["marked"] = m.marked;
  Json writers = Json::array();
  for (const OpenWriter& w : m.open_writers) writers.push_back({{"pid", w.pid}, {"exe", w.exe}, {"path", w.path}});
  j["open_writers"] = std::move(writers);
  j["unmarked"] = m.unmarked;
  if (!m.readonly.empty()) j["readonly"] = m.readonly;
  return line_of(j);
}

std::string encode(const BlockedReport& m) {
  Json j = {{"op", "blocked"}, {"pid", m.pid},     {"exe", m.exe},
            {"path", m.path},  {"flags", m.flags}, {"empty_file_left", m.empty_file_left}};
  return line_of(j);
}

std::string encode(const QueryRequest& m) {
  Json j = {{"op", "query"}, {"what", m.what}};
  return line_of(j);
}

std::string encode(const QueryReply& m) {
  Json j = {{"ok", true}, {"guarded_open", m.guarded_open}};
  return line_of(j);
}

bool is_query(std::string_view line) {
  if (line.size() > kMaxGuardLine) return false;
  Json j = Json::parse(line.begin(), line.end(), nullptr, /*allow_exceptions=*/false);
  return j.is_object() && j.contains("op") && j["op"] == "query";
}

QueryRequest decode_query_request(std::string_view line) {
  Json j = parse_object(line);
  expect_keys(j, {"op", "what"});
  if (get_string(j, "op") != "query") bad("unknown op");
  QueryRequest r;
  r.what = get_string(j, "what");
  if (r.what != "guarded-open") bad("unknown query \"" + r.what + "\"");
  return r;
}

QueryReply decode_query_reply(std::string_view line) {
  Json j = parse_object(line);
  expect_keys(j, {"ok", "guarded_open"});
  if (!get_bool(j, "ok")) bad("the query failed");
  return QueryReply{get_bool(j, "guarded_open")};
}

RegisterRequest decode_register_request(std::string_view line) {
  Json j = parse_object(line);
  expect_keys(j, {"op", "mountpoint", "approved"}, {"readonly_media"});
  if (get_string(j, "op") != "register") bad("unknown op");
  RegisterRequest r;
  r.mountpoint = get_absolute_path(j, "mountpoint");
  r.approved = get_path_array(j, "approved", kMaxApprovedDestinations);
  if (j.contains("readonly_media")) r.readonly_media = get_bool(j, "readonly_media");
  return r;
}

RegisterReply decode_register_reply(std::string_view line) {
  Json j = parse_object(line);
  if (!j.contains("ok")) bad("missing \"ok\"");
  RegisterReply r;
  r.ok = get_bool(j, "ok");
  if (!r.ok) {
    expect_keys(j, {"ok", "error"});
    r.error = get_string(j, "error");
    return r;
  }
  expect_keys(j, {"ok", "marked"}, {"open_writers", "unmarked", "readonly"});
  r.marked = get_path_array(j, "marked", kMaxListed);
  if (j.contains("readonly")) r.readonly = get_path_array(j, "readonly", kMaxListed);
  if (j.contains("unmarked")) r.unmarked = get_string_array(j, "unmarked", kMaxListed);
  if (j.contains("open_writers")) {
    for (const Json& w : get_array(j, "open_writers", kMaxListed)) {
      if (!w.is_object()) bad("an open writer is not an object");
      expect_keys(w, {"pid", "exe", "path"});
      r.open_writers.push_back({get_pid(w, "pid"), get_string(w, "exe"), get_string(w, "path")});
    }
  }
  return r;
}

BlockedReport decode_blocked_report(std::string_view line) {
  Json j = parse_object(line);
  expect_keys(j, {"op", "pid", "exe", "path", "flags", "empty_file_left"});
  if (get_string(j, "op") != "blocked") bad("unknown op");
  BlockedReport r;
  r.pid = get_pid(j, "pid");
  r.exe = get_string(j, "exe");
  r.path = get_string(j, "path");
  r.flags = get_string(j, "flags");
  r.empty_file_left = get_bool(j, "empty_file_left");
  return r;
}

void LineBuffer::append(std::string_view bytes) {
  if (overlong_) return;
  // Drop consumed bytes before growing, so a long-lived connection does not
  // keep every line it ever received.
  if (start_ > 0 && start_ >= buffer_.size() / 2) {
    buffer_.erase(0, start_);
    start_ = 0;
  }
  buffer_.append(bytes);
  // An incomplete last line already over the limit will never become valid.
  std::size_t last_nl = buffer_.rfind('\n');
  std::size_t tail_start = last_nl == std::string::npos || last_nl < start_ ? start_ : last_nl + 1;
  if (buffer_.size() - tail_start > kMaxGuardLine) overlong_ = true;
}

std::optional<std::string> LineBuffer::next_line() {
  if (overlong_) return std::nullopt;
  std::size_t nl = buffer_.find('\n', start_);
  if (nl == std::string::npos) return std::nullopt;
  if (nl - start_ > kMaxGuardLine) {
    overlong_ = true;
    return std::nullopt;
  }
  std::string line = buffer_.substr(start_, nl - start_);
  start_ = nl + 1;
  return line;
}

}  // namespace coffer::guard

// Exports through the mount's process; see export.h.
#include "export.h"

#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "caller_audit.h"
#include "coffer/error.h"
#include "coffer/unique_fd.h"
#include "coffer/vault/container/clock.h"
#include "coffer/vault/policy/policy.h"

namespace coffer::fusefs {
namespace fs = std::filesystem;

std::uint64_t export_object(Filesystem& filesystem, const std::string& object, ExportDestination& to) {
  Caller self{static_cast<std::uint32_t>(::getuid()), static_cast<std::uint32_t>(::getgid()), ::getpid(), true};
  std::uint64_t ino = kRootIno;
  std::vector<std::uint64_t> looked_up;
  auto forget_all = [&] {
    for (auto i : looked_up) filesystem.forget(i, 1);
  };
  std::uint64_t total = 0;
  try {
    for (auto& part : fs::path(object)) {
      if (part.empty() || part == "." || part == "..") throw Error(ErrorCode::kUsage, "bad path " + object);
      ino = filesystem.lookup(ino, part.string(), self).ino;
      looked_up.push_back(ino);
    }
    filesystem.open(ino, O_RDONLY, self);
    std::string error;
    try {
      std::vector<std::uint8_t> buf(1 << 16);
      for (;;) {
        std::size_t n = filesystem.read(ino, total, buf, self);
        if (n == 0) break;
        for (std::size_t done = 0; done < n;) {
          ssize_t w = ::write(to.fd(), buf.data() + done, n - done);
          if (w < 0)
            throw Error(ErrorCode::kIo, "cannot write " + to.resolved().string() + ": " + std::strerror(errno));
          done += static_cast<std::size_t>(w);
        }
        total += n;
      }
    } catch (const std::exception& e) {
      error = e.what();
    }
    filesystem.release(ino);
    if (!error.empty()) throw Error(ErrorCode::kIo, error);
    to.commit();
  } catch (...) {
    forget_all();
    throw;
  }
  forget_all();
  return total;
}

namespace {

// The asker's executable, for the record only (it decides nothing). With a
// pidfd of the peer, a pid that was reused by the time we read
// /proc/PID/exe is seen: the peer has exited and no program is named.
std::optional<std::string> asker_executable(const ControlServer::Client& client) {
  if (!client.pidfd.valid()) return std::nullopt;
  std::string exe = process_executable(client.pid);
  pollfd p{client.pidfd.get(), POLLIN, 0};
  if (::poll(&p, 1, 0) != 0) return std::string();  // it has exited: the pid may be someone else's
  return exe;
}

}  // namespace

std::string answer_export(Filesystem& filesystem, const std::vector<fs::path>& approved, const ExportMediaCheck& media,
                          const ControlServer::Client& client,
                          const std::function<void(const vault::AuditEvent&)>& audit) {
  auto record = [&](const std::string& object, const std::string& result, const std::string& detail) {
    filesystem.with_database([&](vault::Database&) {
      audit(caller_event(vault::AuditKind::kExport, client.uid, client.pid, object, result, detail,
                         vault::system_clock().now(), asker_executable(client)));
    });
  };
  if (client.request.kind != ControlRequest::Kind::kExport) return encode_export_error("bad export request");
  const std::string& object = client.request.object;
  const fs::path dest = client.request.destination;
  try {
    // The destination is resolved here, from descriptors: the request's
    // text (and who sent it) proves nothing.
    ExportDestination to = ExportDestination::open(dest, approved, media);
    std::uint64_t bytes = export_object(filesystem, object, to);
    record(object, "ok", "to " + to.resolved().string() + " (" + std::to_string(bytes) + " bytes)");
    return encode_export_reply(bytes);
  } catch (const Error& e) {
    // A refusal is recorded (a steered export is an attempt worth seeing);
    // a failure to write is not an export.
    if (e.code() == ErrorCode::kPolicy) {
      try {
        record(object, "refused", "to " + dest.string() + ": " + e.what());
      } catch (const std::exception&) {
      }
    }
    return encode_export_error(e);
  } catch (const std::exception& e) {
    return encode_export_error(e.what());
  }
}

}  // namespace coffer::fusefs

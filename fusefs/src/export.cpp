// Exports through the mount's process; see export.h.
#include "export.h"

#include <fcntl.h>
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

std::uint64_t export_object(Filesystem& filesystem, const std::string& object, const fs::path& dest) {
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
    fs::path part = dest.parent_path() / ("." + dest.filename().string() + ".coffer-part");
    UniqueFd out(::open(part.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
    if (!out.valid()) {
      filesystem.release(ino);
      throw Error(ErrorCode::kIo, "cannot write " + part.string() + ": " + std::strerror(errno));
    }
    std::string error;
    try {
      std::vector<std::uint8_t> buf(1 << 16);
      for (;;) {
        std::size_t n = filesystem.read(ino, total, buf, self);
        if (n == 0) break;
        for (std::size_t done = 0; done < n;) {
          ssize_t w = ::write(out.get(), buf.data() + done, n - done);
          if (w < 0) throw Error(ErrorCode::kIo, "cannot write " + dest.string() + ": " + std::strerror(errno));
          done += static_cast<std::size_t>(w);
        }
        total += n;
      }
      if (::fsync(out.get()) != 0)
        throw Error(ErrorCode::kIo, "cannot write " + dest.string() + ": " + std::strerror(errno));
    } catch (const std::exception& e) {
      error = e.what();
    }
    out.reset();
    filesystem.release(ino);
    if (error.empty() && ::link(part.c_str(), dest.c_str()) != 0)
      error = errno == EEXIST ? dest.string() + " already exists; export never overwrites"
                              : "cannot create " + dest.string() + ": " + std::strerror(errno);
    ::unlink(part.c_str());
    if (!error.empty()) throw Error(ErrorCode::kIo, error);
  } catch (...) {
    forget_all();
    throw;
  }
  forget_all();
  return total;
}

std::string answer_export(Filesystem& filesystem, const std::vector<fs::path>& approved,
                          const ControlServer::Client& client,
                          const std::function<void(const vault::AuditEvent&)>& audit) {
  try {
    if (client.request.kind != ControlRequest::Kind::kExport) throw Error(ErrorCode::kUsage, "bad export request");
    const std::string& object = client.request.object;
    fs::path dest = client.request.destination;
    if (!vault::path_within(dest, approved))
      throw Error(ErrorCode::kPolicy, dest.string() + " is not an approved destination");
    std::uint64_t bytes = export_object(filesystem, object, dest);
    filesystem.with_database([&](vault::Database&) {
      audit(caller_event(vault::AuditKind::kExport, client.uid, client.pid, object, "ok",
                         "to " + dest.string() + " (" + std::to_string(bytes) + " bytes)",
                         vault::system_clock().now()));
    });
    return encode_export_reply(bytes);
  } catch (const Error& e) {
    return encode_export_error(e);
  } catch (const std::exception& e) {
    return encode_export_error(e.what());
  }
}

}  // namespace coffer::fusefs

// The copy guard of one mount (docs/GUARD.md), wired in one place: layer 1
// (a reader writing to removable media or unapproved places is refused),
// layer 2 (the copy guard service, when there or required) and layer 3 (in
// a sandboxed session only the session's processes may use the mount).
#pragma once

#include <atomic>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "coffer/fusefs/daemon.h"
#include "coffer/fusefs/filesystem.h"
#include "coffer/guard/caller_check.h"
#include "coffer/guard/guard_client.h"
#include "coffer/guard/session.h"
#include "coffer/vault/audit/audit.h"

namespace coffer::fusefs {

// What `status` shows about the copy guard of a mount with these options.
std::vector<std::string> copy_guard_lines(const MountOptions& options);
// The same for a running mount: layer 2 is claimed only while REGISTERED
// (the coffer's registration with the guard service is live).
std::vector<std::string> copy_guard_lines(const MountOptions& options, bool registered);

class CopyGuard {
 public:
  // Records an event in the audit trail; called under the filesystem's
  // operations mutex (the database it writes to is guarded by it).
  using Audit = std::function<void(const vault::AuditEvent&)>;

  // Sets the layer 1 and layer 3 gates on `filesystem`. Built once the
  // folder is mounted (layer 1 tells writes into the coffer itself by the
  // mount's device number) and before requests are served.
  CopyGuard(const MountOptions& options, Filesystem& filesystem, Audit audit);
  CopyGuard(const CopyGuard&) = delete;
  CopyGuard& operator=(const CopyGuard&) = delete;

  // Layer 2: registers with the copy guard service, if options name one.
  // Throws when the coffer requires the guard and it is missing or
  // programs already write to guarded storage; otherwise a failure just
  // leaves layer 2 off.
  void connect_service();
  int service_fd() const;  // poll for POLLIN; -1 without the service
  // The registration with the copy guard service is live.
  bool service_registered() const { return service_.has_value() && !service_->closed(); }
  // A standard coffer opened while programs already wrote to guarded
  // storage: one line per program, for the opener and for status.
  const std::vector<std::string>& warnings() const { return warnings_; }
  // Records what the service refused; returns a lock reason when a
  // required guard has gone (an optional one is just dropped).
  std::string on_service_event();

  // Layer 3: the session's keeper is known; from now on it and its
  // descendants (only) may use the mount.
  void admit_session(const guard::ProcessIdentity& keeper);

 private:
  const MountOptions& options_;
  Filesystem& filesystem_;
  Audit audit_;
  guard::CallerInspector inspector_;
  std::optional<guard::SessionMembers> members_;
  std::atomic<bool> members_ready_{false};
  std::optional<guard::GuardConnection> service_;
  std::vector<std::string> warnings_;
};

}  // namespace coffer::fusefs

// A builder for vault::CreateParams, so a test names the fields it cares
// about instead of repeating a positional initialiser of every field.
// Defaults: profile "trip", owner "Ms Smith", the cheap test KDF cost, and
// no expiry (expires 0: every test says when its coffer expires).
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "coffer/keystore/school_key.h"
#include "coffer/vault/coffer/coffer.h"

namespace coffer::test {

class CreateParamsBuilder {
 public:
  CreateParamsBuilder() {
    p_.profile = "trip";
    p_.owner = "Ms Smith";
    p_.kdf_cost = keystore::KdfCost::kTest;
  }

  CreateParamsBuilder& profile(std::string v) {
    p_.profile = std::move(v);
    return *this;
  }
  CreateParamsBuilder& owner(std::string v) {
    p_.owner = std::move(v);
    return *this;
  }
  CreateParamsBuilder& expires(std::int64_t unix_seconds) {
    p_.expires = unix_seconds;
    return *this;
  }
  CreateParamsBuilder& kdf_cost(keystore::KdfCost v) {
    p_.kdf_cost = v;
    return *this;
  }
  CreateParamsBuilder& recovery_key(const keystore::SchoolPublicKey& v) {
    p_.recovery_key = v;
    return *this;
  }
  CreateParamsBuilder& audit_key(const keystore::SchoolPublicKey& v) {
    p_.audit_key = v;
    return *this;
  }
  CreateParamsBuilder& profile_fields(std::vector<std::string> v) {
    p_.profile_fields = std::move(v);
    return *this;
  }
  CreateParamsBuilder& protection(std::string v) {
    p_.protection = std::move(v);
    return *this;
  }
  CreateParamsBuilder& created_by(std::string v) {
    p_.created_by = std::move(v);
    return *this;
  }
  CreateParamsBuilder& must_change_passphrase(bool v = true) {
    p_.must_change_passphrase = v;
    return *this;
  }
  CreateParamsBuilder& populate(std::function<void(vault::Coffer&)> v) {
    p_.populate = std::move(v);
    return *this;
  }
  CreateParamsBuilder& approved_destinations(std::vector<std::filesystem::path> v) {
    p_.approved_destinations = std::move(v);
    return *this;
  }

  vault::CreateParams build() const& { return p_; }
  vault::CreateParams build() && { return std::move(p_); }

 private:
  vault::CreateParams p_;
};

}  // namespace coffer::test

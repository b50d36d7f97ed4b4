// libpwquality check; see quality.h. pwquality needs a NUL-terminated
// string, so the passphrase is copied into secure memory for the call.
#include "quality.h"

#include <pwquality.h>

#include <memory>
#include <string>

#include "coffer/error.h"

namespace coffer::cli {

void require_strong(const keystore::Passphrase& passphrase) {
  std::unique_ptr<pwquality_settings_t, decltype(&pwquality_free_settings)> settings(pwquality_default_settings(),
                                                                                     &pwquality_free_settings);
  if (!settings) throw std::bad_alloc();
  pwquality_read_config(settings.get(), nullptr, nullptr);
  keystore::SecretBytes text(passphrase.size() + 1);
  auto pw = passphrase.reveal_bytes();
  std::copy(pw.begin(), pw.end(), text.writable_bytes().begin());
  void* aux = nullptr;
  int score = pwquality_check(settings.get(), reinterpret_cast<const char*>(text.reveal_bytes().data()), nullptr,
                              nullptr, &aux);
  if (score < 0) {
    char buf[PWQ_MAX_ERROR_MESSAGE_LEN];
    const char* reason = pwquality_strerror(buf, sizeof buf, score, aux);
    throw Error(ErrorCode::kPolicy, std::string("passphrase refused as too weak: ") + reason +
                                        ". Choose a longer one, e.g. four unrelated words.");
  }
}

}  // namespace coffer::cli

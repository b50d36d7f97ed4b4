// logind through sd-bus; see logind.h.
#include "logind.h"

#include <fcntl.h>
#include <systemd/sd-bus.h>
#include <unistd.h>

#include <ctime>

#include "coffer/unique_fd.h"

namespace coffer::fusefs {

struct LogindWatch::Impl {
  sd_bus* bus = nullptr;
  sd_bus_slot* sleep_slot = nullptr;
  sd_bus_slot* lock_slot = nullptr;
  std::string session_path;
  UniqueFd inhibitor;   // logind's delay inhibitor: held until closed
  std::string pending;  // a reason set by a signal handler

  ~Impl() {
    inhibitor.reset();  // before the bus goes
    sd_bus_slot_unref(sleep_slot);
    sd_bus_slot_unref(lock_slot);
    sd_bus_flush_close_unref(bus);
  }

  void take_inhibitor() {
    sd_bus_message* reply = nullptr;
    sd_bus_error error{};  // SD_BUS_ERROR_NULL, without its C99 compound literal
    if (sd_bus_call_method(bus, "org.freedesktop.login1", "/org/freedesktop/login1", "org.freedesktop.login1.Manager",
                           "Inhibit", &error, &reply, "ssss", "sleep", "coffer", "Lock open coffers before sleeping",
                           "delay") >= 0) {
      int fd = -1;
      if (sd_bus_message_read(reply, "h", &fd) >= 0 && fd >= 0) inhibitor.reset(::fcntl(fd, F_DUPFD_CLOEXEC, 3));
    }
    sd_bus_error_free(&error);
    sd_bus_message_unref(reply);
  }
};

namespace {

int on_prepare_for_sleep(sd_bus_message* m, void* userdata, sd_bus_error*) {
  auto* impl = static_cast<LogindWatch::Impl*>(userdata);
  int starting = 0;
  if (sd_bus_message_read(m, "b", &starting) >= 0 && starting) impl->pending = "the computer is going to sleep";
  return 0;
}

int on_session_lock(sd_bus_message*, void* userdata, sd_bus_error*) {
  static_cast<LogindWatch::Impl*>(userdata)->pending = "the screen was locked";
  return 0;
}

}  // namespace

LogindWatch::LogindWatch() {
  auto impl = std::make_unique<Impl>();
  if (sd_bus_open_system(&impl->bus) < 0) return;
  if (sd_bus_match_signal(impl->bus, &impl->sleep_slot, "org.freedesktop.login1", "/org/freedesktop/login1",
                          "org.freedesktop.login1.Manager", "PrepareForSleep", on_prepare_for_sleep, impl.get()) < 0)
    return;
  sd_bus_message* reply = nullptr;
  sd_bus_error error{};  // SD_BUS_ERROR_NULL, without its C99 compound literal
  if (sd_bus_call_method(impl->bus, "org.freedesktop.login1", "/org/freedesktop/login1",
                         "org.freedesktop.login1.Manager", "GetSessionByPID", &error, &reply, "u",
                         static_cast<std::uint32_t>(::getpid())) >= 0) {
    const char* path = nullptr;
    if (sd_bus_message_read(reply, "o", &path) >= 0 && path) {
      impl->session_path = path;
      sd_bus_match_signal(impl->bus, &impl->lock_slot, "org.freedesktop.login1", path, "org.freedesktop.login1.Session",
                          "Lock", on_session_lock, impl.get());
    }
  }
  sd_bus_error_free(&error);
  sd_bus_message_unref(reply);
  if (impl->session_path.empty() && !impl->sleep_slot) return;
  impl->take_inhibitor();
  impl_ = std::move(impl);
}

LogindWatch::~LogindWatch() = default;

bool LogindWatch::active() const { return impl_ != nullptr; }

int LogindWatch::fd() const { return impl_ ? sd_bus_get_fd(impl_->bus) : -1; }

std::string LogindWatch::process() {
  if (!impl_) return {};
  while (sd_bus_process(impl_->bus, nullptr) > 0) {
  }
  std::string reason;
  reason.swap(impl_->pending);
  return reason;
}

bool LogindWatch::user_idle_for(std::chrono::seconds timeout) {
  if (!impl_ || impl_->session_path.empty()) return false;
  int idle = 0;
  sd_bus_error error{};  // SD_BUS_ERROR_NULL, without its C99 compound literal
  int rc = sd_bus_get_property_trivial(impl_->bus, "org.freedesktop.login1", impl_->session_path.c_str(),
                                       "org.freedesktop.login1.Session", "IdleHint", &error, 'b', &idle);
  sd_bus_error_free(&error);
  if (rc < 0 || !idle) return false;
  std::uint64_t since_us = 0;  // CLOCK_MONOTONIC microseconds
  rc = sd_bus_get_property_trivial(impl_->bus, "org.freedesktop.login1", impl_->session_path.c_str(),
                                   "org.freedesktop.login1.Session", "IdleSinceHintMonotonic", &error, 't', &since_us);
  sd_bus_error_free(&error);
  if (rc < 0) return false;
  timespec now{};
  clock_gettime(CLOCK_MONOTONIC, &now);
  std::uint64_t now_us = static_cast<std::uint64_t>(now.tv_sec) * 1000000 + now.tv_nsec / 1000;
  return now_us >= since_us && now_us - since_us >= static_cast<std::uint64_t>(timeout.count()) * 1000000;
}

void LogindWatch::release_sleep_inhibitor() {
  if (impl_) impl_->inhibitor.reset();
}

}  // namespace coffer::fusefs

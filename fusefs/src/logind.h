// Where a system bus and logind exist: lock before the machine sleeps
// (holding a delay inhibitor until the lock is done), when the session is
// locked, and when logind reports the user idle (IdleHint) for as long as
// the idle timeout. Without a bus this does nothing. The bus is the one
// sd_bus_open_system() finds (DBUS_SYSTEM_BUS_ADDRESS or the standard one).
#pragma once

#include <chrono>
#include <memory>
#include <string>

namespace coffer::fusefs {

class LogindWatch {
 public:
  LogindWatch();  // never throws: no bus, no logind = inactive
  ~LogindWatch();
  LogindWatch(const LogindWatch&) = delete;
  LogindWatch& operator=(const LogindWatch&) = delete;

  bool active() const;
  int fd() const;  // poll for POLLIN, then call process(); -1 when inactive
  // Handles pending bus traffic; returns a lock reason, or empty.
  std::string process();
  // True when logind says the user has been idle for at least `timeout`.
  bool user_idle_for(std::chrono::seconds timeout);
  // Lets the machine go to sleep (call once the coffer is locked).
  void release_sleep_inhibitor();

  struct Impl;  // public only so the sd-bus callbacks can reach it

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace coffer::fusefs

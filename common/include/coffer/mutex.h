// A mutex and its scoped lock carrying Clang's thread-safety annotations
// (libstdc++'s std::mutex carries none), so `GUARDED_BY` and `REQUIRES` on
// the data they protect are checked by clang's -Wthread-safety (CI builds
// the tree once with it). Under GCC the annotations compile to nothing.
#pragma once

#include <mutex>

#if defined(__clang__)
#define COFFER_TSA(x) __attribute__((x))
#else
#define COFFER_TSA(x)
#endif

#define CAPABILITY(x) COFFER_TSA(capability(x))
#define SCOPED_CAPABILITY COFFER_TSA(scoped_lockable)
#define GUARDED_BY(x) COFFER_TSA(guarded_by(x))
#define PT_GUARDED_BY(x) COFFER_TSA(pt_guarded_by(x))
#define REQUIRES(...) COFFER_TSA(requires_capability(__VA_ARGS__))
#define EXCLUDES(...) COFFER_TSA(locks_excluded(__VA_ARGS__))
#define ACQUIRE(...) COFFER_TSA(acquire_capability(__VA_ARGS__))
#define RELEASE(...) COFFER_TSA(release_capability(__VA_ARGS__))
#define TRY_ACQUIRE(...) COFFER_TSA(try_acquire_capability(__VA_ARGS__))
#define NO_THREAD_SAFETY_ANALYSIS COFFER_TSA(no_thread_safety_analysis)

namespace coffer {

class CAPABILITY("mutex") Mutex {
 public:
  void lock() ACQUIRE() { m_.lock(); }
  void unlock() RELEASE() { m_.unlock(); }
  bool try_lock() TRY_ACQUIRE(true) { return m_.try_lock(); }
  // For std::condition_variable, which needs the std::mutex itself; the
  // caller holds this Mutex (through a MutexLock) while it waits.
  std::mutex& native() { return m_; }

 private:
  std::mutex m_;
};

// Holds a Mutex for a scope (std::lock_guard with annotations). unlock()
// and lock() allow a scope to drop the mutex around a slow call.
class SCOPED_CAPABILITY MutexLock {
 public:
  explicit MutexLock(Mutex& m) ACQUIRE(m) : m_(m) { m_.lock(); }
  ~MutexLock() RELEASE() {
    if (held_) m_.unlock();
  }
  void unlock() RELEASE() {
    m_.unlock();
    held_ = false;
  }
  void lock() ACQUIRE() {
    m_.lock();
    held_ = true;
  }
  MutexLock(const MutexLock&) = delete;
  MutexLock& operator=(const MutexLock&) = delete;

 private:
  Mutex& m_;
  bool held_ = true;
};

}  // namespace coffer

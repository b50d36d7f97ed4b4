// Catching the coffer::Error a call throws, for tests that check its code
// or its message: one set of helpers instead of a try/catch per test file.
#pragma once

#include <gtest/gtest.h>

#include <exception>
#include <string>
#include <utility>

#include "coffer/error.h"

namespace coffer::test {

// The code of the coffer::Error `f` throws (its message into *message when
// given), or ErrorCode::kOther if it throws none: "did not throw" never
// equals what a test expects.
template <class F>
ErrorCode code_of(F&& f, std::string* message = nullptr) {
  try {
    std::forward<F>(f)();
  } catch (const Error& e) {
    if (message) *message = e.what();
    return e.code();
  }
  return ErrorCode::kOther;
}

// The message of the coffer::Error `f` throws, which must carry `expected`;
// a test failure (and "") if it throws none or another exception.
template <class F>
std::string message_of(F&& f, ErrorCode expected) {
  try {
    std::forward<F>(f)();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), expected) << e.what();
    return e.what();
  } catch (const std::exception& e) {
    ADD_FAILURE() << "not a coffer::Error: " << e.what();
    return "";
  }
  ADD_FAILURE() << "no coffer::Error thrown";
  return "";
}

}  // namespace coffer::test

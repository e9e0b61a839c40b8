// The check every bad-input case ends with: the command failed cleanly, with a message.
#pragma once

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "test_util.h"

namespace chunkllm::test {

// A non-zero exit (not a signal, not the timeout: a minute, for a refusal that should take
// seconds even under ASan), stderr naming `needle`, and no report from AddressSanitizer or UBSan
// (ctest runs the bad-input cases again against chunkllm-asan).
inline void ExpectCleanFailure(const CliResult& r, const std::string& needle) {
  EXPECT_EQ(r.signal, 0) << "crashed with signal " << r.signal << "\n" << r.err;
  EXPECT_NE(r.exit_code, 0) << "exit 0 for bad input\n" << r.err;
  EXPECT_NE(r.exit_code, -1) << r.err;
  EXPECT_NE(r.err.find(needle), std::string::npos) << "stderr does not mention '" << needle << "':\n" << r.err;
  EXPECT_EQ(r.err.find("AddressSanitizer"), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find("runtime error"), std::string::npos) << r.err;  // UBSan
}

inline void ExpectCleanFailure(const std::vector<std::string>& args, const std::string& needle, int timeout_s = 60) {
  ExpectCleanFailure(RunCli(args, timeout_s), needle);
}

}  // namespace chunkllm::test

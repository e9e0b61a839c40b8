// The report flags of the bench commands: -o md|json (what is printed) and --out-file F (the
// report written again to F, as JSON when F ends in .json, else as markdown).
#pragma once

#include <CLI/CLI.hpp>

#include <cstdio>
#include <functional>
#include <string>

#include "core/file_util.h"

namespace chunkllm::cli {

struct ReportFlags {
  std::string format = "md";
  std::string out_file;
};

inline void AddReportFlags(CLI::App* c, ReportFlags& f) {
  c->add_option("-o,--output", f.format, "output format: md or json")->check(CLI::IsMember({"md", "json"}))->capture_default_str();
  c->add_option("--out-file", f.out_file, "also write the results to this file (JSON if it ends in .json, else md)");
}

// Prints the report in -o's format; with --out-file, writes it there too.
inline void EmitReport(const ReportFlags& f, const std::function<std::string()>& json,
                       const std::function<std::string()>& markdown) {
  std::fputs((f.format == "json" ? json() : markdown()).c_str(), stdout);
  const bool json_file = f.out_file.size() >= 5 && f.out_file.compare(f.out_file.size() - 5, 5, ".json") == 0;
  if (!f.out_file.empty()) WriteTextFile(f.out_file, json_file ? json() : markdown());
}

}  // namespace chunkllm::cli

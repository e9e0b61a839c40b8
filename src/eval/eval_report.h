// The report of an eval run: summary tables (JSON and Markdown) and SVG plots from the
// per-sample results.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "eval/answer_agreement.h"
#include "eval/fidelity.h"

namespace chunkllm {

struct SampleResult {
  std::string method, task;
  int length = 0;
  double depth = 0;
  uint64_t seed = 0;
  std::string prediction;
  std::vector<std::string> answers;
  double score = 0;
  int prompt_tokens = 0;
  double decode_tokens_per_s = 0;
  double attended_fraction = 1, resident_fraction = 1, selections_per_token = 0;
  double prefill_attended_fraction = 1;  // per prompt token, of its causal past (sparse prefill < 1)
  std::optional<AnswerAgreement> agreement;  // with dense's answer (methods other than dense, dense in the run)
};

nlohmann::json ToJson(const SampleResult& r);

// The files a report folder holds (config.json, results.jsonl, summary.md, plots, ...): an
// existing -o folder is replaced by a new report only when it holds nothing else.
bool IsEvalReportFile(const std::string& name);

// Writes summary.json, summary.md and the plots into dir; returns the summary. Fidelity rows
// (may be empty) add a "fidelity" section per method and length, and kl-vs-attended.svg. The
// adapters' held-out metrics (ToJson of an AdapterValidation, train/adapter_report.h; null:
// none measured) add an "adapters" section and adapter-recall.svg.
nlohmann::json WriteEvalReport(const std::string& dir, const std::vector<SampleResult>& results,
                               const std::vector<std::string>& methods,
                               const std::vector<FidelityResult>& fidelity = {},
                               const nlohmann::json& adapter_metrics = nullptr);

}  // namespace chunkllm

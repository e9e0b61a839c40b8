// One record schema for every long-context task (docs/evaluation.md, "Tasks"): any method is scored
// the same way, and `chunkllm eval --tasks FILE.jsonl` reads the same fields back.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace chunkllm {

struct TaskRecord {
  std::string task;           // passkey, niah_single, niah_multikey, niah_multivalue, niah_multiquery, vt, cwe, fwe
  std::string context;        // prefilled first
  std::string question;       // fed after the context
  std::string answer_prefix;  // fed after the question; decoding continues from here
  std::vector<std::string> answers;  // every one must appear in the output (string_match_all)
  int max_new_tokens = 16;
  int length = 0;             // target context length in tokens
  double depth = 0.0;         // needle depth in [0, 1] (tasks without a needle: 0)
  uint64_t seed = 0;
};

nlohmann::json ToJson(const TaskRecord& r);
// Throws Error naming the field when a required one is missing or has the wrong type, or an
// answer is empty.
TaskRecord TaskRecordFromJson(const nlohmann::json& j, const std::string& where);
// The records of a JSONL text, one per non-blank line (`where` names it in errors, with the
// line number: "tasks.jsonl:3: ..."). Throws Error for a line that is not a record, or none.
std::vector<TaskRecord> ParseTaskRecords(const std::string& text, const std::string& where);
// ParseTaskRecords of a file.
std::vector<TaskRecord> ReadTaskRecords(const std::string& path);

}  // namespace chunkllm

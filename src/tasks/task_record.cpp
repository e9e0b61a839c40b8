#include "tasks/task_record.h"

#include <fstream>

#include <nlohmann/json.hpp>

#include "core/error.h"

namespace chunkllm {

nlohmann::json ToJson(const TaskRecord& r) {
  return {{"task", r.task},
          {"context", r.context},
          {"question", r.question},
          {"answer_prefix", r.answer_prefix},
          {"answers", r.answers},
          {"max_new_tokens", r.max_new_tokens},
          {"length", r.length},
          {"depth", r.depth},
          {"seed", r.seed}};
}

TaskRecord TaskRecordFromJson(const nlohmann::json& j, const std::string& where) {
  if (!j.is_object()) Fail(where, ": expected a JSON object");
  auto field = [&](const char* name) -> const nlohmann::json& {
    if (!j.contains(name)) Fail(where, ": missing field '", name, "'");
    return j.at(name);
  };
  auto str = [&](const char* name) {
    const auto& v = field(name);
    if (!v.is_string()) Fail(where, ": field '", name, "' must be a string");
    return v.get<std::string>();
  };
  TaskRecord r;
  r.task = str("task");
  r.context = str("context");
  r.question = str("question");
  r.answer_prefix = str("answer_prefix");
  const auto& answers = field("answers");
  if (!answers.is_array() || answers.empty()) Fail(where, ": field 'answers' must be a non-empty array of strings");
  for (const auto& a : answers) {
    if (!a.is_string()) Fail(where, ": field 'answers' must hold strings");
    // string_match_all finds "" in every prediction: such a record would score any output 1.
    if (a.get_ref<const std::string&>().empty()) {
      Fail(where, ": field 'answers' holds an empty string (it would match every prediction)");
    }
    r.answers.push_back(a.get<std::string>());
  }
  const auto& mnt = field("max_new_tokens");
  if (!mnt.is_number_integer() || mnt.get<int>() <= 0 || mnt.get<int>() > 4096) {
    Fail(where, ": field 'max_new_tokens' must be an integer in [1, 4096]");
  }
  r.max_new_tokens = mnt.get<int>();
  if (j.contains("length")) {
    if (!j["length"].is_number_integer()) Fail(where, ": field 'length' must be an integer");
    r.length = j["length"].get<int>();
  }
  if (j.contains("depth")) {
    if (!j["depth"].is_number()) Fail(where, ": field 'depth' must be a number");
    r.depth = j["depth"].get<double>();
  }
  if (j.contains("seed")) {
    if (!j["seed"].is_number_unsigned() && !j["seed"].is_number_integer()) Fail(where, ": field 'seed' must be an integer");
    r.seed = j["seed"].get<uint64_t>();
  }
  return r;
}

std::vector<TaskRecord> ReadTaskRecords(const std::string& path) {
  std::ifstream in(path);
  if (!in) Fail(path, ": cannot open");
  std::vector<TaskRecord> out;
  std::string line;
  for (int n = 1; std::getline(in, line); ++n) {
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(line);
    } catch (const nlohmann::json::exception& e) {
      Fail(path, ":", n, ": not JSON (", e.what(), ")");
    }
    out.push_back(TaskRecordFromJson(j, path + ":" + std::to_string(n)));
  }
  if (out.empty()) Fail(path, ": no task records");
  return out;
}

}  // namespace chunkllm

#include "tasks/task_record.h"

#include <cstdint>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/file_util.h"

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
  // Integers are read as JSON stores them and range-checked before narrowing: 4294967297
  // must not pass as 1, nor -1 as a seed of 2^64 - 1.
  auto integer = [&](const char* name, int64_t lo, int64_t hi) {
    const auto& v = field(name);
    const bool in_range = v.is_number_unsigned() ? v.get<uint64_t>() <= uint64_t(hi) &&
                                                       (lo <= 0 || v.get<uint64_t>() >= uint64_t(lo))
                          : v.is_number_integer() ? v.get<int64_t>() >= lo && v.get<int64_t>() <= hi
                                                  : false;
    if (!v.is_number_integer() || !in_range) {
      Fail(where, ": field '", name, "' must be an integer in [", lo, ", ", hi, "], got ", v.dump().substr(0, 40));
    }
    return v.is_number_unsigned() ? int64_t(v.get<uint64_t>()) : v.get<int64_t>();
  };
  r.max_new_tokens = int(integer("max_new_tokens", 1, 4096));
  if (j.contains("length")) r.length = int(integer("length", 0, INT32_MAX));
  if (j.contains("depth")) {
    const auto& d = j["depth"];
    if (!d.is_number() || !(d.get<double>() >= 0.0 && d.get<double>() <= 1.0)) {
      Fail(where, ": field 'depth' must be a number in [0, 1], got ", d.dump().substr(0, 40));
    }
    r.depth = d.get<double>();
  }
  if (j.contains("seed")) {
    const auto& v = j["seed"];
    if (!v.is_number_unsigned() && !(v.is_number_integer() && v.get<int64_t>() >= 0)) {
      Fail(where, ": field 'seed' must be an integer in [0, 2^64), got ", v.dump().substr(0, 40));
    }
    r.seed = v.get<uint64_t>();
  }
  return r;
}

std::vector<TaskRecord> ParseTaskRecords(const std::string& text, const std::string& where) {
  std::vector<TaskRecord> out;
  size_t begin = 0;
  for (int n = 1; begin < text.size(); ++n) {
    size_t end = text.find('\n', begin);
    if (end == std::string::npos) end = text.size();
    const std::string line = text.substr(begin, end - begin);
    begin = end + 1;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(line);
    } catch (const nlohmann::json::exception& e) {
      Fail(where, ":", n, ": not JSON (", e.what(), ")");
    }
    out.push_back(TaskRecordFromJson(j, where + ":" + std::to_string(n)));
  }
  if (out.empty()) Fail(where, ": no task records");
  return out;
}

std::vector<TaskRecord> ReadTaskRecords(const std::string& path) { return ParseTaskRecords(ReadTextFile(path), path); }

}  // namespace chunkllm

// The adapter training record: history <-> JSON (for checkpoints and the report) and the
// report folder: report.json plus SVG curves (losses, validation recall per layer, boundary F1).
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "train/adapter_trainer.h"

namespace chunkllm {

nlohmann::json ToJson(const AdapterValidation& v);
nlohmann::json ToJson(const AdapterTrainResult& r);
AdapterTrainResult AdapterHistoryFromJson(const nlohmann::json& j);

// Writes dir/report.json, dir/loss.svg, dir/recall.svg (each atomically).
void WriteAdapterReport(const std::string& dir, const AdapterTrainResult& r, const nlohmann::json& training, int topk);

}  // namespace chunkllm

// Training checkpoints for exact resume: a torch archive with the named parameters, the
// optimiser state (AdamW moments, step counts) and a JSON "meta" record. Shared by backbone
// pretraining and adapter training.
//
// meta holds {"identity": ..., ...}: everything that must match for a resume to continue the
// same run (shapes, schedule, seed, data). A checkpoint made with another identity is refused.
#pragma once

#include <string>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

namespace chunkllm {

// Written to a temp name and renamed: a kill mid-write leaves the previous checkpoint intact.
void SaveTorchCheckpoint(const std::string& path, const torch::OrderedDict<std::string, torch::Tensor>& params,
                         torch::optim::Optimizer& optimizer, const nlohmann::json& meta);

// Restores params and optimizer in place; returns meta. Throws Error if the file is not a
// checkpoint, lacks a tensor, or meta["identity"] differs from identity (both are shown).
nlohmann::json LoadTorchCheckpoint(const std::string& path, torch::OrderedDict<std::string, torch::Tensor> params,
                                   torch::optim::Optimizer& optimizer, const nlohmann::json& identity);

}  // namespace chunkllm

// Editing a training checkpoint in the tests, to see that a resume really continues from it:
// a resume that ignored the checkpoint and started over would give back the uninterrupted run
// just as exactly as a right one, but not the edited weights' or history's consequences.
#pragma once

#include <functional>
#include <string>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

namespace chunkllm::test {

// Loads the checkpoint at path into params and optimizer (built as the trainer builds them, so
// that the optimiser state fits), lets edit change the weights and the metadata (the trainers'
// "history" and "next_step"), and writes it back with SaveTorchCheckpoint, as the trainers do.
void EditCheckpoint(const std::string& path, const torch::OrderedDict<std::string, torch::Tensor>& params,
                    torch::optim::Optimizer& optimizer,
                    const std::function<void(torch::OrderedDict<std::string, torch::Tensor>& params, nlohmann::json& meta)>& edit);

}  // namespace chunkllm::test

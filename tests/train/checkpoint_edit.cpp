#include "train/checkpoint_edit.h"

#include "trainkit/torch_checkpoint.h"

namespace chunkllm::test {

void EditCheckpoint(const std::string& path, const torch::OrderedDict<std::string, torch::Tensor>& params,
                    torch::optim::Optimizer& optimizer,
                    const std::function<void(torch::OrderedDict<std::string, torch::Tensor>& params, nlohmann::json& meta)>& edit) {
  // The identity LoadTorchCheckpoint checks is the checkpoint's own (the trainers' is internal).
  torch::serialize::InputArchive archive;
  archive.load_from(path);
  c10::IValue meta_value;
  archive.read("meta", meta_value);
  const nlohmann::json identity = nlohmann::json::parse(meta_value.toStringRef()).at("identity");
  torch::OrderedDict<std::string, torch::Tensor> p = params;
  nlohmann::json meta = LoadTorchCheckpoint(path, p, optimizer, identity);
  {
    torch::NoGradGuard ng;
    edit(p, meta);
  }
  SaveTorchCheckpoint(path, p, optimizer, meta);
}

}  // namespace chunkllm::test

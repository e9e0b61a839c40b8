#include "trainkit/torch_checkpoint.h"

#include "core/error.h"
#include "core/file_util.h"

namespace chunkllm {

void SaveTorchCheckpoint(const std::string& path, const torch::OrderedDict<std::string, torch::Tensor>& params,
                         torch::optim::Optimizer& optimizer, const nlohmann::json& meta) {
  torch::serialize::OutputArchive archive;
  for (const auto& p : params) archive.write("model." + p.key(), p.value());
  torch::serialize::OutputArchive opt_archive;
  optimizer.save(opt_archive);
  archive.write("optimizer", opt_archive);
  archive.write("meta", c10::IValue(meta.dump()));
  WriteFileAtomically(path, [&](const std::string& tmp) {
    try {
      archive.save_to(tmp);
    } catch (const c10::Error& e) {  // its what() carries a C++ stack trace: keep the first line
      const std::string what = e.what_without_backtrace();
      Fail(path, ": cannot write the checkpoint: ", what.substr(0, what.find('\n')));
    }
  });
}

nlohmann::json LoadTorchCheckpoint(const std::string& path, torch::OrderedDict<std::string, torch::Tensor> params,
                                   torch::optim::Optimizer& optimizer, const nlohmann::json& identity) {
  torch::serialize::InputArchive archive;
  try {
    archive.load_from(path);
  } catch (const std::exception& e) {
    Fail(path, ": not a readable checkpoint (", std::string(e.what()).substr(0, 200), ")");
  }
  c10::IValue meta_value;
  if (!archive.try_read("meta", meta_value) || !meta_value.isString()) Fail(path, ": checkpoint has no metadata");
  nlohmann::json meta;
  try {
    meta = nlohmann::json::parse(meta_value.toStringRef());
  } catch (const std::exception& e) {
    Fail(path, ": checkpoint metadata is not JSON (", e.what(), ")");
  }
  if (!meta.contains("identity") || meta.at("identity") != identity) {
    Fail(path, ": checkpoint was made with other options; it has ", meta.value("identity", nlohmann::json()).dump(),
         ", this run has ", identity.dump());
  }
  torch::NoGradGuard ng;
  for (auto& p : params) {
    torch::Tensor t;
    if (!archive.try_read("model." + p.key(), t)) Fail(path, ": checkpoint lacks tensor ", p.key());
    if (!t.sizes().equals(p.value().sizes())) Fail(path, ": tensor ", p.key(), " has another shape");
    p.value().copy_(t);
  }
  try {
    torch::serialize::InputArchive opt_archive;
    archive.read("optimizer", opt_archive);
    optimizer.load(opt_archive);
  } catch (const std::exception& e) {
    Fail(path, ": checkpoint optimiser state unreadable (", std::string(e.what()).substr(0, 200), ")");
  }
  return meta;
}

}  // namespace chunkllm

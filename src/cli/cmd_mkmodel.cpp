#include "cli/commands.h"
#include "model/ggml_type_name.h"
#include "model/random_model.h"

namespace chunkllm::cli {

void RegisterMkModel(CLI::App& app) {
  auto s = std::make_shared<RandomModelSpec>();
  auto arch = std::make_shared<std::string>("llama");
  auto type = std::make_shared<std::string>("f16");
  auto shape = std::make_shared<std::string>();
  auto out = std::make_shared<std::string>();
  CLI::App* c = app.add_subcommand("mkmodel", "write a random-weight model with a real tokenizer");
  c->add_option("--arch", *arch, "llama, qwen2 or qwen3")->check(CLI::IsMember({"llama", "qwen2", "qwen3"}));
  c->add_option("--vocab", s->vocab_path, "vocab-only GGUF to take the tokenizer from")->required()->check(CLI::ExistingFile);
  c->add_option("--shape", *shape, "named shape: qwen2.5-0.5b or demo (shape flags after it override)");
  c->add_option("--n-embd", s->n_embd, "model width D")->capture_default_str();
  c->add_option("--n-layer", s->n_layer, "layers")->capture_default_str();
  c->add_option("--n-head", s->n_head, "query heads")->capture_default_str();
  c->add_option("--n-head-kv", s->n_head_kv, "KV heads")->capture_default_str();
  c->add_option("--head-dim", s->head_dim, "head dim (0: n-embd / n-head)")->capture_default_str();
  c->add_option("--n-ff", s->n_ff, "FFN width (0: 8/3 n-embd rounded to 64)")->capture_default_str();
  c->add_option("--ctx-train", s->n_ctx_train, "context length recorded in the file")->capture_default_str();
  c->add_option("--rope-base", s->rope_freq_base, "RoPE frequency base")->capture_default_str();
  c->add_option("--rope-scaling", s->rope_scaling, "none, linear or yarn")
      ->check(CLI::IsMember({"none", "linear", "yarn"}))->capture_default_str();
  c->add_option("--rope-scale", s->rope_scaling_factor, "RoPE scaling factor")->capture_default_str();
  c->add_flag("--tied", s->tied_output, "tie the output matrix to the token embeddings");
  c->add_option("--type", *type, "weight type of the matrices (f32, f16, bf16, q8_0, q4_0, q4_K, ...)")->capture_default_str();
  c->add_option("--init-std", s->init_std, "std of the random matrices")->capture_default_str();
  c->add_option("--seed", s->seed, "random seed")->check(CLI::NonNegativeNumber)->capture_default_str();
  c->add_option("-o,--output", *out, "output GGUF file")->required();
  c->callback([=] {
    RandomModelSpec spec = *s;
    if (!shape->empty()) {
      // A preset sets the shape; explicit shape flags given on the command line win.
      RandomModelSpec preset = spec;
      ApplyShapePreset(*shape, preset);
      auto given = [&](const char* flag) { return c->count(flag) > 0; };
      if (!given("--n-embd")) spec.n_embd = preset.n_embd;
      if (!given("--n-layer")) spec.n_layer = preset.n_layer;
      if (!given("--n-head")) spec.n_head = preset.n_head;
      if (!given("--n-head-kv")) spec.n_head_kv = preset.n_head_kv;
      if (!given("--head-dim")) spec.head_dim = preset.head_dim;
      if (!given("--n-ff")) spec.n_ff = preset.n_ff;
      if (!given("--ctx-train")) spec.n_ctx_train = preset.n_ctx_train;
      if (!given("--rope-base")) spec.rope_freq_base = preset.rope_freq_base;
      if (!given("--arch")) spec.arch = preset.arch;
      spec.tied_output = spec.tied_output || preset.tied_output;
    }
    if (c->count("--arch")) spec.arch = ArchFromName(*arch, "--arch");
    spec.weight_type = GgmlTypeFromName(*type, "--type");
    WriteRandomModel(spec, *out);
  });
}

}  // namespace chunkllm::cli

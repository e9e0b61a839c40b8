#include "cli/commands.h"
#include "pretrain/pretrain.h"

namespace chunkllm::cli {

void RegisterPretrain(CLI::App& app) {
  auto o = std::make_shared<PretrainOptions>();
  auto schedule = std::make_shared<std::string>("512x8:0.6,2048x2:0.25,4096x1:0.15");
  auto no_bf16 = std::make_shared<bool>(false);
  o->data.train_paths = {"data/corpus/train"};
  o->data.val_paths = {"data/corpus/validation"};
  CLI::App* c = app.add_subcommand("pretrain", "train a Llama-architecture backbone from scratch (libtorch, bf16)");
  c->add_option("--vocab", o->vocab_path, "vocab GGUF (tokenizer of the new model)")->required()->check(CLI::ExistingFile);
  c->add_option("--data", o->data.train_paths, "training .txt files or directories")->capture_default_str();
  c->add_option("--val", o->data.val_paths, "validation .txt files or directories")->capture_default_str();
  c->add_option("-o,--output", o->output_path, "output GGUF")->required();
  c->add_option("--checkpoint", o->checkpoint_path, "checkpoint file (default: OUTPUT.ckpt)");
  c->add_flag("--resume", o->resume, "continue from the checkpoint");
  c->add_option("--init-from", o->init_from, "warm start from this GGUF (same shape) instead of random weights")
      ->check(CLI::ExistingFile);
  c->add_option("--tokens", o->total_tokens, "token budget")->check(kPositive)->capture_default_str();
  c->add_option("--schedule", *schedule, "phases SEQxBATCH:SHARE,...")->capture_default_str();
  c->add_option("--ubatch", o->ubatch, "rows per forward/backward (micro-batch; 0: the whole batch)")
      ->check(CLI::NonNegativeNumber)->capture_default_str();
  c->add_option("--lr", o->lr, "peak learning rate")->capture_default_str();
  c->add_option("--min-lr", o->min_lr, "final learning rate of the cosine")->capture_default_str();
  c->add_option("--warmup", o->warmup_steps, "warm-up steps")->capture_default_str();
  c->add_option("--weight-decay", o->weight_decay, "AdamW weight decay")->capture_default_str();
  c->add_option("--clip", o->grad_clip, "gradient-norm clip")->capture_default_str();
  c->add_option("--synthetic", o->data.synthetic_share, "share of synthetic retrieval documents")->capture_default_str();
  c->add_option("--synthetic-min-len", o->data.synthetic_min_lengths,
                "pack synthetic rows with documents of [N, T] tokens (0: one per row); N,M,...: each row draws one")
      ->delimiter(',')->check(CLI::NonNegativeNumber)->capture_default_str();
  c->add_option("--synthetic-depth-power", o->data.synthetic_depth_power,
                "needle depth of synthetic documents = u^P, u uniform (1: uniform; >1: more needles far from the question)")
      ->check(CLI::PositiveNumber)->capture_default_str();
  auto tasks = std::make_shared<std::string>();
  c->add_option("--synthetic-tasks", *tasks,
                "synthetic tasks and integer weights NAME[:W],... (default: passkey and the niah_* and vt tasks, "
                "weight 1 each)");
  c->add_option("--answer-weight", o->data.answer_weight,
                "loss weight of the answer tokens of synthetic retrieval documents (others weigh 1)")
      ->check(CLI::NonNegativeNumber)->capture_default_str();
  c->add_option("--copy-items", o->data.copy_items, "what copy lists hold: words (with numbers) or tokens (random pieces)")
      ->capture_default_str();
  c->add_option("--copy-vocab", o->data.copy_vocab, "with --copy-items tokens: draw from the first N pieces (0: all)")
      ->capture_default_str();
  c->add_option("--copy-share", o->data.copy_share, "share of synthetic documents that are copy lists")
      ->capture_default_str();
  c->add_option("--copy-probe", o->copy_probe_docs, "copy probe documents (random pieces) at each validation (0: off)")
      ->check(CLI::NonNegativeNumber)->capture_default_str();
  c->add_option("--probe", o->probe_docs, "retrieval probe documents per task at each validation (0: off)")
      ->check(CLI::NonNegativeNumber)->capture_default_str();
  c->add_option("--seed", o->seed, "seed (init and data order)")->capture_default_str();
  c->add_option("-t,--threads", o->n_threads, "threads")->check(kPositive)->capture_default_str();
  c->add_option("--checkpoint-minutes", o->checkpoint_minutes, "minutes between checkpoints")->capture_default_str();
  c->add_option("--val-every", o->val_every, "steps between validations")->capture_default_str();
  c->add_option("--stop-after", o->stop_after_steps, "stop after this many steps (with a checkpoint)");
  c->add_flag("--export-checkpoint", o->export_checkpoint,
              "write OUTPUT (GGUF, history, plot) from the checkpoint as it stands, then stop");
  c->add_flag("--no-bf16", *no_bf16, "train in f32 (slower)");
  auto plot_only = std::make_shared<bool>(false);
  c->add_flag("--plot-only", *plot_only, "only redraw OUTPUT.loss.svg from OUTPUT.train.json");
  c->add_option("--n-embd", o->model.shape.n_embd, "width")->capture_default_str();
  c->add_option("--n-layer", o->model.shape.n_layer, "layers")->capture_default_str();
  c->add_option("--n-head", o->model.shape.n_head, "query heads")->capture_default_str();
  c->add_option("--n-head-kv", o->model.shape.n_head_kv, "KV heads")->capture_default_str();
  c->add_option("--head-dim", o->model.shape.head_dim, "head dim")->capture_default_str();
  c->add_option("--n-ff", o->model.shape.n_ff, "FFN width")->capture_default_str();
  c->add_option("--ctx-train", o->model.shape.n_ctx_train, "context length recorded in the GGUF")->capture_default_str();
  c->callback([o, schedule, no_bf16, plot_only, tasks] {
    if (*plot_only) {
      WritePretrainLossPlot(o->output_path + ".train.json", o->output_path + ".loss.svg");
      return;
    }
    o->phases = ParsePhases(*schedule);
    if (!tasks->empty()) ParseSyntheticTasks(*tasks, o->data);
    o->bf16 = !*no_bf16;
    RunPretrain(*o);
  });
}

}  // namespace chunkllm::cli

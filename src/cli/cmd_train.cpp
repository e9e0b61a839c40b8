#include "cli/commands.h"
#include "train/adapter_trainer.h"

namespace chunkllm::cli {

void RegisterTrain(CLI::App& app) {
  auto o = std::make_shared<AdapterTrainOptions>();
  o->data_paths = {"data/corpus/train"};
  o->val_paths = {"data/corpus/validation"};
  CLI::App* c = app.add_subcommand("train", "train ChunkLLM adapters (Q/K adapters + Chunk Adapter) on a frozen model");
  c->add_option("-m,--model", o->model_path, "backbone GGUF (frozen)")->required()->check(CLI::ExistingFile);
  c->add_option("--data", o->data_paths, "training .txt files or directories")->capture_default_str();
  c->add_option("--val", o->val_paths, "held-out .txt files or directories")->capture_default_str();
  c->add_option("-o,--output", o->output_path, "output adapters GGUF")->required();
  c->add_option("--report", o->report_dir, "report folder (default: OUTPUT.report)");
  c->add_option("--checkpoint", o->checkpoint_path, "checkpoint file (default: OUTPUT.ckpt)");
  c->add_flag("--resume", o->resume, "continue from the checkpoint");
  c->add_option("--seq", o->seq, "tokens per training window")->check(kPositive)->capture_default_str();
  c->add_option("--steps", o->steps, "optimiser steps (one window each)")->check(kPositive)->capture_default_str();
  c->add_option("--lr", o->lr, "peak learning rate")->capture_default_str();
  c->add_option("--min-lr", o->min_lr, "final learning rate of the cosine")->capture_default_str();
  c->add_option("--warmup", o->warmup_steps, "warm-up steps")->capture_default_str();
  c->add_option("--weight-decay", o->weight_decay, "AdamW weight decay")->capture_default_str();
  c->add_option("--rank", o->hp.rank, "adapter output width r")->check(kPositive)->capture_default_str();
  c->add_option("--d-adapter", o->hp.d_adapter, "adapter hidden width Da (0: n_embd/4)")->capture_default_str();
  c->add_option("--chunk-hidden", o->hp.chunk_hidden, "Chunk Adapter hidden width (0: linear)")->capture_default_str();
  c->add_option("--chunk-key", o->hp.chunk_key, "chunk key: boundary (the paper's: the boundary token's feature) or mean (ours: the mean of the chunk's tokens' features)")->capture_default_str();
  c->add_option("--distance-buckets", o->hp.distance_buckets,
                "buckets of the learned chunk-distance score bias per layer (0: position-free, as the paper)")
      ->check(CLI::NonNegativeNumber)->capture_default_str();
  c->add_option("--boundary-delay", o->hp.boundary_delay,
                "tokens of lookahead of the Chunk Adapter: token i's boundary from h_1 of token i + N (0: the paper's)")
      ->capture_default_str();
  c->add_option("--boundary-inputs", o->hp.boundary_inputs,
                "tokens whose h_1 the Chunk Adapter reads, ending at token i + delay (1: the paper's)")
      ->capture_default_str();
  c->add_option("--query-target", o->hp.query_target,
                "query a chunk score is trained for: token (each token's own, the paper's) or served (the query of "
                "the selection that serves the token under ICAC)")
      ->capture_default_str();
  c->add_flag("--length-bias", o->hp.length_bias,
              "add a learned per-layer weight times log(chunk length) to the chunk score (ours; off: the paper's)");
  c->add_option("--score-groups", o->hp.score_groups,
                "score chunks with a mixture of N softmaxes over groups of the adapter features (ours; 1: the "
                "paper's one softmax); N divides --rank")
      ->check(kPositive)->capture_default_str();
  c->add_flag("--query-distance", o->hp.query_distance,
              "add q . E[distance bucket] to the chunk score, a learned per-layer distance embedding E, so the "
              "preferred distance depends on the query (ours; needs --distance-buckets; off: the paper's)");
  c->add_flag("--query-features", o->hp.query_features,
              "add query-dependent log(chunk length) and log(token distance) terms to the chunk score (ours; "
              "off: the paper's)");
  c->add_option("--adapter-rope-dims", o->hp.rope_dims,
                "rotate this many of the adapter features by the token's position, as RoPE does (ours; even, <= "
                "--rank; 0: position-free, the paper's)")
      ->capture_default_str();
  c->add_option("--adapter-rope-base", o->hp.rope_base, "frequency base of --adapter-rope-dims")->capture_default_str();
  c->add_option("--max-chunk", o->hp.max_chunk, "forced boundary after this many tokens")->capture_default_str();
  c->add_option("--alpha", o->hp.alpha, "boundary threshold on the Chunk Adapter's sigmoid")->capture_default_str();
  c->add_option("--pos-weight", o->pos_weight, "BCE weight of boundary tokens")->capture_default_str();
  c->add_option("--bce-weight", o->bce_weight, "weight of the Chunk Adapter loss")->capture_default_str();
  c->add_option("--topk", o->topk, "k of the validation recall (and of --topk-loss-weight's set)")
      ->check(kPositive)->capture_default_str();
  c->add_option("--teacher-temperature", o->teacher_temperature,
                "distil against teacher^(1/T), renormalised: < 1 sharpens it (ours; 1: the paper's)")
      ->capture_default_str();
  c->add_option("--topk-loss-weight", o->topk_loss_weight,
                "add this weight times -log(student mass on the teacher's top-k chunks) to the KL (ours; 0: off)")
      ->capture_default_str();
  c->add_option("--local", o->local, "latest chunks inference always keeps: no candidates in training")
      ->capture_default_str();
  c->add_option("--sink", o->sink, "first positions inference always keeps: in no chunk's teacher mass")
      ->capture_default_str();
  c->add_option("--val-every", o->val_every, "steps between validations")->capture_default_str();
  c->add_option("--val-windows", o->val_windows, "held-out windows")->check(kPositive)->capture_default_str();
  c->add_option("--seed", o->seed, "seed (init and data order)")->check(CLI::NonNegativeNumber)->capture_default_str();
  c->add_option("-t,--threads", o->n_threads, "threads")->check(kPositive)->capture_default_str();
  c->add_option("--checkpoint-minutes", o->checkpoint_minutes, "minutes between checkpoints")->capture_default_str();
  c->add_option("--stop-after", o->stop_after_steps, "stop after this many steps (with a checkpoint)");
  c->callback([o] { RunAdapterTraining(*o); });
}

}  // namespace chunkllm::cli

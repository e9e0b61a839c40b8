// Backbone pretraining: the validation loss falls below the text's unigram cross-entropy, a
// resumed run repeats the uninterrupted one exactly and continues from the checkpoint (its
// steps not run again, its weights used), an unfinished checkpoint can be exported, bad data is
// refused, autograd through TorchLlama agrees with finite differences, and the exported GGUF
// computes the same logits in our engine as TorchLlama does in torch.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <functional>
#include <map>

#include "core/error.h"
#include "core/file_util.h"
#include "model/session.h"
#include "test_util.h"
#include "text/tokenizer.h"
#include "train/checkpoint_edit.h"
#include "train/gradient_check.h"
#include "pretrain/pretrain.h"
#include "pretrain/pretrain_data.h"

namespace chunkllm {
namespace {

const char* kText =
    "The old lighthouse keeper climbed the stairs every evening at dusk. He lit the great lamp and "
    "watched the ships pass along the rocky coast. In the morning he wrote the names of the ships in a "
    "small book. The book was full of names, and the keeper knew every one of them by heart.\n\n";

PretrainOptions TinyOptions(const test::TempDir& dir) {
  std::string text;
  for (int i = 0; i < 20; ++i) text += kText;
  WriteTextFile(dir.File("train.txt"), text);
  WriteTextFile(dir.File("val.txt"), kText);
  PretrainOptions o;
  o.vocab_path = test::VocabPath("llama-spm");
  o.output_path = dir.File("tiny.gguf");
  ModelShape& m = o.model.shape;
  m.n_embd = 64, m.n_layer = 2, m.n_head = 2, m.n_head_kv = 1, m.head_dim = 32, m.n_ff = 128, m.n_ctx_train = 256;
  o.data.train_paths = {dir.File("train.txt")};
  o.data.val_paths = {dir.File("val.txt")};
  o.data.synthetic_share = 0.0;
  o.phases = {{64, 4, 1.0}};
  o.total_tokens = 64 * 4 * 40;  // 40 steps
  o.lr = 3e-3, o.min_lr = 3e-4, o.warmup_steps = 4;
  o.val_every = 10, o.val_windows = 1;
  o.show_progress = false;
  return o;
}

// A model that knows only how often each token occurs, not its context, scores on the held-out
// text the cross-entropy of that text's tokens under the training text's unigram distribution
// (maximum likelihood, unsmoothed: every held-out token occurs in the training text, asserted,
// and smoothing would only raise the bound). The validation loss must fall below it, on the
// very tokens it scores: the model has learned from context. At random init it is ~ln(32000).
// (The validation text is one more copy of the training paragraph: what is tested is that the
// model predicts a text it has seen from its context, not that it generalises.)
TEST(Pretrain, LossFallsBelowTheTextsUnigramBound) {
  test::TempDir dir;
  PretrainOptions o = TinyOptions(dir);
  // 60 steps: after 40 the model was only just past the unigram level (3.53 against 3.72
  // nats), after 60 it is well past it (2.08).
  o.total_tokens = 64 * 4 * 60;
  const PretrainResult r = RunPretrain(o);
  ASSERT_TRUE(r.finished);
  ASSERT_EQ(r.steps.size(), 60u);
  EXPECT_GT(r.steps.front().loss, 9.0);

  auto tok = Tokenizer::Load(o.vocab_path);
  // Training rows are windows of the stream BOS text EOS: its tokens are what the model sees.
  std::map<int32_t, double> count;
  double n_train = 0;
  std::vector<int32_t> stream = {tok->bos()};
  for (int32_t id : tok->Tokenize(ReadTextFile(o.data.train_paths[0]), false)) stream.push_back(id);
  stream.push_back(tok->eos());
  for (int32_t id : stream) count[id] += 1, n_train += 1;
  // The validation windows (here one, of the first phase's 64 tokens): targets are tokens 1..T.
  const PretrainData data(*tok, o.data);
  const auto windows = data.ValidationRows(std::min(512, o.phases.front().seq), o.val_windows);
  ASSERT_EQ(windows.size(), 1u);
  double bound = 0, n_val = 0;
  for (const auto& w : windows) {
    for (size_t i = 1; i < w.size(); ++i) {
      ASSERT_TRUE(count.count(w[i])) << "held-out token " << w[i] << " never occurs in the training text";
      bound -= std::log(count[w[i]] / n_train), n_val += 1;
    }
  }
  bound /= n_val;
  ASSERT_FALSE(r.val.empty());
  EXPECT_EQ(r.val.back().first, 60);
  EXPECT_LT(r.val.back().second, bound) << "the final validation loss is not below the unigram cross-entropy";
  EXPECT_TRUE(std::filesystem::exists(o.output_path));
  EXPECT_TRUE(std::filesystem::exists(o.output_path + ".train.json"));
}

// The backbone and its optimiser as RunPretrain builds them (AdamW, matrices in a group with
// weight decay, vectors in one without), to edit a checkpoint of the run o.
void EditPretrainCheckpoint(
    const PretrainOptions& o,
    const std::function<void(torch::OrderedDict<std::string, torch::Tensor>&, nlohmann::json&)>& edit) {
  TorchLlamaConfig c = o.model;
  c.n_vocab = Tokenizer::Load(o.vocab_path)->n_vocab();
  TorchLlama model(c, o.seed);
  std::vector<torch::Tensor> decay, no_decay;
  for (const auto& p : model->named_parameters()) (p.value().dim() >= 2 ? decay : no_decay).push_back(p.value());
  std::vector<torch::optim::OptimizerParamGroup> groups;
  groups.emplace_back(decay, std::make_unique<torch::optim::AdamWOptions>(o.lr));
  groups.emplace_back(no_decay, std::make_unique<torch::optim::AdamWOptions>(o.lr));
  torch::optim::AdamW opt(groups);
  test::EditCheckpoint(o.checkpoint_path, model->named_parameters(), opt, edit);
}

// A resume continues the checkpointed run: from its step, its weights and its optimiser state.
// Three resumes from one checkpoint (step 5 of 12): as written, it repeats the uninterrupted run
// bit for bit; with the recorded losses of steps 0-4 marked (negative, as no cross-entropy is),
// the marks come back, so those steps did not run again, and the later ones still repeat the
// run; with the weights scaled by 0.9, the losses after the checkpoint move. A resume that
// ignored the checkpoint and started over would pass the first check alone; one that replayed
// the steps before the checkpoint from scratch, keeping their records, the first two.
TEST(Pretrain, ResumeReproducesTheUninterruptedRun) {
  test::TempDir a_dir, b_dir;
  PretrainOptions a = TinyOptions(a_dir);
  a.total_tokens = 64 * 4 * 12;
  const PretrainResult full = RunPretrain(a);
  ASSERT_EQ(full.steps.size(), 12u);

  PretrainOptions b = TinyOptions(b_dir);
  b.total_tokens = a.total_tokens;
  b.stop_after_steps = 5;
  const PretrainResult first = RunPretrain(b);
  ASSERT_EQ(first.steps.size(), 5u);
  EXPECT_FALSE(std::filesystem::exists(b.output_path)) << "stopped runs export nothing";
  b.stop_after_steps = -1;
  b.resume = true;
  // Copies of the checkpoint, each resumed into its own outputs.
  auto copy = [&](const std::string& name) {
    PretrainOptions c = b;
    c.output_path = b_dir.File(name + ".gguf");
    c.checkpoint_path = b_dir.File(name + ".ckpt");
    std::filesystem::copy_file(b.output_path + ".ckpt", c.checkpoint_path);
    return c;
  };
  const PretrainOptions marked = copy("marked"), scaled = copy("scaled");
  EditPretrainCheckpoint(marked, [](auto&, nlohmann::json& meta) {
    for (auto& s : meta.at("history").at("steps")) s[2] = -1.0 - s[0].get<double>();
  });
  EditPretrainCheckpoint(scaled, [](auto& params, nlohmann::json&) {
    for (auto& p : params) p.value().mul_(0.9);
  });

  const PretrainResult resumed = RunPretrain(b);
  ASSERT_EQ(resumed.steps.size(), full.steps.size());
  for (size_t i = 0; i < full.steps.size(); ++i) {
    EXPECT_EQ(resumed.steps[i].loss, full.steps[i].loss) << "step " << i;  // bit-exact
  }
  ASSERT_EQ(resumed.val.size(), full.val.size());
  for (size_t i = 0; i < full.val.size(); ++i) EXPECT_EQ(resumed.val[i].second, full.val[i].second);

  const PretrainResult from_marked = RunPretrain(marked);
  ASSERT_EQ(from_marked.steps.size(), full.steps.size());
  for (size_t i = 0; i < full.steps.size(); ++i) {
    EXPECT_EQ(from_marked.steps[i].step, int64_t(i));
    EXPECT_EQ(from_marked.steps[i].loss, i < 5 ? -1.0 - double(i) : full.steps[i].loss)
        << "step " << i << (i < 5 ? ": ran again after the checkpoint" : "");
  }

  const PretrainResult from_scaled = RunPretrain(scaled);
  ASSERT_EQ(from_scaled.steps.size(), full.steps.size());
  EXPECT_EQ(from_scaled.steps[4].loss, full.steps[4].loss) << "the history is the checkpoint's";
  EXPECT_NE(from_scaled.steps[5].loss, full.steps[5].loss) << "the resumed run did not start from the checkpoint's weights";
  ASSERT_FALSE(from_scaled.val.empty());
  EXPECT_NE(from_scaled.val.back().second, full.val.back().second);
}

TEST(Pretrain, MicroBatchesReproduceTheWholeBatch) {
  // --ubatch splits a step's rows into micro-batches whose weighted gradients sum to the whole
  // batch's. In f32 only the order of the sums differs (relative ~1e-6 for these sizes), so the
  // loss curves agree to 1e-4; an uneven split (3 + 1 rows) weighted per micro-batch instead of
  // per row would move the second step's loss by far more.
  test::TempDir a_dir, b_dir;
  PretrainOptions a = TinyOptions(a_dir);
  a.bf16 = false;
  a.total_tokens = 64 * 4 * 6;
  const PretrainResult whole = RunPretrain(a);
  PretrainOptions b = TinyOptions(b_dir);
  b.bf16 = false;
  b.total_tokens = a.total_tokens;
  b.ubatch = 3;
  const PretrainResult split = RunPretrain(b);
  ASSERT_EQ(split.steps.size(), whole.steps.size());
  for (size_t i = 0; i < whole.steps.size(); ++i) {
    EXPECT_NEAR(split.steps[i].loss, whole.steps[i].loss, 1e-4 * whole.steps[i].loss) << "step " << i;
    EXPECT_NEAR(split.steps[i].grad_norm, whole.steps[i].grad_norm, 1e-4 * whole.steps[i].grad_norm) << "step " << i;
  }
}

// The same with --answer-weight: rows of passkey documents, whose answers weigh 5, split 3 + 1.
// The micro-batches are scaled by their share of the batch's weight, not of its rows: rows
// with and without answers weigh differently, so a per-row share would move the losses.
TEST(Pretrain, MicroBatchesReproduceTheWholeBatchWithAnswerWeights) {
  auto options = [](const test::TempDir& dir, int ubatch) {
    PretrainOptions o = TinyOptions(dir);
    o.bf16 = false;
    o.phases = {{256, 4, 1.0}};
    o.total_tokens = 256 * 4 * 4;
    o.data.synthetic_share = 0.5;
    o.data.synthetic_min_lengths = {128};
    o.data.synthetic_tasks = {"passkey"};
    o.data.answer_weight = 5.0;
    o.ubatch = ubatch;
    return o;
  };
  test::TempDir a_dir, b_dir, c_dir;
  const PretrainResult whole = RunPretrain(options(a_dir, 0));
  const PretrainResult split = RunPretrain(options(b_dir, 3));
  PretrainOptions unweighted = options(c_dir, 0);
  unweighted.data.answer_weight = 1.0;
  const PretrainResult plain = RunPretrain(unweighted);
  ASSERT_EQ(split.steps.size(), whole.steps.size());
  for (size_t i = 0; i < whole.steps.size(); ++i) {
    EXPECT_NEAR(split.steps[i].loss, whole.steps[i].loss, 1e-4 * whole.steps[i].loss) << "step " << i;
    EXPECT_NEAR(split.steps[i].grad_norm, whole.steps[i].grad_norm, 1e-4 * whole.steps[i].grad_norm) << "step " << i;
  }
  // The weights reach the gradient: the first step (same weights, same rows) differs from the
  // unweighted run's by far more than the 1e-4 of rounding above (it was 1.2%). At random
  // initialisation every token's loss is near log V, so the losses themselves barely move.
  EXPECT_GT(std::abs(plain.steps[0].grad_norm - whole.steps[0].grad_norm), 1e-3 * plain.steps[0].grad_norm);
}

TEST(Pretrain, ExportsAnUnfinishedCheckpoint) {
  test::TempDir dir;
  PretrainOptions o = TinyOptions(dir);
  o.stop_after_steps = 3;
  const PretrainResult first = RunPretrain(o);
  ASSERT_FALSE(std::filesystem::exists(o.output_path));
  o.stop_after_steps = -1;
  o.export_checkpoint = true;
  const PretrainResult exported = RunPretrain(o);
  EXPECT_EQ(exported.steps.size(), 3u) << "export trains nothing";
  ASSERT_TRUE(std::filesystem::exists(o.output_path));
  auto model = Model::Load(o.output_path);  // our loader accepts it
  EXPECT_EQ(model->config().n_layer, 2);
  const std::string history = ReadTextFile(o.output_path + ".train.json");
  EXPECT_NE(history.find("\"finished\":false"), std::string::npos) << history.substr(0, 200);
  o.lr = 1e-2;  // another run's options: refused, as for --resume
  EXPECT_THROW(RunPretrain(o), Error);
}

TEST(Pretrain, ResumeRefusesAnotherConfiguration) {
  test::TempDir dir;
  PretrainOptions o = TinyOptions(dir);
  o.stop_after_steps = 2;
  RunPretrain(o);
  o.resume = true;
  o.lr = 1e-2;
  EXPECT_THROW(RunPretrain(o), Error);
  o.resume = false;  // a fresh run must not silently overwrite the checkpoint
  o.lr = 3e-3;
  EXPECT_THROW(RunPretrain(o), Error);
}

TEST(Pretrain, RefusesMissingEmptyOrBinaryData) {
  test::TempDir dir;
  PretrainOptions o = TinyOptions(dir);
  o.data.train_paths = {dir.File("no-such-dir")};
  try {
    RunPretrain(o);
    FAIL() << "missing data accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("no-such-dir"), std::string::npos) << e.what();
  }
  WriteTextFile(dir.File("empty.txt"), "");
  o.data.train_paths = {dir.File("empty.txt")};
  EXPECT_THROW(RunPretrain(o), Error);
  WriteTextFile(dir.File("binary.txt"), std::string("abc\0def", 7));
  o.data.train_paths = {dir.File("binary.txt")};
  try {
    RunPretrain(o);
    FAIL() << "binary data accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("NUL byte"), std::string::npos) << e.what();
  }
  EXPECT_THROW(ParsePhases("512x8"), Error);
  EXPECT_THROW(ParsePhases("512y8:1"), Error);
}

TEST(Pretrain, AutogradMatchesFiniteDifferencesInDouble) {
  TorchLlamaConfig c;
  c.n_vocab = 50;
  c.shape.n_embd = 16, c.shape.n_layer = 2, c.shape.n_head = 2, c.shape.n_head_kv = 1, c.shape.head_dim = 8;
  c.shape.n_ff = 24;
  c.attn_block = 4;  // 6 tokens: a full and a partial query block
  c.loss_rows = 5;   // 12 token rows: two full loss chunks and a partial one
  TorchLlama m(c, 7);
  m->to(torch::kDouble);
  const torch::Tensor x = torch::randint(c.n_vocab, {2, 6}, torch::kLong);
  const torch::Tensor y = torch::randint(c.n_vocab, {2, 6}, torch::kLong);
  auto loss_of = [&] { return m->Loss(x, y); };
  loss_of().backward();
  // Central differences, h = 1e-6: truncation O(h^2) ~ 1e-12, rounding ~ eps/h ~ 1e-10; the
  // first, middle and last element of every parameter.
  int checked = 0;
  for (auto& p : m->named_parameters()) {
    const int64_t n = p.value().numel();
    test::ExpectGradientMatches(p.value().data(), p.value().grad(), loss_of, {0, n / 2, n - 1}, {1e-6, 1e-7, 1e-5}, p.key());
    ++checked;
  }
  EXPECT_EQ(checked, 2 + 9 * c.shape.n_layer) << "embedding, output norm and 9 tensors a layer";
}

TEST(Pretrain, ExportedGgufMatchesTorchInOurEngine) {
  test::TempDir dir;
  TorchLlamaConfig c;
  c.n_vocab = 32000;
  c.shape.n_embd = 64, c.shape.n_layer = 2, c.shape.n_head = 4, c.shape.n_head_kv = 2, c.shape.head_dim = 16;
  c.shape.n_ff = 128;
  c.attn_block = 16;  // 40 tokens: blocked attention must equal the engine's dense attention
  TorchLlama m(c, 3);
  {
    // Perturb the norms away from 1 so that forgetting them in either engine shows.
    torch::NoGradGuard ng;
    for (auto& p : m->named_parameters()) {
      if (p.value().dim() == 1) p.value().add_(torch::randn_like(p.value()) * 0.1);
      else p.value().mul_(3.0);  // larger weights: peakier logits
    }
  }
  const std::string path = dir.File("export.gguf");
  m->ExportGguf(path, test::VocabPath("llama-spm"), "test");
  std::vector<int32_t> tokens;
  for (int i = 0; i < 40; ++i) tokens.push_back(int32_t((i * 7919) % 32000));
  torch::Tensor t = torch::empty({1, int64_t(tokens.size())}, torch::kLong);
  for (size_t i = 0; i < tokens.size(); ++i) t[0][int64_t(i)] = tokens[i];
  torch::Tensor ref;
  {
    torch::NoGradGuard ng;
    ref = m->forward(t).squeeze(0).contiguous();  // f32, no autocast: (T, V)
  }
  auto model = Model::Load(path);
  SessionParams sp;
  sp.n_ctx = 64;
  Session s(*model, sp);
  std::vector<float> ours;
  s.Prefill(tokens, &ours);
  // Our engine rounds weights to f16 and activations to f16 at each matmul input and at the KV
  // store: at most (9L + 3) roundings of u = 2^-11 on the way to the logits.
  const double rel = (9.0 * c.shape.n_layer + 3.0) * std::ldexp(1.0, -11);
  const float* r = ref.data_ptr<float>();
  double se = 0, ss = 0, max_err = 0, max_ref = 0;
  for (size_t i = 0; i < ours.size(); ++i) {
    const double e = double(ours[i]) - double(r[i]);
    se += e * e, ss += double(r[i]) * r[i];
    max_err = std::max(max_err, std::fabs(e)), max_ref = std::max(max_ref, std::fabs(double(r[i])));
  }
  EXPECT_LE(se / ss, rel * rel);
  EXPECT_LE(max_err, rel * max_ref);
}

}  // namespace
}  // namespace chunkllm

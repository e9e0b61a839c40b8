// Backbone pretraining: the loss falls on a fixed text, a resumed run repeats the uninterrupted
// one exactly, an unfinished checkpoint can be exported, bad data is refused, autograd through
// TorchLlama agrees with finite differences, and the exported GGUF computes the same logits in
// our engine as TorchLlama does in torch.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <set>

#include "core/error.h"
#include "core/file_util.h"
#include "model/session.h"
#include "test_util.h"
#include "text/tokenizer.h"
#include "train/gradient_check.h"
#include "pretrain/pretrain.h"

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

TEST(Pretrain, LossFallsBelowTheTextsUnigramBound) {
  test::TempDir dir;
  const PretrainOptions o = TinyOptions(dir);
  const PretrainResult r = RunPretrain(o);
  ASSERT_TRUE(r.finished);
  ASSERT_EQ(r.steps.size(), 40u);
  // A model that has learned only which tokens the text uses scores at most ln(K) for its K
  // distinct tokens; at random init it scores ~ln(32000) = 10.4. Below ln(K) it has learned
  // the text's vocabulary at least.
  auto tok = Tokenizer::Load(o.vocab_path);
  const auto ids = tok->Tokenize(kText, false);
  const std::set<int32_t> distinct(ids.begin(), ids.end());
  const double bound = std::log(double(distinct.size()));
  EXPECT_GT(r.steps.front().loss, 9.0);
  double last5 = 0;
  for (size_t i = r.steps.size() - 5; i < r.steps.size(); ++i) last5 += r.steps[i].loss / 5;
  EXPECT_LT(last5, bound) << "loss did not fall below ln(" << distinct.size() << ")";
  EXPECT_TRUE(std::filesystem::exists(o.output_path));
  EXPECT_TRUE(std::filesystem::exists(o.output_path + ".train.json"));
}

TEST(Pretrain, ResumeReproducesTheUninterruptedRun) {
  test::TempDir a_dir, b_dir;
  PretrainOptions a = TinyOptions(a_dir);
  a.total_tokens = 64 * 4 * 12;
  const PretrainResult full = RunPretrain(a);

  PretrainOptions b = TinyOptions(b_dir);
  b.total_tokens = a.total_tokens;
  b.stop_after_steps = 5;
  const PretrainResult first = RunPretrain(b);
  ASSERT_EQ(first.steps.size(), 5u);
  EXPECT_FALSE(std::filesystem::exists(b.output_path)) << "stopped runs export nothing";
  b.stop_after_steps = -1;
  b.resume = true;
  const PretrainResult resumed = RunPretrain(b);
  ASSERT_EQ(resumed.steps.size(), full.steps.size());
  for (size_t i = 0; i < full.steps.size(); ++i) {
    EXPECT_EQ(resumed.steps[i].loss, full.steps[i].loss) << "step " << i;  // bit-exact
  }
  ASSERT_EQ(resumed.val.size(), full.val.size());
  for (size_t i = 0; i < full.val.size(); ++i) EXPECT_EQ(resumed.val[i].second, full.val[i].second);
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

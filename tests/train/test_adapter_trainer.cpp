// `chunkllm train` on a tiny random-weight model: the held-out losses fall below the best
// uninformed predictors (a uniform chunk distribution; a constant boundary probability), the
// recency reference matches a naive count, evaluating the written file reproduces the
// trainer's validation, a resumed run repeats the uninterrupted one exactly and continues from
// the checkpoint (its steps not run again, its weights used), and a checkpoint of other options
// is refused.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <functional>
#include <numeric>

#include "chunk/adapter_file.h"
#include "core/error.h"
#include "core/file_util.h"
#include "model/model.h"
#include "test_util.h"
#include "text/llama_log.h"
#include "text/tokenizer.h"
#include "train/adapter_data.h"
#include "train/adapter_evaluation.h"
#include "train/adapter_losses.h"
#include "train/chunk_score.h"
#include "train/adapter_model.h"
#include "train/adapter_trainer.h"
#include "train/checkpoint_edit.h"
#include "train/teacher.h"

namespace chunkllm {
namespace {

const char* kProse[] = {
    "The harbour was quiet that morning. Fishing boats rocked against the pier, and gulls circled above the "
    "nets. Mr. Hale counted the crates twice. He had promised the captain forty, but only thirty-eight were "
    "there. Where had the other two gone? Nobody on the dock could say.\n\n",
    "In the valley the river rose after three days of rain. Farmers moved their sheep to the upper fields. "
    "The old bridge held, though water ran over its stones by evening. At dawn the mayor sent a letter to "
    "the city asking for help. It arrived two days later, soaked but readable.\n\n",
    "The library opened at nine. Students waited on the steps with coffee and notes. Inside, the reading "
    "room smelled of paper and polish. A clerk stamped the returned books one by one. By noon every table "
    "was taken, and the quiet was broken only by pages turning.\n\n"};

std::string TinyModel() {
  RandomModelSpec spec;
  spec.vocab_path = test::VocabPath("llama-spm");
  spec.n_embd = 64, spec.n_layer = 2, spec.n_head = 4, spec.n_head_kv = 2;
  spec.n_ctx_train = 512;
  spec.init_std = 0.15f;
  return test::FixtureModel("adapter-trainer-tiny", spec);
}

AdapterTrainOptions TinyOptions(const test::TempDir& dir) {
  std::filesystem::create_directories(dir.File("train"));
  std::filesystem::create_directories(dir.File("val"));
  for (int i = 0; i < 3; ++i) {
    std::string text;
    for (int k = 0; k < 6; ++k) text += kProse[(i + k) % 3];
    WriteTextFile(dir.File("train/doc" + std::to_string(i) + ".txt"), text);
  }
  WriteTextFile(dir.File("val/held.txt"), std::string(kProse[2]) + kProse[0] + kProse[1] + kProse[2]);
  AdapterTrainOptions o;
  o.model_path = TinyModel();
  o.data_paths = {dir.File("train")};
  o.val_paths = {dir.File("val")};
  o.output_path = dir.File("adapters.gguf");
  o.seq = 160;
  o.steps = 80;
  o.lr = 1e-2, o.min_lr = 1e-3, o.warmup_steps = 5;
  o.hp.rank = 16, o.hp.max_chunk = 32;
  // The whole path with the distance and length biases: train, file, eval, resume.
  o.hp.distance_buckets = 8, o.hp.length_bias = true;
  o.topk = 2;
  o.val_every = 40, o.val_windows = 2;
  o.show_progress = false;
  return o;
}

TEST(AdapterTrainer, HeldOutLossesFallBelowTheUninformedPredictors) {
  InitLlamaBackend();
  test::TempDir dir;
  const AdapterTrainOptions o = TinyOptions(dir);
  const AdapterTrainResult r = RunAdapterTraining(o);
  ASSERT_TRUE(r.finished);
  ASSERT_FALSE(r.val.empty());

  // The same held-out windows, scored by a uniform student and a constant boundary rate.
  auto model = Model::Load(o.model_path);
  auto tok = Tokenizer::Load(o.model_path);
  const AdapterCorpus held = LoadAdapterCorpus(*tok, o.val_paths);
  double uniform_kl = 0, const_bce = 0;
  // The "k most recent candidates" reference, counted naively: per layer, the share of the
  // teacher's top k among candidates [n - k, n), pooled over rows with more than k candidates.
  const int n_layer = model->config().n_layer;
  std::vector<double> recent_hits(size_t(n_layer), 0.0), best_mass(size_t(n_layer), 0.0);
  int64_t recent_rows = 0;
  for (int i = 0; i < o.val_windows; ++i) {
    std::vector<int32_t> tokens;
    std::vector<uint8_t> labels;
    held.FixedWindow(i, o.val_windows, o.seq, tokens, labels);
    ChunkPartition chunks = PartitionChunks(labels, o.hp.max_chunk);
    chunks.skip_local = o.local;  // the candidates the trainer uses
    TeacherOptions to;
    to.sink = o.sink;
    TeacherOutput t = RunTeacher(*model, tokens, chunks, to);
    std::vector<torch::Tensor> layers;
    for (auto& v : t.target) layers.push_back(torch::from_blob(v.data(), {t.T, t.C}).clone());
    const torch::Tensor target = torch::stack(layers), cand = CandidateMask(chunks);
    const torch::Tensor zeros = torch::zeros({t.n_layer, t.T, 4});
    for (int64_t t_pos = 0; t_pos < t.T; ++t_pos) {
      const int n = chunks.n_candidates(int(t_pos));
      if (n <= o.topk) continue;
      ++recent_rows;
      for (int l = 0; l < t.n_layer; ++l) {
        std::vector<int> order(size_t(n), 0);
        std::iota(order.begin(), order.end(), 0);
        const float* row = t.target[size_t(l)].data() + t_pos * t.C;
        std::sort(order.begin(), order.end(), [&](int a, int b) { return row[a] > row[b]; });
        for (int j = 0; j < o.topk; ++j) recent_hits[size_t(l)] += order[size_t(j)] >= n - o.topk ? 1.0 / o.topk : 0.0;
        for (int j = 0; j < o.topk; ++j) best_mass[size_t(l)] += row[order[size_t(j)]];
      }
    }
    uniform_kl += ChunkKl(target, ChunkLogProbs(zeros, ChunkKeys(zeros, chunks, "boundary"), cand), cand).mean().item<double>() / o.val_windows;
    // Best constant p for weighted BCE: p = w pi / (w pi + 1 - pi).
    double pi = 0;
    for (uint8_t l : labels) pi += l;
    pi /= double(labels.size());
    const double w = o.pos_weight, p = w * pi / (w * pi + 1 - pi);
    const_bce += -(w * pi * std::log(p) + (1 - pi) * std::log(1 - p)) / o.val_windows;
  }
  const AdapterValidation& v = r.val.back();
  EXPECT_LT(v.kl, 0.8 * uniform_kl) << "uniform " << uniform_kl;
  EXPECT_LT(v.bce, 0.8 * const_bce) << "constant " << const_bce;
  ASSERT_GT(recent_rows, 0);
  ASSERT_EQ(v.recency_recall.size(), size_t(n_layer));
  for (int l = 0; l < n_layer; ++l) EXPECT_NEAR(v.recency_recall[size_t(l)], recent_hits[size_t(l)] / double(recent_rows), 1e-12);
  // The teacher's own top k hold the most mass any k chunks can; the adapters' k hold no more.
  ASSERT_EQ(v.teacher_mass.size(), size_t(n_layer));
  for (int l = 0; l < n_layer; ++l) {
    EXPECT_NEAR(v.teacher_mass[size_t(l)], best_mass[size_t(l)] / double(recent_rows), 1e-6) << "layer " << l;
    EXPECT_LE(v.mass[size_t(l)], v.teacher_mass[size_t(l)] + 1e-6) << "layer " << l;
  }
  // Evaluating the written file on the same held-out windows (as `chunkllm eval` does) gives
  // back the trainer's last validation: same teacher, candidates, chunks and weights.
  AdapterEvalOptions eo;
  eo.windows = o.val_windows, eo.seq = o.seq, eo.topk = o.topk;
  eo.batch.local = o.local, eo.batch.sink = o.sink;
  const AdapterValidation e = EvaluateAdapters(*model, LoadAdapters(o.output_path), held, eo);
  for (int l = 0; l < n_layer; ++l) {
    EXPECT_EQ(e.recall[size_t(l)], v.recall[size_t(l)]) << "layer " << l;
    EXPECT_EQ(e.mass[size_t(l)], v.mass[size_t(l)]) << "layer " << l;
    EXPECT_EQ(e.recency_recall[size_t(l)], v.recency_recall[size_t(l)]) << "layer " << l;
  }
  EXPECT_EQ(e.f1, v.f1);
  EXPECT_EQ(e.kl, v.kl);
  // The file and the report are written and load back.
  const AdapterSet a = LoadAdapters(o.output_path);
  EXPECT_EQ(a.hp.rank, 16);
  EXPECT_EQ(a.hp.distance_buckets, 8);
  EXPECT_TRUE(a.hp.length_bias);
  ASSERT_EQ(a.layers[1].length_weight.size(), 1u);
  EXPECT_NE(a.layers[1].length_weight[0], 1.0f) << "the length weight was not trained from its start at 1";
  EXPECT_TRUE(std::filesystem::exists(o.output_path + ".report/report.json"));
  EXPECT_EQ(ReadTextFile(o.output_path + ".report/loss.svg").rfind("<svg", 0), 0u);
}

// The adapters and their optimiser as RunAdapterTraining builds them (one AdamW over all the
// parameters), to edit a checkpoint of the run o.
void EditAdapterCheckpoint(
    const AdapterTrainOptions& o,
    const std::function<void(torch::OrderedDict<std::string, torch::Tensor>&, nlohmann::json&)>& edit) {
  const ModelConfig c = Model::Load(o.model_path)->config();
  AdapterHyperParams hp = o.hp;
  if (hp.d_adapter <= 0) hp.d_adapter = std::max(1, c.n_embd / 4);
  AdapterModel m(c.n_layer, c.n_embd, hp, o.seed);
  torch::optim::AdamW opt(m->parameters(), torch::optim::AdamWOptions(o.lr).weight_decay(o.weight_decay));
  test::EditCheckpoint(o.checkpoint_path, m->named_parameters(), opt, edit);
}

// A resume continues the checkpointed run: from its step, its weights and its optimiser state.
// Three resumes from one checkpoint (step 3 of 6): as written, it repeats the uninterrupted run
// bit for bit; with the recorded KL of steps 0-2 marked (negative, as no KL is), the marks come
// back, so those steps did not run again, and the later ones still repeat the run; with the
// weights scaled by 0.9, the losses after the checkpoint move. A resume that ignored the
// checkpoint and started over would pass the first check alone; one that replayed the steps
// before the checkpoint from scratch, keeping their records, the first two.
TEST(AdapterTrainer, ResumeReproducesTheUninterruptedRun) {
  InitLlamaBackend();
  test::TempDir a_dir, b_dir;
  AdapterTrainOptions a = TinyOptions(a_dir), b = TinyOptions(b_dir);
  a.steps = b.steps = 6;
  a.val_every = b.val_every = 3;
  const AdapterTrainResult full = RunAdapterTraining(a);
  ASSERT_EQ(full.steps.size(), 6u);
  b.stop_after_steps = 3;
  RunAdapterTraining(b);
  b.stop_after_steps = -1;
  b.resume = true;
  // Copies of the checkpoint, each resumed into its own outputs.
  auto copy = [&](const std::string& name) {
    AdapterTrainOptions c = b;
    c.output_path = b_dir.File(name + ".gguf");
    c.checkpoint_path = b_dir.File(name + ".ckpt");
    std::filesystem::copy_file(b.output_path + ".ckpt", c.checkpoint_path);
    return c;
  };
  const AdapterTrainOptions marked = copy("marked"), scaled = copy("scaled");
  EditAdapterCheckpoint(marked, [](auto&, nlohmann::json& meta) {
    for (auto& s : meta.at("history").at("steps")) s[1] = -1.0 - s[0].get<double>();
  });
  EditAdapterCheckpoint(scaled, [](auto& params, nlohmann::json&) {
    for (auto& p : params) p.value().mul_(0.9);
  });

  const AdapterTrainResult resumed = RunAdapterTraining(b);
  ASSERT_EQ(full.steps.size(), resumed.steps.size());
  for (size_t i = 0; i < full.steps.size(); ++i) {
    EXPECT_EQ(full.steps[i].kl, resumed.steps[i].kl) << "step " << i;
    EXPECT_EQ(full.steps[i].bce, resumed.steps[i].bce) << "step " << i;
  }
  const AdapterSet x = LoadAdapters(a.output_path), y = LoadAdapters(b.output_path);
  EXPECT_EQ(x.layers[1].k_w2, y.layers[1].k_w2);
  ASSERT_EQ(x.layers[1].distance_bias.size(), 8u);
  EXPECT_EQ(x.layers[1].distance_bias, y.layers[1].distance_bias);
  ASSERT_EQ(x.layers[1].length_weight.size(), 1u);
  EXPECT_EQ(x.layers[1].length_weight, y.layers[1].length_weight);
  EXPECT_EQ(x.chunk.w1, y.chunk.w1);

  const AdapterTrainResult from_marked = RunAdapterTraining(marked);
  ASSERT_EQ(from_marked.steps.size(), full.steps.size());
  for (size_t i = 0; i < full.steps.size(); ++i) {
    EXPECT_EQ(from_marked.steps[i].step, int64_t(i));
    EXPECT_EQ(from_marked.steps[i].kl, i < 3 ? -1.0 - double(i) : full.steps[i].kl)
        << "step " << i << (i < 3 ? ": ran again after the checkpoint" : "");
    EXPECT_EQ(from_marked.steps[i].bce, full.steps[i].bce) << "step " << i;
  }

  const AdapterTrainResult from_scaled = RunAdapterTraining(scaled);
  ASSERT_EQ(from_scaled.steps.size(), full.steps.size());
  EXPECT_EQ(from_scaled.steps[2].kl, full.steps[2].kl) << "the history is the checkpoint's";
  EXPECT_NE(from_scaled.steps[3].kl, full.steps[3].kl) << "the resumed run did not start from the checkpoint's weights";
  EXPECT_NE(from_scaled.steps[3].bce, full.steps[3].bce) << "the resumed run did not start from the checkpoint's weights";
}

TEST(AdapterTrainer, RefusesACheckpointOfOtherOptions) {
  InitLlamaBackend();
  test::TempDir dir;
  AdapterTrainOptions o = TinyOptions(dir);
  o.steps = 4;
  o.stop_after_steps = 1;
  RunAdapterTraining(o);
  o.resume = true;
  o.lr = 5e-3;
  o.stop_after_steps = -1;
  try {
    RunAdapterTraining(o);
    FAIL() << "resumed with another learning rate";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("other options"), std::string::npos) << e.what();
  }
}

// Held-out evaluation text (a folder whose manifest says so) is refused before any step runs,
// and nothing is written.
TEST(AdapterTrainer, RefusesHeldOutText) {
  InitLlamaBackend();
  test::TempDir dir;
  AdapterTrainOptions o = TinyOptions(dir);
  WriteTextFile(dir.File("train/manifest.json"), R"({"purpose": "held-out haystack text; never train on it"})");
  try {
    RunAdapterTraining(o);
    FAIL() << "trained on held-out text";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("held-out evaluation text"), std::string::npos) << e.what();
  }
  EXPECT_FALSE(std::filesystem::exists(o.output_path));
}

}  // namespace
}  // namespace chunkllm

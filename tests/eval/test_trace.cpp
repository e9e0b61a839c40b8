// `chunkllm trace`: with every chunk selected the method reads every position at every layer,
// so the dense attention mass it keeps is 1, its next-token distribution is dense's (KL ~ 0)
// and both continuations agree; with one chunk selected the layers read less and keep less
// mass (worst head <= mean <= 1); the needle's token span holds the record's answer; a dense
// "method" and a record index past the file are refused.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "chunk/adapter_file.h"
#include "chunk/adapter_fixture.h"
#include "core/error.h"
#include "core/file_util.h"
#include "eval/trace.h"
#include "model/gguf_file.h"
#include "model/model.h"
#include "tasks/task_generators.h"
#include "test_util.h"
#include "text/llama_log.h"
#include "text/tokenizer.h"

namespace chunkllm {
namespace {

struct TraceFixture {
  test::TempDir dir;
  std::string model, adapters, tasks;
  TraceFixture() {
    InitLlamaBackend();
    RandomModelSpec spec;
    spec.vocab_path = test::VocabPath("llama-spm");
    spec.n_embd = 64, spec.n_layer = 2, spec.n_head = 4, spec.n_head_kv = 2, spec.n_ctx_train = 2048;
    model = test::FixtureModel("trace-tiny", spec);
    adapters = dir.File("a.gguf");
    test::WriteRandomAdapters(model, adapters, test::SmallAdapterHp(16), 3);
    auto tok = Tokenizer::Load(model);
    std::string prose;
    for (int i = 0; i < 20; ++i) prose += "The river rose after three days of rain in 1921. Farmers moved their sheep uphill. ";
    const TaskRecord r = GenerateTask({"oot_passkey", 400, 0.4, 7}, Haystack::FromTexts({prose}),
                                      [&](const std::string& s) { return int(tok->Tokenize(s, false).size()); });
    tasks = dir.File("tasks.jsonl");
    WriteTextFile(tasks, ToJson(r).dump() + "\n");
  }
  TraceOptions Options() const {
    TraceOptions o;
    o.model_path = model, o.tasks_path = tasks, o.n_predict = 6;
    o.attention.method = AttentionMethod::kChunkLlm, o.attention.adapters = adapters;
    return o;
  }
};

TEST(Trace, EveryChunkSelectedKeepsAllTheMass) {
  const TraceFixture f;
  TraceOptions o = f.Options();
  o.attention.topk = 1000;
  const TraceResult t = RunTrace(o);
  ASSERT_EQ(t.steps.size(), 6u);
  EXPECT_EQ(t.method_text, t.dense_text);
  int gathered_steps = 0;
  for (const TraceStep& s : t.steps) {
    gathered_steps += !s.method_dense;
    EXPECT_EQ(s.dense_next, s.method_next) << "pos " << s.pos;
    EXPECT_LT(s.kl, 1e-6) << "pos " << s.pos;
    ASSERT_EQ(s.layers.size(), 2u);
    for (const TraceLayer& l : s.layers) {
      EXPECT_EQ(l.read, 1.0);
      EXPECT_NEAR(l.mass, 1.0, 1e-9);  // a softmax over every position sums to 1
      EXPECT_NEAR(l.worst_head, 1.0, 1e-9);
      EXPECT_EQ(l.needle_read, 1.0);
    }
  }
  EXPECT_GE(gathered_steps, 4) << "after the dense first step the method gathers (all) positions";
}

TEST(Trace, OneChunkKeepsLessMass) {
  const TraceFixture f;
  TraceOptions o = f.Options();
  o.attention.topk = 1, o.attention.layer_topk = 0, o.attention.local = 1, o.attention.local_tokens = 0;
  o.attention.sink = 1;
  o.json_path = f.dir.File("trace.json");
  const TraceResult t = RunTrace(o);
  double least_read = 1, least_mass = 1;
  for (const TraceStep& s : t.steps) {
    for (const TraceLayer& l : s.layers) {
      EXPECT_LE(l.worst_head, l.mass + 1e-12);
      EXPECT_LE(l.mass, 1.0 + 1e-9);
      EXPECT_LE(l.needle_mass, l.needle_peak + 1e-12);
      least_read = std::min(least_read, l.read), least_mass = std::min(least_mass, l.mass);
    }
  }
  EXPECT_LT(least_read, 0.5);
  EXPECT_LT(least_mass, 0.999);
  const nlohmann::json j = nlohmann::json::parse(ReadTextFile(o.json_path));
  EXPECT_EQ(j.at("steps").size(), t.steps.size());
  EXPECT_EQ(j.at("steps")[0].at("layers").size(), 2u);
}

TEST(Trace, TheNeedleSpanHoldsTheAnswer) {
  const TraceFixture f;
  const TraceResult t = RunTrace(f.Options());
  const TaskRecord r = ReadTaskRecords(f.tasks)[0];
  auto tok = Tokenizer::Load(f.model);
  const std::vector<int32_t> prompt = tok->Tokenize(r.context + r.question + r.answer_prefix, true);
  ASSERT_GE(t.needle_begin, 0);
  ASSERT_LE(t.needle_end, int(prompt.size()));
  const std::string span = tok->Detokenize({prompt.begin() + t.needle_begin, prompt.begin() + t.needle_end});
  EXPECT_NE(span.find(r.answers[0]), std::string::npos) << "span '" << span << "', answer " << r.answers[0];
  EXPECT_LE(t.needle_end - t.needle_begin, int(r.answers[0].size()) + 3);
}

TEST(Trace, RefusesDenseAndAMissingRecord) {
  const TraceFixture f;
  TraceOptions o = f.Options();
  o.attention.method = AttentionMethod::kDense;
  EXPECT_THROW(RunTrace(o), Error);
  o = f.Options();
  o.sample = 1;  // the file holds one record
  try {
    RunTrace(o);
    ADD_FAILURE() << "accepted --sample 1";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("--sample 1"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace chunkllm

// The adapter file: a write/read round trip is exact; corrupt, foreign or mismatched files are
// refused with a message naming what is wrong; the base-model fingerprint tells models apart.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <cstring>
#include <functional>
#include <tuple>

#include "chunk/adapter_file.h"
#include "core/error.h"
#include "core/file_util.h"
#include "gguf.h"
#include "model/gguf_file.h"
#include "model/model.h"
#include "model/model_fingerprint.h"
#include "gguf_edit.h"
#include "test_util.h"
#include "text/llama_log.h"

namespace chunkllm {
namespace {

BaseModelInfo Base() {
  BaseModelInfo b;
  b.arch = "llama", b.n_layer = 2, b.n_embd = 32, b.n_head = 4, b.n_head_kv = 2, b.head_dim = 8, b.n_vocab = 100;
  b.fingerprint = "fnv1a64:0123456789abcdef";
  return b;
}

// Small hyper-parameters: Da 8, r 4, a linear Chunk Adapter (chunk_hidden 0), the paper's rest.
AdapterHyperParams SmallHp() {
  AdapterHyperParams hp;
  hp.d_adapter = 8, hp.rank = 4, hp.chunk_hidden = 0, hp.max_chunk = 40, hp.alpha = 0.4f, hp.chunk_key = "mean";
  return hp;
}

AdapterSet Sample(const AdapterHyperParams& hp = SmallHp()) {
  AdapterSet a = RandomAdapters(Base(), hp, 3);
  a.training = {{"steps", 12}, {"note", "round trip"}};
  return a;
}

void ExpectRefused(const std::string& path, const std::string& needle) {
  try {
    LoadAdapters(path);
    ADD_FAILURE() << "accepted a bad file; expected an error containing '" << needle << "'";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
  }
}

TEST(AdapterFile, RoundTripIsExact) {
  test::TempDir dir;
  using Knobs = std::tuple<int, int, int, int, const char*, bool, int, bool, bool, int>;
  for (auto [hidden, buckets, delay, inputs, target, length, groups, qdist, feats, rope] :
       {Knobs{0, 0, 0, 1, "token", false, 1, false, false, 0}, Knobs{5, 0, 1, 1, "served", true, 2, false, false, 0},
        Knobs{0, 6, 1, 2, "token", true, 4, false, false, 0}, Knobs{5, 0, 0, 3, "served", false, 1, false, false, 0},
        Knobs{0, 6, 1, 2, "token", true, 1, true, false, 0}, Knobs{0, 6, 1, 2, "token", true, 1, true, true, 2},
        Knobs{0, 0, 0, 1, "token", false, 1, false, false, 4}}) {
    AdapterHyperParams hp = SmallHp();
    hp.chunk_hidden = hidden, hp.distance_buckets = buckets, hp.boundary_delay = delay, hp.boundary_inputs = inputs;
    hp.query_target = target, hp.length_bias = length, hp.score_groups = groups, hp.query_distance = qdist;
    hp.query_features = feats, hp.rope_dims = rope, hp.rope_base = rope > 2 ? 500.0f : 10000.0f;
    const AdapterSet a = Sample(hp);
    SaveAdapters(a, dir.File("a.gguf"));
    const AdapterSet b = LoadAdapters(dir.File("a.gguf"));
    EXPECT_EQ(b.base.arch, a.base.arch);
    EXPECT_EQ(b.base.fingerprint, a.base.fingerprint);
    EXPECT_EQ(b.base.n_vocab, a.base.n_vocab);
    EXPECT_EQ(b.hp.d_adapter, a.hp.d_adapter);
    EXPECT_EQ(b.hp.chunk_hidden, hidden);
    EXPECT_EQ(b.hp.alpha, a.hp.alpha);
    EXPECT_EQ(b.hp.chunk_key, "mean");
    EXPECT_EQ(b.hp.max_chunk, 40);
    EXPECT_EQ(b.hp.distance_buckets, buckets);
    EXPECT_EQ(b.hp.boundary_delay, delay);
    EXPECT_EQ(b.hp.boundary_inputs, inputs);
    EXPECT_EQ(b.hp.query_target, target);
    EXPECT_EQ(b.hp.length_bias, length);
    EXPECT_EQ(b.hp.score_groups, groups);
    EXPECT_EQ(b.hp.query_distance, qdist);
    EXPECT_EQ(b.hp.query_features, feats);
    EXPECT_EQ(b.hp.rope_dims, rope);
    EXPECT_EQ(b.hp.rope_base, a.hp.rope_base);
    EXPECT_EQ(b.chunk.w1.size(), size_t(32 * inputs * std::max(1, hidden)));  // (Hc | 1, n D)
    EXPECT_EQ(b.training, a.training);
    ASSERT_EQ(b.layers.size(), 2u);
    for (size_t l = 0; l < 2; ++l) {
      EXPECT_EQ(b.layers[l].q_w1, a.layers[l].q_w1);
      EXPECT_EQ(b.layers[l].q_w2, a.layers[l].q_w2);
      EXPECT_EQ(b.layers[l].k_w1, a.layers[l].k_w1);
      EXPECT_EQ(b.layers[l].k_w2, a.layers[l].k_w2);
      EXPECT_EQ(b.layers[l].distance_bias, a.layers[l].distance_bias);
      EXPECT_EQ(b.layers[l].distance_bias.size(), size_t(buckets));
      EXPECT_EQ(b.layers[l].length_weight, a.layers[l].length_weight);
      EXPECT_EQ(b.layers[l].length_weight.size(), length ? 1u : 0u);
      EXPECT_EQ(b.layers[l].distance_query, a.layers[l].distance_query);
      EXPECT_EQ(b.layers[l].distance_query.size(), qdist ? size_t(buckets * 4) : 0u);  // (B, r)
      EXPECT_EQ(b.layers[l].feature_query, a.layers[l].feature_query);
      EXPECT_EQ(b.layers[l].feature_query.size(), feats ? 8u : 0u);  // (2, r)
      EXPECT_EQ(b.layers[l].distance_weight, a.layers[l].distance_weight);
      EXPECT_EQ(b.layers[l].distance_weight.size(), feats ? 1u : 0u);
    }
    EXPECT_EQ(b.chunk.w1, a.chunk.w1);
    EXPECT_EQ(b.chunk.b1, a.chunk.b1);
    EXPECT_EQ(b.chunk.w2, a.chunk.w2);
    EXPECT_EQ(b.chunk.b2, a.chunk.b2);
  }
  // No temp file left behind.
  for (const auto& e : std::filesystem::directory_iterator(dir.path())) EXPECT_EQ(e.path().filename(), "a.gguf");
}

TEST(AdapterFile, CorruptOrForeignFilesAreRefused) {
  test::TempDir dir;
  const std::string good = dir.File("good.gguf");
  SaveAdapters(Sample(), good);
  const std::string bytes = ReadTextFile(good);

  WriteTextFile(dir.File("trunc.gguf"), bytes.substr(0, bytes.size() - 100));
  ExpectRefused(dir.File("trunc.gguf"), "truncated");
  WriteTextFile(dir.File("magic.gguf"), "XXXX" + bytes.substr(4));
  ExpectRefused(dir.File("magic.gguf"), "not a GGUF file");
  ExpectRefused(dir.File("missing.gguf"), "no such file");

  // One metadata edit each: {file, edit, what the refusal must name}.
  const std::tuple<const char*, std::function<void(gguf_context*)>, const char*> edits[] = {
      {"arch.gguf", [](gguf_context* g) { gguf_set_val_str(g, "general.architecture", "llama"); },
       "not a ChunkLLM adapter file"},
      {"ver.gguf", [](gguf_context* g) { gguf_set_val_u32(g, "chunkllm.format_version", 99); }, "format version 99"},
      {"buckets.gguf", [](gguf_context* g) { gguf_remove_key(g, "chunkllm.distance_buckets"); },
       "chunkllm.distance_buckets"},
      {"bias.gguf", [](gguf_context* g) { gguf_set_val_u32(g, "chunkllm.distance_buckets", 3); },
       "has 10 tensors, expected 12"},
      {"delay.gguf", [](gguf_context* g) { gguf_set_val_u32(g, "chunkllm.boundary_delay", 2); },
       "'chunkllm.boundary_delay' must be in [0, 1], got 2"},
      {"nodelay.gguf", [](gguf_context* g) { gguf_remove_key(g, "chunkllm.boundary_delay"); },
       "chunkllm.boundary_delay"},
      {"inputs.gguf", [](gguf_context* g) { gguf_set_val_u32(g, "chunkllm.boundary_inputs", 0); },
       "'chunkllm.boundary_inputs' must be in [1, 4], got 0"},
      // its shape is for 1 input
      {"wide.gguf", [](gguf_context* g) { gguf_set_val_u32(g, "chunkllm.boundary_inputs", 2); },
       "chunk_adapter.w1"},
      {"noinputs.gguf", [](gguf_context* g) { gguf_remove_key(g, "chunkllm.boundary_inputs"); },
       "chunkllm.boundary_inputs"},
      {"target.gguf", [](gguf_context* g) { gguf_set_val_str(g, "chunkllm.query_target", "next"); },
       "'chunkllm.query_target' must be token or served, got 'next'"},
      {"notarget.gguf", [](gguf_context* g) { gguf_remove_key(g, "chunkllm.query_target"); }, "chunkllm.query_target"},
      {"length.gguf", [](gguf_context* g) { gguf_set_val_u32(g, "chunkllm.length_bias", 2); },
       "'chunkllm.length_bias' must be 0 or 1, got 2"},
      {"nolength.gguf", [](gguf_context* g) { gguf_remove_key(g, "chunkllm.length_bias"); }, "chunkllm.length_bias"},
      {"lengthw.gguf", [](gguf_context* g) { gguf_set_val_u32(g, "chunkllm.length_bias", 1); },
       "has 10 tensors, expected 12"},
      {"groups.gguf", [](gguf_context* g) { gguf_set_val_u32(g, "chunkllm.score_groups", 3); },
       "'chunkllm.score_groups' must divide the rank 4, got 3"},
      {"nogroups.gguf", [](gguf_context* g) { gguf_remove_key(g, "chunkllm.score_groups"); }, "chunkllm.score_groups"},
      {"qdist.gguf", [](gguf_context* g) { gguf_set_val_u32(g, "chunkllm.query_distance", 2); },
       "'chunkllm.query_distance' must be 0 or 1, got 2"},
      {"qdist0.gguf", [](gguf_context* g) { gguf_set_val_u32(g, "chunkllm.query_distance", 1); },
       "'chunkllm.query_distance' is 1 but 'chunkllm.distance_buckets' is 0"},
      {"noqdist.gguf", [](gguf_context* g) { gguf_remove_key(g, "chunkllm.query_distance"); },
       "chunkllm.query_distance"},
      {"key.gguf", [](gguf_context* g) { gguf_remove_key(g, "chunkllm.rank"); }, "chunkllm.rank"},
      {"type.gguf", [](gguf_context* g) { gguf_set_val_str(g, "chunkllm.d_adapter", "eight"); }, "chunkllm.d_adapter"},
      {"shape.gguf", [](gguf_context* g) { gguf_set_val_u32(g, "chunkllm.rank", 5); }, "q_adapter.w2"},
      {"json.gguf", [](gguf_context* g) { gguf_set_val_str(g, "chunkllm.training", "{oops"); }, "chunkllm.training"},
      {"qfeat.gguf", [](gguf_context* g) { gguf_set_val_u32(g, "chunkllm.query_features", 2); },
       "'chunkllm.query_features' must be 0 or 1, got 2"},
      {"qfeatw.gguf", [](gguf_context* g) { gguf_set_val_u32(g, "chunkllm.query_features", 1); },
       "has 10 tensors, expected 14"},
      {"noqfeat.gguf", [](gguf_context* g) { gguf_remove_key(g, "chunkllm.query_features"); },
       "chunkllm.query_features"},
      {"rope.gguf", [](gguf_context* g) { gguf_set_val_u32(g, "chunkllm.rope_dims", 3); },
       "'chunkllm.rope_dims' must be even and in [0, the rank 4], got 3"},
      {"ropewide.gguf", [](gguf_context* g) { gguf_set_val_u32(g, "chunkllm.rope_dims", 6); },
       "'chunkllm.rope_dims' must be even and in [0, the rank 4], got 6"},
      {"norope.gguf", [](gguf_context* g) { gguf_remove_key(g, "chunkllm.rope_dims"); }, "chunkllm.rope_dims"},
      {"ropebase.gguf", [](gguf_context* g) { gguf_set_val_f32(g, "chunkllm.rope_base", 0.5f); },
       "'chunkllm.rope_base' must be a finite number > 1, got 0.5"},
  };
  for (const auto& [file, edit, needle] : edits) {
    SCOPED_TRACE(file);
    test::RewriteGguf(good, dir.File(file), {.kv = edit});
    ExpectRefused(dir.File(file), needle);
  }

  // A NaN in a tensor: patch the float at the start of blk.1.k_adapter.w1's data.
  const GgufFile f = GgufFile::Open(good);
  const GgufTensorInfo* t = f.FindTensor("blk.1.k_adapter.w1");
  ASSERT_NE(t, nullptr);
  std::string nan_bytes = bytes;
  const float nan = NAN;
  std::memcpy(&nan_bytes[t->offset + 8], &nan, sizeof nan);
  WriteTextFile(dir.File("nan.gguf"), nan_bytes);
  ExpectRefused(dir.File("nan.gguf"), "non-finite value at element 2");
}

TEST(AdapterFile, OlderVersionsAreReadWithThePapersDefaultsForLaterKnobs) {
  test::TempDir dir;
  AdapterHyperParams hp = SmallHp();
  hp.query_target = "served", hp.score_groups = 2;
  const AdapterSet a = Sample(hp);
  SaveAdapters(a, dir.File("v9.gguf"));
  test::RewriteGguf(dir.File("v9.gguf"), dir.File("v8.gguf"), {.kv = [](gguf_context* g) {
    gguf_set_val_u32(g, "chunkllm.format_version", 8);
    gguf_remove_key(g, "chunkllm.query_features");
    gguf_remove_key(g, "chunkllm.rope_dims");
    gguf_remove_key(g, "chunkllm.rope_base");
  }});
  EXPECT_FALSE(LoadAdapters(dir.File("v8.gguf")).hp.query_features) << "version 8: the paper's score";
  EXPECT_EQ(LoadAdapters(dir.File("v8.gguf")).hp.rope_dims, 0) << "version 8: position-free features";
  test::RewriteGguf(dir.File("v8.gguf"), dir.File("v7.gguf"), {.kv = [](gguf_context* g) {
    gguf_set_val_u32(g, "chunkllm.format_version", 7);
    gguf_remove_key(g, "chunkllm.query_distance");
  }});
  EXPECT_FALSE(LoadAdapters(dir.File("v7.gguf")).hp.query_distance) << "version 7: the paper's score";
  test::RewriteGguf(dir.File("v7.gguf"), dir.File("v6.gguf"), {.kv = [](gguf_context* g) {
    gguf_set_val_u32(g, "chunkllm.format_version", 6);
    gguf_remove_key(g, "chunkllm.score_groups");
  }});
  EXPECT_EQ(LoadAdapters(dir.File("v6.gguf")).hp.score_groups, 1) << "version 6: one softmax (the paper's)";
  EXPECT_EQ(LoadAdapters(dir.File("v6.gguf")).hp.query_target, "served");
  test::RewriteGguf(dir.File("v6.gguf"), dir.File("v5.gguf"), {.kv = [](gguf_context* g) {
    gguf_set_val_u32(g, "chunkllm.format_version", 5);
    gguf_remove_key(g, "chunkllm.length_bias");
  }});
  EXPECT_FALSE(LoadAdapters(dir.File("v5.gguf")).hp.length_bias) << "version 5: the paper's score";
  EXPECT_EQ(LoadAdapters(dir.File("v5.gguf")).hp.query_target, "served");
  test::RewriteGguf(dir.File("v5.gguf"), dir.File("v4.gguf"), {.kv = [](gguf_context* g) {
    gguf_set_val_u32(g, "chunkllm.format_version", 4);
    gguf_remove_key(g, "chunkllm.query_target");
  }});
  EXPECT_EQ(LoadAdapters(dir.File("v4.gguf")).hp.query_target, "token") << "version 4: each token's own query";
  test::RewriteGguf(dir.File("v6.gguf"), dir.File("v1.gguf"), {.kv = [](gguf_context* g) {
    gguf_set_val_u32(g, "chunkllm.format_version", 1);
    gguf_remove_key(g, "chunkllm.length_bias");
    gguf_remove_key(g, "chunkllm.distance_buckets");
    gguf_remove_key(g, "chunkllm.boundary_delay");
    gguf_remove_key(g, "chunkllm.boundary_inputs");
    gguf_remove_key(g, "chunkllm.query_target");
  }});
  const AdapterSet b = LoadAdapters(dir.File("v1.gguf"));
  EXPECT_EQ(b.hp.distance_buckets, 0);
  EXPECT_EQ(b.hp.boundary_delay, 0);
  EXPECT_EQ(b.hp.boundary_inputs, 1);
  EXPECT_EQ(b.layers[1].k_w2, a.layers[1].k_w2);
  // Version 2 had the distance bias but no delay key: read as the paper's delay 0.
  hp = SmallHp();
  hp.distance_buckets = 6, hp.boundary_delay = 1;
  const AdapterSet c = Sample(hp);
  SaveAdapters(c, dir.File("c4.gguf"));
  test::RewriteGguf(dir.File("c4.gguf"), dir.File("v2.gguf"), {.kv = [](gguf_context* g) {
    gguf_set_val_u32(g, "chunkllm.format_version", 2);
    gguf_remove_key(g, "chunkllm.length_bias");
    gguf_remove_key(g, "chunkllm.boundary_delay");
    gguf_remove_key(g, "chunkllm.boundary_inputs");
  }});
  const AdapterSet d = LoadAdapters(dir.File("v2.gguf"));
  EXPECT_EQ(d.hp.distance_buckets, 6);
  EXPECT_EQ(d.hp.boundary_delay, 0);
  // Version 3 had the delay but read one token.
  test::RewriteGguf(dir.File("c4.gguf"), dir.File("v3.gguf"), {.kv = [](gguf_context* g) {
    gguf_set_val_u32(g, "chunkllm.format_version", 3);
    gguf_remove_key(g, "chunkllm.length_bias");
    gguf_remove_key(g, "chunkllm.boundary_inputs");
  }});
  const AdapterSet e = LoadAdapters(dir.File("v3.gguf"));
  EXPECT_EQ(e.hp.boundary_delay, 1);
  EXPECT_EQ(e.hp.boundary_inputs, 1);
}

std::string FixtureWith(const std::string& key, int n_embd, uint64_t seed) {
  RandomModelSpec spec;
  spec.vocab_path = test::VocabPath("llama-spm");
  spec.n_embd = n_embd, spec.n_layer = 2, spec.n_head = 4, spec.n_head_kv = 2, spec.n_ctx_train = 256;
  spec.seed = seed;
  return test::FixtureModel(key, spec);
}

TEST(AdapterFile, AdaptersOfAnotherModelAreRefused) {
  InitLlamaBackend();
  const std::string m1 = FixtureWith("fp-a", 64, 1), m2 = FixtureWith("fp-b", 64, 2), m3 = FixtureWith("fp-c", 96, 1);
  auto info = [](const std::string& p) { return BaseModelInfoOf(*Model::Load(p), GgufFile::Open(p)); };
  const AdapterSet a = RandomAdapters(info(m1), {}, 1);
  EXPECT_NO_THROW(CheckAdaptersMatchModel(a, info(m1), "a.gguf", m1));
  try {
    CheckAdaptersMatchModel(a, info(m2), "a.gguf", m2);
    ADD_FAILURE() << "same shape, other weights accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("fingerprint"), std::string::npos) << e.what();
  }
  try {
    CheckAdaptersMatchModel(a, info(m3), "a.gguf", m3);
    ADD_FAILURE() << "other shape accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("n_embd 64"), std::string::npos) << e.what();
  }
}

TEST(AdapterFile, FingerprintIsStableAndSeesOneChangedWeightByte) {
  InitLlamaBackend();
  test::TempDir dir;
  const std::string m = FixtureWith("fp-a", 64, 1);
  const std::string fp = ModelFingerprint(GgufFile::Open(m));
  EXPECT_EQ(fp, ModelFingerprint(GgufFile::Open(m)));
  EXPECT_EQ(fp.rfind("fnv1a64:", 0), 0u);
  // Flip one byte of the first tensor's data (always sampled: its first 4 KiB).
  const GgufFile f = GgufFile::Open(m);
  std::string bytes = ReadTextFile(m);
  bytes[f.tensors()[0].offset + 10] ^= 0x01;
  WriteTextFile(dir.File("m.gguf"), bytes);
  EXPECT_NE(fp, ModelFingerprint(GgufFile::Open(dir.File("m.gguf"))));
}

}  // namespace
}  // namespace chunkllm

// The corrupt-adapter suite: adapter GGUFs broken by hand from a valid one and loaded against
// a model by the real binary (`run --attn chunkllm --adapters`, and eval's adapter metrics):
// truncated at every section, wrong magic and version, missing, extra and duplicate keys and
// tensors, keys and tensors of the wrong type or shape, absurd counts and dimensions, data out
// of bounds, non-finite weights, and adapters made for another model. Each must be refused
// with a message naming the file and the key or tensor at fault, without a crash, and with no
// more memory than the intact file's run takes (tests/corrupt_files.h). The cases are
// BadInput.*, so ctest runs them again against chunkllm-asan.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <filesystem>

#include "chunk/adapter_file.h"
#include "core/file_util.h"
#include "cli/clean_failure.h"
#include "corrupt_files.h"
#include "gguf.h"
#include "model/gguf_file.h"
#include "model/model.h"
#include "test_util.h"

namespace chunkllm {
namespace {

using test::CorruptCase;
using test::CutAt;
using test::GgufEdits;
using test::GgufLayout;
using test::PutAt;
using test::Rewritten;

std::string Model() { return test::FixtureModel("corrupt-adapter", test::SmallSpec()); }

// Every kind of tensor and key the format has: a hidden Chunk Adapter layer, distance buckets,
// the length bias, query-dependent distance, log features with rotated dimensions, two
// boundary inputs. For the model (2 layers, D 64): 9 tensors per layer and 4 for the Chunk
// Adapter.
AdapterHyperParams FullHp() {
  AdapterHyperParams hp;
  hp.d_adapter = 16, hp.rank = 8, hp.max_chunk = 16, hp.chunk_hidden = 4, hp.distance_buckets = 4;
  hp.length_bias = true, hp.query_distance = true, hp.query_features = true, hp.rope_dims = 2;
  hp.boundary_inputs = 2, hp.chunk_key = "mean";
  return hp;
}

// Random adapters for `model`, written once per process under `key`.
std::string AdaptersFor(const std::string& model, const std::string& key) {
  static test::TempDir dir;
  const std::string path = dir.File(key + ".gguf");
  if (!std::filesystem::exists(path)) {
    const BaseModelInfo base = BaseModelInfoOf(*Model::Load(model), GgufFile::Open(model));
    SaveAdapters(RandomAdapters(base, FullHp(), 5), path);
  }
  return path;
}

std::string Adapters() { return AdaptersFor(Model(), "intact"); }

// The command that loads adapters against the model: a ChunkLLM run of a few tokens.
std::vector<std::string> RunWith(const std::string& adapters) {
  return {"run", "-m", Model(), "--attn", "chunkllm", "--adapters", adapters, "-p",
          "The harbour was quiet that morning. Gulls circled above the nets.", "-n", "2", "-c", "64"};
}

void ExpectRefused(const std::vector<CorruptCase>& cases) { test::ExpectCorruptFilesRefused(Adapters(), RunWith, cases); }

// A metadata edit made through ggml's writer.
CorruptCase Kv(const std::string& name, std::function<void(gguf_context*)> edit, const std::string& needle) {
  return Rewritten(name, {.kv = std::move(edit)}, needle);
}

// A u32 key set to v.
CorruptCase U32(const std::string& key, uint32_t v, const std::string& needle) {
  return Kv(key + "=" + std::to_string(v), [key, v](gguf_context* g) { gguf_set_val_u32(g, key.c_str(), v); }, needle);
}

// Overwrites the first float of tensor `name`'s data with v.
CorruptCase Weight(const std::string& name, float v, const std::string& needle) {
  return {name + "=" + std::to_string(v),
          [name, v](std::string b, const GgufLayout&) {
            const GgufFile f = GgufFile::Open(Adapters());
            PutAt<float>(b, f.FindTensor(name)->offset, v);
            return b;
          },
          needle};
}

TEST(BadInput, CorruptAdapterTruncatedAtEverySection) {
  ExpectRefused({
      CutAt("empty", [](const GgufLayout&) { return size_t(0); }, "not a GGUF file"),
      CutAt("in-magic", [](const GgufLayout&) { return size_t(3); }, "not a GGUF file"),
      CutAt("after-magic", [](const GgufLayout&) { return size_t(4); }, "corrupt GGUF"),
      CutAt("in-counts", [](const GgufLayout&) { return size_t(17); }, "corrupt GGUF"),
      CutAt("after-counts", [](const GgufLayout&) { return size_t(24); }, "corrupt GGUF"),
      CutAt("in-key", [](const GgufLayout& l) { return l.kv("chunkllm.rank").begin + 11; }, "corrupt GGUF"),
      CutAt("in-key-type", [](const GgufLayout& l) { return l.kv("chunkllm.rank").type + 1; }, "corrupt GGUF"),
      CutAt("in-u32-value", [](const GgufLayout& l) { return l.kv("chunkllm.rank").value + 2; }, "corrupt GGUF"),
      CutAt("in-fingerprint", [](const GgufLayout& l) { return l.kv("chunkllm.base.fingerprint").value + 12; }, "corrupt GGUF"),
      CutAt("in-training-record", [](const GgufLayout& l) { return l.kv("chunkllm.training").value + 10; }, "corrupt GGUF"),
      CutAt("after-metadata", [](const GgufLayout& l) { return l.kvs.back().end; }, "corrupt GGUF"),
      CutAt("in-tensor-name", [](const GgufLayout& l) { return l.tensors[5].begin + 12; }, "corrupt GGUF"),
      CutAt("in-tensor-shape", [](const GgufLayout& l) { return l.tensors[5].ne + 4; }, "corrupt GGUF"),
      CutAt("in-tensor-type", [](const GgufLayout& l) { return l.tensors[5].type + 2; }, "corrupt GGUF"),
      CutAt("in-tensor-offset", [](const GgufLayout& l) { return l.tensors.back().offset + 3; }, "corrupt GGUF"),
      CutAt("before-data", [](const GgufLayout& l) { return l.data; }, "truncated: tensor 'blk.0.q_adapter.w1'"),
      CutAt("in-first-tensor", [](const GgufLayout& l) { return l.data + 100; }, "truncated: tensor 'blk.0.q_adapter.w1'"),
      // (Inside its data: the file ends with padding to GGUF's alignment, which a cut may lose.)
      CutAt("in-last-tensor", [](const GgufLayout& l) { return l.data + l.tensors.back().data_offset + 2; },
            "truncated: tensor 'chunk_adapter.b2'"),
  });
}

TEST(BadInput, CorruptAdapterHeader) {
  ExpectRefused({
      {"magic", [](std::string b, const GgufLayout&) { return b.replace(0, 4, "GGML"); }, "magic at offset 0 is 'GGML'"},
      {"version-0", [](std::string b, const GgufLayout&) { PutAt<uint32_t>(b, 4, 0); return b; }, "version"},
      {"version-4", [](std::string b, const GgufLayout&) { PutAt<uint32_t>(b, 4, 4); return b; }, "version 4"},
      {"tensor-count", [](std::string b, const GgufLayout&) { PutAt<int64_t>(b, 8, int64_t(1) << 40); return b; }, "corrupt GGUF"},
      {"kv-count", [](std::string b, const GgufLayout&) { PutAt<int64_t>(b, 16, int64_t(1) << 40); return b; }, "corrupt GGUF"},
      // The format's own version key.
      U32("chunkllm.format_version", 10, "adapter format version 10 is not supported"),
      U32("chunkllm.format_version", 0, "adapter format version 0 is not supported"),
      Kv("not-adapters", [](gguf_context* g) { gguf_set_val_str(g, "general.architecture", "llama"); },
         "not a ChunkLLM adapter file: general.architecture is 'llama'"),
  });
}

TEST(BadInput, CorruptAdapterMetadata) {
  ExpectRefused({
      Kv("no-rank", [](gguf_context* g) { gguf_remove_key(g, "chunkllm.rank"); }, "missing metadata key 'chunkllm.rank'"),
      Kv("no-fingerprint", [](gguf_context* g) { gguf_remove_key(g, "chunkllm.base.fingerprint"); },
         "missing metadata key 'chunkllm.base.fingerprint'"),
      Kv("rank-as-string", [](gguf_context* g) { gguf_set_val_str(g, "chunkllm.rank", "8"); },
         "'chunkllm.rank' should be an integer"),
      Kv("rank-as-u64", [](gguf_context* g) { gguf_set_val_u64(g, "chunkllm.rank", uint64_t(1) << 63); },
         "'chunkllm.rank' is out of range"),
      Kv("alpha-nan", [](gguf_context* g) { gguf_set_val_f32(g, "chunkllm.alpha", NAN); },
         "'chunkllm.alpha' must be in (0, 1), got nan"),
      Kv("rope-base-inf", [](gguf_context* g) { gguf_set_val_f32(g, "chunkllm.rope_base", INFINITY); },
         "'chunkllm.rope_base' must be a finite number > 1, got inf"),
      Kv("training-not-json", [](gguf_context* g) { gguf_set_val_str(g, "chunkllm.training", "{\"steps\": 1"); },
         "'chunkllm.training' is not JSON"),
      Kv("chunk-key", [](gguf_context* g) { gguf_set_val_str(g, "chunkllm.chunk_key", "last"); },
         "'chunkllm.chunk_key' must be boundary or mean, got 'last'"),
      // Byte edits: a u32 read as f32 (same size, so the file parses), a string whose length
      // runs past the end of the file, a key twice.
      {"n-layer-as-f32", [](std::string b, const GgufLayout& l) { PutAt<uint32_t>(b, l.kv("chunkllm.base.n_layer").type, GGUF_TYPE_FLOAT32); return b; },
       "'chunkllm.base.n_layer' should be an integer"},
      {"fingerprint-without-end", [](std::string b, const GgufLayout& l) { PutAt<uint64_t>(b, l.kv("chunkllm.base.fingerprint").value, b.size()); return b; },
       "corrupt GGUF"},
      {"value-type", [](std::string b, const GgufLayout& l) { PutAt<uint32_t>(b, l.kv("chunkllm.rank").type, 77); return b; },
       "key 'chunkllm.rank' has value type 77"},
      {"duplicate-key", [](std::string b, const GgufLayout& l) {
         const GgufLayout::Kv& rank = l.kv("chunkllm.rank");
         b.insert(l.kvs[1].begin, b.substr(rank.begin, rank.end - rank.begin));
         PutAt<int64_t>(b, 16, int64_t(l.kvs.size() + 1));
         return b;
       }, "duplicate key 'chunkllm.rank'"},
  });
}

// Counts and dimensions that would size allocations: refused from the tensor table (or by
// their range) before anything is sized by them. The memory check of ExpectRefused holds them
// to the intact file's footprint.
TEST(BadInput, CorruptAdapterAbsurdCountsAndDimensions) {
  ExpectRefused({
      U32("chunkllm.base.n_layer", 1u << 24, "for 16777216 layers (metadata key 'chunkllm.base.n_layer')"),
      U32("chunkllm.base.n_layer", 0xffffffffu, "'chunkllm.base.n_layer' must be positive and sane, got 4294967295"),
      U32("chunkllm.base.n_embd", 1u << 24, "tensor 'blk.0.q_adapter.w1' has shape [64, 16], expected [16777216, 16]"),
      U32("chunkllm.d_adapter", 1u << 24, "tensor 'blk.0.q_adapter.w1' has shape [64, 16], expected [64, 16777216]"),
      U32("chunkllm.rank", 1u << 24, "tensor 'blk.0.q_adapter.w2' has shape [16, 8], expected [16, 16777216]"),
      U32("chunkllm.chunk_hidden", 1u << 24, "tensor 'chunk_adapter.w1' has shape [128, 4], expected [128, 16777216]"),
      U32("chunkllm.distance_buckets", 1u << 20, "'chunkllm.distance_buckets' must be in [0, "),
      U32("chunkllm.boundary_inputs", 1000, "'chunkllm.boundary_inputs' must be in [1, 4], got 1000"),
      U32("chunkllm.score_groups", 1u << 30, "'chunkllm.score_groups' must divide the rank 8, got 1073741824"),
      // The tensor table's own numbers: a dimension far beyond the file, a product that
      // overflows 64 bits, data past the end.
      {"huge-dimension", [](std::string b, const GgufLayout& l) { PutAt<int64_t>(b, l.tensors.back().ne, int64_t(1) << 40); return b; },
       "tensor 'chunk_adapter.b2' needs"},
      {"element-count-overflow", [](std::string b, const GgufLayout& l) {
         const GgufLayout::TensorInfo& t = l.tensor("blk.1.k_adapter.w1");
         PutAt<int64_t>(b, t.ne, int64_t(1) << 40), PutAt<int64_t>(b, t.ne + 8, int64_t(1) << 40);
         return b;
       }, "blk.1.k_adapter.w1"},
      {"data-out-of-bounds", [](std::string b, const GgufLayout& l) {
         uint64_t off;
         std::memcpy(&off, b.data() + l.tensors.back().offset, 8);
         PutAt<uint64_t>(b, l.tensors.back().offset, off + (uint64_t(1) << 40));
         return b;
       }, "has offset"},
      {"overlapping", [](std::string b, const GgufLayout& l) { PutAt<uint64_t>(b, l.tensors[3].offset, 0); return b; }, "has offset 0"},
  });
}

TEST(BadInput, CorruptAdapterTensors) {
  GgufEdits drop, extra;
  drop.tensor = [](ggml_tensor* t, ggml_context*) { return std::string(t->name) == "blk.1.k_adapter.w2" ? nullptr : t; };
  extra.tensor = [](ggml_tensor* t, ggml_context* scratch) {
    if (std::string(t->name) == "blk.1.length_weight") {
      ggml_tensor* e = ggml_dup_tensor(scratch, t);
      ggml_set_name(e, "blk.1.length_weight_extra");
      std::memcpy(e->data, t->data, ggml_nbytes(t));
      return e;  // in place of the real one, which is then missing
    }
    return t;
  };
  ExpectRefused({
      Rewritten("missing", drop, "missing tensor 'blk.1.k_adapter.w2'"),
      Rewritten("renamed", extra, "missing tensor 'blk.1.length_weight'"),
      // The key says there are no length weights, the table holds them.
      U32("chunkllm.length_bias", 0, "unexpected tensor 'blk.0.length_weight'"),
      {"duplicate", [](std::string b, const GgufLayout& l) {  // k_adapter.w1 takes q_adapter.w1's name
         const GgufLayout::TensorInfo &q = l.tensor("blk.0.q_adapter.w1"), &k = l.tensor("blk.0.k_adapter.w1");
         b.replace(k.begin + 8, q.name.size(), q.name);
         return b;
       }, "duplicate tensor name 'blk.0.q_adapter.w1'"},
      // Wrong types: an f32 read as i32 (same size: the file parses), and f16 data.
      {"as-i32", [](std::string b, const GgufLayout& l) { PutAt<int32_t>(b, l.tensor("blk.0.k_adapter.w2").type, GGML_TYPE_I32); return b; },
       "tensor 'blk.0.k_adapter.w2' should be f32 but is i32"},
      Rewritten("as-f16", test::ReplaceTensor("chunk_adapter.w1", GGML_TYPE_F16, {128, 4}),
                "tensor 'chunk_adapter.w1' should be f32 but is f16"),
      // Wrong shapes: transposed, one row short, a third dimension.
      Rewritten("transposed", test::ReplaceTensor("blk.1.q_adapter.w1", GGML_TYPE_F32, {16, 64}),
                "tensor 'blk.1.q_adapter.w1' has shape [16, 64], expected [64, 16]"),
      Rewritten("short", test::ReplaceTensor("blk.0.distance_query", GGML_TYPE_F32, {8, 3}),
                "tensor 'blk.0.distance_query' has shape [8, 3], expected [8, 4]"),
      Rewritten("third-dimension", test::ReplaceTensor("blk.0.q_adapter.w2", GGML_TYPE_F32, {16, 8, 2}),
                "tensor 'blk.0.q_adapter.w2' has shape [16, 8, 2], expected [16, 8]"),
      Rewritten("scalar-as-vector", test::ReplaceTensor("chunk_adapter.b2", GGML_TYPE_F32, {2}),
                "tensor 'chunk_adapter.b2' has shape [2], expected [1]"),
      // Non-finite weights.
      Weight("blk.1.q_adapter.w1", NAN, "tensor 'blk.1.q_adapter.w1' holds a non-finite value at element 0"),
      Weight("chunk_adapter.b1", INFINITY, "tensor 'chunk_adapter.b1' holds a non-finite value at element 0"),
      Weight("blk.0.distance_weight", -INFINITY, "tensor 'blk.0.distance_weight' holds a non-finite value"),
  });
}

// Adapters that are intact but were made for another model: other weights of the same shape
// (told apart by the fingerprint), another shape, or an edited identity.
std::string OtherWeightsAdapters() {
  RandomModelSpec spec = test::SmallSpec();
  spec.seed = 99;
  return AdaptersFor(test::FixtureModel("corrupt-adapter-weights", spec), "other-weights");
}

std::string OtherShapeAdapters() {
  RandomModelSpec spec = test::SmallSpec();
  spec.n_layer = 1;
  return AdaptersFor(test::FixtureModel("corrupt-adapter-shape", spec), "other-shape");
}

TEST(BadInput, CorruptAdapterForAnotherModel) {
  const std::string a = OtherWeightsAdapters(), b = OtherShapeAdapters();
  auto file = [](const std::string& path) {
    return [path](const std::string&, const GgufLayout&) { return ReadTextFile(path); };
  };
  ExpectRefused({
      {"other-weights", file(a), "trained for a model with weights fingerprint"},
      {"other-shape", file(b), "trained for a model with n_layer 1, but " + Model() + " has 2"},
      Kv("fingerprint", [](gguf_context* g) { gguf_set_val_str(g, "chunkllm.base.fingerprint", "fnv1a64:0000000000000000"); },
         "weights fingerprint fnv1a64:0000000000000000"),
      Kv("arch", [](gguf_context* g) { gguf_set_val_str(g, "chunkllm.base.arch", "qwen3"); },
         "trained for a model with architecture qwen3, but"),
      U32("chunkllm.base.n_vocab", 1u << 24, "n_vocab 16777216, but"),
      U32("chunkllm.base.head_dim", 32, "head_dim 32, but"),
  });
}

// eval measures the adapters' recall on held-out text (--adapter-windows) even when no ChunkLLM
// method runs: that path loads them too, and must refuse another model's adapters as well.
TEST(BadInput, CorruptAdapterInEvalsAdapterMetrics) {
  test::TempDir dir;
  std::string prose;
  for (int i = 0; i < 60; ++i) prose += "The harbour was quiet that morning. Gulls circled above the nets. ";
  std::filesystem::create_directories(dir.File("text"));
  WriteTextFile(dir.File("text/doc.txt"), prose);
  WriteTextFile(dir.File("tasks.jsonl"),
                R"({"task": "passkey", "context": "The pass key is 123. ", "question": "Key?", )"
                R"("answer_prefix": " The pass key is", "answers": ["123"], "max_new_tokens": 2})" "\n");
  for (const auto& [adapters, needle] : {std::pair{OtherShapeAdapters(), std::string("n_layer 1, but")},
                                         std::pair{OtherWeightsAdapters(), std::string("weights fingerprint")}}) {
    SCOPED_TRACE(adapters);
    test::ExpectCleanFailure({"eval", "-m", Model(), "--attn", "dense", "--adapters", adapters, "--adapter-windows", "1",
                              "--adapter-seq", "32", "--tasks", dir.File("tasks.jsonl"), "--fidelity-docs", "0",
                              "--haystack", dir.File("text"), "-o", dir.File("report")},
                             needle);
    EXPECT_FALSE(std::filesystem::exists(dir.File("report")));
  }
}

}  // namespace
}  // namespace chunkllm

#include "chunk/adapter_file.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <functional>
#include <memory>
#include <random>
#include <unordered_map>
#include <unordered_set>

#include "chunk/chunk_distance.h"
#include "core/error.h"
#include "core/file_util.h"
#include "gguf.h"
#include "model/gguf_file.h"
#include "model/model.h"
#include "model/model_fingerprint.h"

namespace chunkllm {
namespace {

constexpr const char* kArchitecture = "chunkllm-adapters";

// The tensors of a set, with their ggml shapes (ne0 = input width, ne1 = output width).
struct TensorSpec {
  std::string name;
  std::vector<int64_t> ne;
};

// Calls fn with each tensor of a set in file order, until it returns false. (A generator: the
// loader walks the names of a file's claimed layer count only as far as its table backs them.)
void ForEachSpec(const BaseModelInfo& b, const AdapterHyperParams& hp, const std::function<bool(TensorSpec)>& fn) {
  const int64_t D = b.n_embd, Da = hp.d_adapter, r = hp.rank, Hc = hp.chunk_hidden > 0 ? hp.chunk_hidden : 1;
  for (int l = 0; l < b.n_layer; ++l) {
    const std::string p = "blk." + std::to_string(l) + ".";
    std::vector<TensorSpec> s = {{p + "q_adapter.w1", {D, Da}}, {p + "q_adapter.w2", {Da, r}},
                                 {p + "k_adapter.w1", {D, Da}}, {p + "k_adapter.w2", {Da, r}}};
    if (hp.distance_buckets > 0) s.push_back({p + "distance_bias", {hp.distance_buckets}});
    if (hp.length_bias) s.push_back({p + "length_weight", {1}});
    if (hp.query_distance) s.push_back({p + "distance_query", {r, hp.distance_buckets}});
    if (hp.query_features) {
      s.push_back({p + "feature_query", {r, 2}});
      s.push_back({p + "distance_weight", {1}});
    }
    for (TensorSpec& t : s) {
      if (!fn(std::move(t))) return;
    }
  }
  std::vector<TensorSpec> s = {{"chunk_adapter.w1", {ChunkAdapterInputWidth(b, hp), Hc}}, {"chunk_adapter.b1", {Hc}}};
  if (hp.chunk_hidden > 0) {
    s.push_back({"chunk_adapter.w2", {Hc}});
    s.push_back({"chunk_adapter.b2", {1}});
  }
  for (TensorSpec& t : s) {
    if (!fn(std::move(t))) return;
  }
}

std::vector<TensorSpec> Specs(const BaseModelInfo& b, const AdapterHyperParams& hp) {
  std::vector<TensorSpec> s;
  ForEachSpec(b, hp, [&](TensorSpec t) {
    s.push_back(std::move(t));
    return true;
  });
  return s;
}

// The vectors of a set in Specs() order.
std::vector<std::vector<float>*> Slots(AdapterSet& a) {
  std::vector<std::vector<float>*> s;
  for (auto& l : a.layers) {
    s.insert(s.end(), {&l.q_w1, &l.q_w2, &l.k_w1, &l.k_w2});
    if (a.hp.distance_buckets > 0) s.push_back(&l.distance_bias);
    if (a.hp.length_bias) s.push_back(&l.length_weight);
    if (a.hp.query_distance) s.push_back(&l.distance_query);
    if (a.hp.query_features) s.insert(s.end(), {&l.feature_query, &l.distance_weight});
  }
  s.insert(s.end(), {&a.chunk.w1, &a.chunk.b1});
  if (a.hp.chunk_hidden > 0) s.insert(s.end(), {&a.chunk.w2, &a.chunk.b2});
  return s;
}

int64_t Count(const std::vector<int64_t>& ne) {
  int64_t n = 1;
  for (int64_t d : ne) n *= d;
  return n;
}

std::string ShapeString(const int64_t* ne, int n_dims) {
  std::string s = "[";
  for (int d = 0; d < std::max(n_dims, 1); ++d) s += (d ? ", " : "") + std::to_string(ne[d]);
  return s + "]";
}

// What is wrong with a tensor table that does not hold as many tensors as the set `a` has: the
// first of its tensors the table lacks, else the first table entry that is not one of them.
std::string TableMismatch(const std::unordered_map<std::string, const GgufTensorInfo*>& table, const AdapterSet& a,
                          const std::vector<GgufTensorInfo>& entries) {
  std::unordered_set<std::string> expected;
  std::string missing;
  ForEachSpec(a.base, a.hp, [&](TensorSpec t) {  // stops by the table's size + 1: names are distinct
    if (!table.count(t.name)) {
      missing = t.name;
      return false;
    }
    expected.insert(t.name);
    return true;
  });
  if (!missing.empty()) return "missing tensor '" + missing + "'";
  for (const GgufTensorInfo& t : entries) {
    if (!expected.count(t.name)) return "unexpected tensor '" + t.name + "'";
  }
  return "duplicate tensors";  // (ggml's reader refuses those first)
}

}  // namespace

void SaveAdapters(const AdapterSet& a, const std::string& path) {
  const std::vector<TensorSpec> specs = Specs(a.base, a.hp);
  AdapterSet copy = a;  // Slots() wants mutable access
  const std::vector<std::vector<float>*> slots = Slots(copy);
  if (int(a.layers.size()) != a.base.n_layer) Fail("adapter set has ", a.layers.size(), " layers, base model ", a.base.n_layer);
  gguf_context* g = gguf_init_empty();
  std::vector<ggml_context*> ctxs;
  auto cleanup = [&] {
    gguf_free(g);
    for (ggml_context* c : ctxs) ggml_free(c);
  };
  try {
    gguf_set_val_str(g, "general.architecture", kArchitecture);
    gguf_set_val_u32(g, "chunkllm.format_version", AdapterSet::kFormatVersion);
    gguf_set_val_str(g, "chunkllm.base.arch", a.base.arch.c_str());
    gguf_set_val_u32(g, "chunkllm.base.n_layer", uint32_t(a.base.n_layer));
    gguf_set_val_u32(g, "chunkllm.base.n_embd", uint32_t(a.base.n_embd));
    gguf_set_val_u32(g, "chunkllm.base.n_head", uint32_t(a.base.n_head));
    gguf_set_val_u32(g, "chunkllm.base.n_head_kv", uint32_t(a.base.n_head_kv));
    gguf_set_val_u32(g, "chunkllm.base.head_dim", uint32_t(a.base.head_dim));
    gguf_set_val_u32(g, "chunkllm.base.n_vocab", uint32_t(a.base.n_vocab));
    gguf_set_val_str(g, "chunkllm.base.fingerprint", a.base.fingerprint.c_str());
    gguf_set_val_u32(g, "chunkllm.d_adapter", uint32_t(a.hp.d_adapter));
    gguf_set_val_u32(g, "chunkllm.rank", uint32_t(a.hp.rank));
    gguf_set_val_u32(g, "chunkllm.chunk_hidden", uint32_t(a.hp.chunk_hidden));
    gguf_set_val_u32(g, "chunkllm.max_chunk", uint32_t(a.hp.max_chunk));
    gguf_set_val_f32(g, "chunkllm.alpha", a.hp.alpha);
    gguf_set_val_str(g, "chunkllm.chunk_key", a.hp.chunk_key.c_str());
    gguf_set_val_u32(g, "chunkllm.distance_buckets", uint32_t(a.hp.distance_buckets));
    gguf_set_val_u32(g, "chunkllm.boundary_delay", uint32_t(a.hp.boundary_delay));
    gguf_set_val_u32(g, "chunkllm.boundary_inputs", uint32_t(a.hp.boundary_inputs));
    gguf_set_val_str(g, "chunkllm.query_target", a.hp.query_target.c_str());
    gguf_set_val_u32(g, "chunkllm.length_bias", a.hp.length_bias ? 1 : 0);
    gguf_set_val_u32(g, "chunkllm.score_groups", uint32_t(a.hp.score_groups));
    gguf_set_val_u32(g, "chunkllm.query_distance", a.hp.query_distance ? 1 : 0);
    gguf_set_val_u32(g, "chunkllm.query_features", a.hp.query_features ? 1 : 0);
    gguf_set_val_u32(g, "chunkllm.rope_dims", uint32_t(a.hp.rope_dims));
    gguf_set_val_f32(g, "chunkllm.rope_base", a.hp.rope_base);
    gguf_set_val_str(g, "chunkllm.training", a.training.dump().c_str());
    for (size_t i = 0; i < specs.size(); ++i) {
      const int64_t n = Count(specs[i].ne);
      if (int64_t(slots[i]->size()) != n) Fail("adapter tensor ", specs[i].name, " has ", slots[i]->size(), " values, expected ", n);
      ggml_init_params ip = {size_t(n) * sizeof(float) + ggml_tensor_overhead() + 64, nullptr, false};
      ctxs.push_back(ggml_init(ip));
      ggml_tensor* t = ggml_new_tensor(ctxs.back(), GGML_TYPE_F32, int(specs[i].ne.size()), specs[i].ne.data());
      ggml_set_name(t, specs[i].name.c_str());
      std::copy(slots[i]->begin(), slots[i]->end(), static_cast<float*>(t->data));
      gguf_add_tensor(g, t);
    }
    WriteFileAtomically(path, [&](const std::string& tmp) {
      if (!gguf_write_to_file(g, tmp.c_str(), false)) Fail(path, ": cannot write the adapter file");
    });
  } catch (...) {
    cleanup();
    throw;
  }
  cleanup();
}

AdapterSet LoadAdapters(const std::string& path) {
  const GgufFile f = GgufFile::Open(path);
  const std::string arch = f.GetString("general.architecture");
  if (arch != kArchitecture) {
    Fail(path, ": not a ChunkLLM adapter file: general.architecture is '", arch, "', expected '", kArchitecture, "'");
  }
  const int64_t version = f.GetInt("chunkllm.format_version");
  if (version < 1 || version > AdapterSet::kFormatVersion) {
    Fail(path, ": adapter format version ", version, " is not supported (this build reads versions 1 to ",
         AdapterSet::kFormatVersion, ")");
  }
  AdapterSet a;
  auto positive = [&](const char* key) {
    const int64_t v = f.GetInt(key);
    if (v <= 0 || v > (1 << 24)) Fail(path, ": metadata key '", key, "' must be positive and sane, got ", v);
    return int(v);
  };
  auto flag = [&](const char* key) {  // a u32 switch
    const int64_t v = f.GetInt(key);
    if (v != 0 && v != 1) Fail(path, ": metadata key '", key, "' must be 0 or 1, got ", v);
    return v == 1;
  };
  a.base.arch = f.GetString("chunkllm.base.arch");
  a.base.n_layer = positive("chunkllm.base.n_layer");
  a.base.n_embd = positive("chunkllm.base.n_embd");
  a.base.n_head = positive("chunkllm.base.n_head");
  a.base.n_head_kv = positive("chunkllm.base.n_head_kv");
  a.base.head_dim = positive("chunkllm.base.head_dim");
  a.base.n_vocab = positive("chunkllm.base.n_vocab");
  a.base.fingerprint = f.GetString("chunkllm.base.fingerprint");
  a.hp.d_adapter = positive("chunkllm.d_adapter");
  a.hp.rank = positive("chunkllm.rank");
  const int64_t chunk_hidden = f.GetInt("chunkllm.chunk_hidden");
  if (chunk_hidden < 0 || chunk_hidden > (1 << 24)) {
    Fail(path, ": metadata key 'chunkllm.chunk_hidden' must be in [0, 2^24], got ", chunk_hidden);
  }
  a.hp.chunk_hidden = int(chunk_hidden);
  a.hp.max_chunk = positive("chunkllm.max_chunk");
  a.hp.alpha = f.GetFloat("chunkllm.alpha");
  if (!(a.hp.alpha > 0 && a.hp.alpha < 1)) Fail(path, ": metadata key 'chunkllm.alpha' must be in (0, 1), got ", a.hp.alpha);
  a.hp.chunk_key = f.GetString("chunkllm.chunk_key");
  if (!IsChunkKey(a.hp.chunk_key)) {
    Fail(path, ": metadata key 'chunkllm.chunk_key' must be ", kChunkKeyValues, ", got '", a.hp.chunk_key, "'");
  }
  if (version >= 2) {  // version 1 had no distance bias
    const int64_t b = f.GetInt("chunkllm.distance_buckets");
    if (b < 0 || b > kMaxDistanceBuckets) {
      Fail(path, ": metadata key 'chunkllm.distance_buckets' must be in [0, ", kMaxDistanceBuckets, "], got ", b);
    }
    a.hp.distance_buckets = int(b);
  }
  if (version >= 3) {  // versions 1 and 2 had no boundary delay (the paper's: 0)
    const int64_t d = f.GetInt("chunkllm.boundary_delay");
    if (d < 0 || d > kMaxBoundaryDelay) {
      Fail(path, ": metadata key 'chunkllm.boundary_delay' must be in [0, ", kMaxBoundaryDelay, "], got ", d);
    }
    a.hp.boundary_delay = int(d);
  }
  if (version >= 4) {  // versions 1-3 read one token (the paper's)
    const int64_t n = f.GetInt("chunkllm.boundary_inputs");
    if (n < 1 || n > kMaxBoundaryInputs) {
      Fail(path, ": metadata key 'chunkllm.boundary_inputs' must be in [1, ", kMaxBoundaryInputs, "], got ", n);
    }
    a.hp.boundary_inputs = int(n);
  }
  if (version >= 5) {  // versions 1-4 trained each token's own query (the paper's)
    a.hp.query_target = f.GetString("chunkllm.query_target");
    if (!IsQueryTarget(a.hp.query_target)) {
      Fail(path, ": metadata key 'chunkllm.query_target' must be ", kQueryTargetValues, ", got '", a.hp.query_target, "'");
    }
  }
  if (version >= 6) a.hp.length_bias = flag("chunkllm.length_bias");  // versions 1-5: none (the paper's score)
  if (version >= 7) {  // versions 1-6 scored with one softmax (the paper's)
    const int64_t g = f.GetInt("chunkllm.score_groups");
    if (g < 1 || g > a.hp.rank || a.hp.rank % g != 0) {
      Fail(path, ": metadata key 'chunkllm.score_groups' must divide the rank ", a.hp.rank, ", got ", g);
    }
    a.hp.score_groups = int(g);
  }
  if (version >= 8) {  // versions 1-7 had no query-dependent distance score (the paper's)
    a.hp.query_distance = flag("chunkllm.query_distance");
    if (a.hp.query_distance && a.hp.distance_buckets == 0) {
      Fail(path, ": metadata key 'chunkllm.query_distance' is 1 but 'chunkllm.distance_buckets' is 0");
    }
  }
  if (version >= 9) {  // versions 1-8: no log features, position-free features (the paper's)
    a.hp.query_features = flag("chunkllm.query_features");
    const int64_t d = f.GetInt("chunkllm.rope_dims");
    if (d < 0 || d > a.hp.rank || d % 2 != 0) {
      Fail(path, ": metadata key 'chunkllm.rope_dims' must be even and in [0, the rank ", a.hp.rank, "], got ", d);
    }
    a.hp.rope_dims = int(d);
    a.hp.rope_base = f.GetFloat("chunkllm.rope_base");
    if (!(a.hp.rope_base > 1.0f) || !std::isfinite(a.hp.rope_base)) {
      Fail(path, ": metadata key 'chunkllm.rope_base' must be a finite number > 1, got ", a.hp.rope_base);
    }
  }
  try {
    a.training = nlohmann::json::parse(f.GetString("chunkllm.training"));
  } catch (const nlohmann::json::exception& e) {
    Fail(path, ": metadata key 'chunkllm.training' is not JSON (", e.what(), ")");
  }
  // The layer count is the file's word: the tensor table must back it before anything is
  // sized by it (a count of 2^24 would otherwise allocate gigabytes first).
  std::unordered_map<std::string, const GgufTensorInfo*> table;
  for (const GgufTensorInfo& t : f.tensors()) table.emplace(t.name, &t);
  const int64_t per_layer = 4 + (a.hp.distance_buckets > 0) + a.hp.length_bias + a.hp.query_distance +
                            2 * a.hp.query_features;
  const int64_t n_expected = int64_t(a.base.n_layer) * per_layer + (a.hp.chunk_hidden > 0 ? 4 : 2);
  if (int64_t(f.tensors().size()) != n_expected) {
    Fail(path, ": has ", f.tensors().size(), " tensors, expected ", n_expected, " for ", a.base.n_layer,
         " layers (metadata key 'chunkllm.base.n_layer'): ", TableMismatch(table, a, f.tensors()));
  }
  a.layers.resize(size_t(a.base.n_layer));

  std::unique_ptr<FILE, int (*)(FILE*)> fp(std::fopen(path.c_str(), "rb"), &std::fclose);
  if (!fp) Fail(path, ": cannot open");
  const std::vector<TensorSpec> specs = Specs(a.base, a.hp);
  const std::vector<std::vector<float>*> slots = Slots(a);
  for (size_t i = 0; i < specs.size(); ++i) {
    const TensorSpec& s = specs[i];
    const auto found = table.find(s.name);
    if (found == table.end()) Fail(path, ": missing tensor '", s.name, "'");
    const GgufTensorInfo* t = found->second;
    if (t->type != GGML_TYPE_F32) Fail(path, ": tensor '", s.name, "' should be f32 but is ", ggml_type_name(t->type));
    for (int d = 0; d < GGML_MAX_DIMS; ++d) {
      const int64_t want = d < int(s.ne.size()) ? s.ne[size_t(d)] : 1;
      if (t->ne[d] != want) {
        Fail(path, ": tensor '", s.name, "' has shape ", ShapeString(t->ne, t->n_dims), ", expected ",
             ShapeString(s.ne.data(), int(s.ne.size())));
      }
    }
    std::vector<float>& v = *slots[i];
    v.resize(size_t(Count(s.ne)));
    if (fseeko(fp.get(), off_t(t->offset), SEEK_SET) != 0 || std::fread(v.data(), sizeof(float), v.size(), fp.get()) != v.size()) {
      Fail(path, ": cannot read tensor '", s.name, "' at byte ", t->offset);
    }
    for (size_t j = 0; j < v.size(); ++j) {
      if (!std::isfinite(v[j])) Fail(path, ": tensor '", s.name, "' holds a non-finite value at element ", j);
    }
  }
  return a;
}

BaseModelInfo BaseModelInfoOf(const Model& model, const GgufFile& file) {
  const ModelConfig& c = model.config();
  BaseModelInfo b;
  b.arch = c.arch_name;
  b.n_layer = c.n_layer, b.n_embd = c.n_embd, b.n_head = c.n_head, b.n_head_kv = c.n_head_kv;
  b.head_dim = c.head_dim, b.n_vocab = c.n_vocab;
  b.fingerprint = ModelFingerprint(file);
  return b;
}

void CheckAdaptersMatchModel(const AdapterSet& a, const BaseModelInfo& m, const std::string& ap,
                             const std::string& mp) {
  auto refuse = [&](const char* field, const std::string& theirs, const std::string& ours) {
    Fail("adapters ", ap, " were trained for a model with ", field, " ", theirs, ", but ", mp, " has ", ours,
         "; train adapters for this model with `chunkllm train -m ", mp, "`");
  };
  if (a.base.arch != m.arch) refuse("architecture", a.base.arch, m.arch);
  const std::pair<const char*, std::pair<int, int>> shape[] = {
      {"n_layer", {a.base.n_layer, m.n_layer}},       {"n_embd", {a.base.n_embd, m.n_embd}},
      {"n_head", {a.base.n_head, m.n_head}},          {"n_head_kv", {a.base.n_head_kv, m.n_head_kv}},
      {"head_dim", {a.base.head_dim, m.head_dim}},    {"n_vocab", {a.base.n_vocab, m.n_vocab}}};
  for (const auto& [field, v] : shape) {
    if (v.first != v.second) refuse(field, std::to_string(v.first), std::to_string(v.second));
  }
  if (a.base.fingerprint != m.fingerprint) refuse("weights fingerprint", a.base.fingerprint, m.fingerprint);
}

AdapterSet LoadMatchingAdapters(const std::string& path, const Model& model) {
  AdapterSet a = LoadAdapters(path);
  CheckAdaptersMatchModel(a, BaseModelInfoOf(model, GgufFile::Open(model.path())), path, model.path());
  return a;
}

AdapterSet RandomAdapters(const BaseModelInfo& base, AdapterHyperParams hp, uint32_t seed) {
  if (hp.d_adapter <= 0) hp.d_adapter = std::max(1, base.n_embd / 4);
  AdapterSet a;
  a.base = base;
  a.hp = hp;
  a.layers.resize(size_t(base.n_layer));
  a.training = {{"random", true}, {"seed", seed}};
  std::mt19937 rng(seed);
  const std::vector<TensorSpec> specs = Specs(base, hp);
  const std::vector<std::vector<float>*> slots = Slots(a);
  for (size_t i = 0; i < specs.size(); ++i) {
    std::normal_distribution<float> dist(0.0f, 1.0f / std::sqrt(float(specs[i].ne[0])));
    slots[i]->resize(size_t(Count(specs[i].ne)));
    for (float& x : *slots[i]) x = dist(rng);
  }
  return a;
}

}  // namespace chunkllm

// AdapterSet: the trained ChunkLLM parts for one frozen backbone (docs/method.md, "Adapters" to
// "Chunk boundaries").
//
// Per layer l, a Q-Adapter and a K-Adapter, each   y = W2 silu(W1 x),   x = attn_norm(h_{l-1}) (D),
// W1: (Da, D), W2: (r, Da), no bias and no RoPE. One Chunk Adapter on layer-1 outputs: its input
// h (n D) is h_1 of n = boundary_inputs consecutive tokens, oldest first (n = 1: the paper's):
//   linear:        p = sigmoid(w . h + b)                          (hidden == 0)
//   hidden layer:  p = sigmoid(w2 . silu(W1 h + b1) + b2)          (hidden > 0, W1: (hidden, n D))
// With distance buckets B > 0, each layer also has a learned bias b (B) on the chunk score by
// how many chunks back the candidate lies (chunk/chunk_distance.h). With the length bias, each
// layer also has a learned weight w on log(tokens in the chunk).
// Matrices are row-major [out][in] float vectors. The file format is in docs/formats.md.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace chunkllm {

// The backbone an adapter set belongs to. Loading adapters on another model is refused.
struct BaseModelInfo {
  std::string arch;  // "llama", "qwen2", "qwen3"
  int n_layer = 0, n_embd = 0, n_head = 0, n_head_kv = 0, head_dim = 0, n_vocab = 0;
  std::string fingerprint;  // see ModelFingerprint (model/model_fingerprint.h)
};

struct AdapterHyperParams {
  int d_adapter = 0;   // Da (default D/4)
  int rank = 64;       // r: adapter output width
  int chunk_hidden = 0;  // Chunk Adapter hidden width; 0 = linear
  float alpha = 0.5f;    // boundary threshold on sigmoid
  int max_chunk = 64;    // forced boundary after this many tokens without one
  // "boundary" (the paper's): a chunk's key is its boundary token's K-Adapter feature; "mean"
  // (ours): the mean of its tokens' features, so the key describes the whole chunk, not its
  // last token (inference then runs the K-Adapter on every token, not only at boundaries).
  std::string chunk_key = "boundary";
  int distance_buckets = 0;  // B of the per-layer chunk-distance bias; 0 = none (the paper's score)
  // Tokens of lookahead of the Chunk Adapter (ours, an ablation): whether token i ends a chunk
  // is read from h_1 of token i + boundary_delay. 0 = the paper's (h_1 of token i itself); 1
  // reads the next token's h_1, which alone should decide cases like `?` followed by a
  // lowercase word, but on the demo backbone it scored F1 ~0.7 against 0.93 (models/README.md):
  // h_1 of the next token carries too little of the token before it.
  int boundary_delay = 0;
  // Tokens whose h_1 the Chunk Adapter reads (ours): token i's boundary from h_1 of tokens
  // i + boundary_delay - n + 1 ... i + boundary_delay, concatenated oldest first, zeros before
  // the sequence's first token. 1 = the paper's; with boundary_delay 1, n = 2 reads the token
  // itself and the next one, which together can tell `?` + lowercase word from a sentence end:
  // on the stage-8 demo backbone, boundary F1 97.9 against 93.5 for the token alone.
  int boundary_inputs = 1;
  // Which query a chunk score is trained for (ours; docs/method.md, "Teacher and distillation"):
  // "token" (the paper's): each token's own query scores the chunks that token attends to.
  // "served": with ICAC, one selection serves every token until the next one, so token t's
  // chunks are scored with the query of the token whose selection serves t (the latest
  // boundary token + boundary_delay before t: ServingRows in train/adapter_losses.h); a
  // selection's query learns what the tokens after it will read. At inference the prompt's
  // end then selects with the query of the open chunk's selection token, as ICAC would have.
  std::string query_target = "token";
  // Adds w_l * log(chunk length in tokens) to the chunk score (ours; w_l learned per layer,
  // starting at 1). The teacher's chunk mass is a sum over the chunk's tokens, so under
  // diffuse attention a long chunk holds more of it; a score from one boundary key cannot say
  // how long its chunk is. With w = 1 the score is that of every token of the chunk scoring
  // like its key: log sum_{j in c} exp(q.k) = q.k + log |c|. Off: the paper's score.
  bool length_bias = false;
  // Groups of the adapter features whose scores form a mixture (ours): the r features split
  // into G groups of r/G, each group g scores the candidates with its own softmax p_g(c) of
  // q_g . k_g / sqrt(r/G) + the biases, and the chunk's probability is their mean,
  // p(c) = (1/G) sum_g p_g(c). The teacher's target is a mean over the layer's heads, each
  // with its own softmax; a single softmax (G = 1, the paper's) must fit that mixture with one
  // ranking, so heads that read different chunks compete. Requires r % G == 0.
  int score_groups = 1;
  // A query-dependent distance score (ours; needs distance buckets): each layer also learns a
  // (B, r) distance embedding E, and a candidate d chunks back adds q . E[bucket(d)] / sqrt(r)
  // to its score. The distance bias alone prefers the same distances for every query; the
  // teacher's heads look back by amounts that depend on the token (the chunk just before, the
  // sentence's subject a few chunks back, ...). Off: the paper's score.
  bool query_distance = false;
  // Query-dependent log features of a candidate (ours): with x_c = log(tokens in chunk c) and
  // y_tc = log(t - last token of c), the score of c for the query q at t gains
  //   (q . u_l / sqrt(r)) x_c + (w_l + q . v_l / sqrt(r)) y_tc,
  // u_l, v_l (r) and w_l learned per layer, all starting at 0. The length weight of
  // --length-bias is the same for every query, and chunk distance buckets count chunks, not the
  // tokens that RoPE's decay sees. Off: the paper's score.
  bool query_features = false;
  // Rotary positions in the adapter features (ours): the first rope_dims of the r features of
  // every token's query and key are rotated in pairs (2i, 2i+1) by position * base^(-2i/rope_dims),
  // as RoPE does (ggml's normal mode), before a chunk's keys are averaged, so q . k_c becomes
  // the mean over the chunk's tokens j of q R(j - t) k_j: a score that sees how far back each
  // token lies, in tokens. 0: position-free features (the paper's).
  int rope_dims = 0;
  float rope_base = 10000.0f;
};

// The Chunk Adapter's input width: n_embd floats for each token it reads.
inline int ChunkAdapterInputWidth(const BaseModelInfo& b, const AdapterHyperParams& hp) {
  return b.n_embd * hp.boundary_inputs;
}

// The values the string hyper-parameters may take; the trainer's flags and the adapter file's
// metadata are both checked against these, and both errors name the allowed values from here.
constexpr const char* kChunkKeyValues = "boundary or mean";
constexpr const char* kQueryTargetValues = "token or served";
inline bool IsChunkKey(const std::string& s) { return s == "boundary" || s == "mean"; }
inline bool IsQueryTarget(const std::string& s) { return s == "token" || s == "served"; }

// The largest boundary delay the inference policy implements (it keeps one token back).
constexpr int kMaxBoundaryDelay = 1;
// The most tokens the Chunk Adapter may read (inference keeps the latest ones' h_1).
constexpr int kMaxBoundaryInputs = 4;

struct LayerAdapters {
  std::vector<float> q_w1, q_w2;  // (Da, D), (r, Da)
  std::vector<float> k_w1, k_w2;  // (Da, D), (r, Da)
  std::vector<float> distance_bias;  // (B), empty when B = 0
  std::vector<float> length_weight;  // (1), empty without the length bias
  std::vector<float> distance_query;  // (B, r), empty without the query-dependent distance score
  std::vector<float> feature_query;   // (2, r): u, v of the log features; empty without query_features
  std::vector<float> distance_weight;  // (1): w of log(token distance); empty without query_features
};

struct ChunkAdapterWeights {
  // With n D inputs (ChunkAdapterInputWidth):
  // linear (hidden == 0): w1 (1, n D), b1 (1); w2, b2 empty.
  // hidden layer:         w1 (hidden, n D), b1 (hidden), w2 (hidden), b2 (1).
  std::vector<float> w1, b1, w2, b2;
};

struct AdapterSet {
  // 2 added the distance bias, 3 the boundary delay, 4 the boundary inputs, 5 the query
  // target, 6 the length bias, 7 the score groups, 8 the query-dependent distance score, 9 the
  // query-dependent log features and the rotated features (older files, which lack them, are
  // still read; docs/formats.md).
  static constexpr int kFormatVersion = 9;
  BaseModelInfo base;
  AdapterHyperParams hp;
  std::vector<LayerAdapters> layers;  // n_layer entries
  ChunkAdapterWeights chunk;
  // Free-form record of how it was trained: optimiser settings, steps, data summary
  // (documents, tokens, sha256 of the file list), validation metrics. Stored as JSON text.
  nlohmann::json training;
};

}  // namespace chunkllm

// AttentionOptions: the attention method and every knob of it, in one struct, as `run`, `bench`,
// `eval` and `chunks` parse them from their flags (cli/attention_flags.h) and as the tests set
// them. The names of the enums' values are the flags' values; Parse* turn a flag's text into its
// value and refuse anything else with a message that names the flag. CheckAttentionOptions checks
// the numbers and the combinations once, when a PolicySpec is made from the options
// (chunk/policy_spec.h); the policies take them as checked.
//
// The defaults are the ones `--attn` uses; why each value: the flags' help and docs/method.md.
#pragma once

#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace chunkllm {

enum class AttentionMethod {
  kDense,       // vanilla: every cached position
  kChunkLlm,    // ChunkLLM (docs/method.md)
  kStreaming,   // StreamingLLM: sink + recent window
  kSepLlm,      // SepLLM: + separator tokens
  kFixLlm,      // FixLLM: + every stride-th token
  kChunkFixed,  // ChunkLLM with fixed-length chunks instead of the Chunk Adapter
  kNoVote,      // ChunkLLM, each layer its own top k
  kNoIcac,      // ChunkLLM, a selection at every decode token
  kOracle,      // chunks ranked by the query's true attention
};
enum class SelectQuery { kLast, kRecent };           // the latest token's query | the mean since the latest chunk
enum class FirstSelection { kDenseStep, kPrompt };   // ours | the paper's
enum class KvMode { kResident, kEvict };
enum class PrefillMode { kDense, kSparse };          // --prefill
enum class ChunkSelection { kShared, kPerLayer };    // --selection: the layers' vote | each its own

struct AttentionOptions {
  AttentionMethod method = AttentionMethod::kDense;  // --attn
  std::string adapters;   // --adapters FILE (the ChunkLLM methods)
  int topk = 8;           // --topk: chunks selected per boundary (the paper's k)
  int budget_tokens = 0;  // --budget-tokens: > 0 selects chunks up to this many tokens instead (ours)
  SelectQuery select_query = SelectQuery::kLast;               // --select-query
  FirstSelection first_selection = FirstSelection::kDenseStep;  // --first-selection
  // --selection (ours as the default): per-layer, each layer reads its own top chunks; shared,
  // the layers vote for one set (the paper's), which --kv evict needs. Unset: per-layer, or
  // shared with --kv evict or an explicit --layer-topk (selection_mode()). On the bundled models
  // the two answer the suite alike, and per-layer keeps the classic passkey in real prose where
  // the vote drops the retrieval layer's chunk (docs/benchmarks.md, session 32).
  std::optional<ChunkSelection> selection;
  // --layer-topk: with the shared set, each layer also reads its own top chunks beside it (ours);
  // -1: 4, or 0 with --kv evict, which keeps one shared set (layer_topk_or_default()).
  int layer_topk = -1;
  int local = 2;            // --local: latest chunks always kept (the paper's)
  // --local-tokens (ours): beyond the `local` latest chunks, more of the latest ones until they
  // hold this many tokens, a recent window in whole chunks (0: off). 256: the window of the
  // streaming and SepLLM baselines.
  int local_tokens = 256;
  int sink = 4;             // --sink: first tokens always kept
  int window = 256;         // --window: recent tokens of streaming, sepllm, fixllm
  KvMode kv = KvMode::kResident;  // --kv
  int chunk_len = 24;       // --chunk-len: tokens per chunk (chunk-fixed)
  int stride = 8;           // --stride: every n-th token kept (fixllm)
  // Chunk-sparse prefill (ours, docs/method.md "Sparse prefill"; the ChunkLLM methods): each
  // micro-batch of a prompt attends to the sink, the chunks each layer's adapters select for it
  // (up to prefill_budget tokens), the latest prefill_window tokens (whole chunks) and itself;
  // the last prefill_dense_tail tokens of a prompt (where its question is) are prefilled densely.
  // Unset, the method's own: sparse for the methods that select with adapters (SparsePrefills),
  // dense for the rest. Sparse with 512 / 256 by default: on the bundled models it answered the
  // 4K and 8K suites as the dense prefill did, at the same perplexity, with the first token of an
  // 8K prompt 1.7x and of a 32K one 3x+ sooner (docs/benchmarks.md, "Chunk-sparse prefill"). A
  // prompt whose micro-batches' past fits the sink, budget and window is prefilled densely, bit
  // for bit.
  std::optional<PrefillMode> prefill;  // --prefill
  int prefill_budget = 512;       // --prefill-budget: tokens of selected chunks per layer (0: none)
  int prefill_window = 256;       // --prefill-window: recent tokens before the batch
  // --prefill-query-groups: a batch's queries in this many groups of consecutive tokens, a chunk
  // ranked by its best group (1: the batch's mean query; 0: every token its own group, the max
  // over tokens).
  int prefill_query_groups = 1;
  int prefill_dense_tail = 512;   // --prefill-dense-tail: the prompt's last tokens run dense

  bool evict() const { return kv == KvMode::kEvict; }
  PrefillMode prefill_mode() const;  // --prefill as given, else the method's default
  ChunkSelection selection_mode() const;  // --selection as given, else the default (above)
  // --layer-topk resolved: 0 without the shared set (each layer reads its own already).
  int layer_topk_or_default() const;
  static constexpr int kDefaultLayerTopk = 4;
};

// The ChunkLLM methods (chunk index, adapters) and the token-window baselines.
bool IsChunkMethod(AttentionMethod m);
bool IsWindowMethod(AttentionMethod m);
// The ChunkLLM methods that can prefill sparsely: all but the oracle, which ranks chunks by the
// full attention that a sparse prefill would skip.
bool SparsePrefills(AttentionMethod m);

// Every accepted --attn value and its method, in display order.
const std::vector<std::pair<std::string, AttentionMethod>>& AttentionMethodNames();
// The flag value of each enum value (a string literal).
const char* Name(AttentionMethod m);
const char* Name(SelectQuery q);
const char* Name(FirstSelection f);
const char* Name(KvMode k);
const char* Name(PrefillMode p);
const char* Name(ChunkSelection c);

// Throw Error naming the flag, the allowed values and what was given.
AttentionMethod ParseAttentionMethod(const std::string& s);
std::vector<AttentionMethod> ParseAttentionMethods(const std::vector<std::string>& names);
SelectQuery ParseSelectQuery(const std::string& s);
FirstSelection ParseFirstSelection(const std::string& s);
KvMode ParseKvMode(const std::string& s);
PrefillMode ParsePrefillMode(const std::string& s);
ChunkSelection ParseChunkSelection(const std::string& s);

// Throws Error naming the flag at fault: a knob out of range, or a combination the method
// cannot run (--kv evict with dense, novote, oracle or --layer-topk > 0).
void CheckAttentionOptions(const AttentionOptions& o);

}  // namespace chunkllm

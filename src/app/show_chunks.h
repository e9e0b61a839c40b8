// `chunkllm chunks`: where the Chunk Adapter ends chunks in a text at inference, beside the
// sentence ends of the rule-based splitter that trained it (docs/method.md, "Chunk boundaries"),
// token by token. It runs the real inference path (a prefill with the chunkllm policy), so what it
// shows is what `run`, `bench` and `eval` chunk by; the boundary precision / recall / F1 it prints
// are the training report's measurement on any text a user gives.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/precision_recall.h"

namespace chunkllm {

struct ShowChunksOptions {
  std::string model_path, adapters_path;
  std::string text;       // -p
  std::string text_file;  // -f (used when text is empty)
  int n_ctx = 4096;       // -c: the text (plus BOS) must fit
  int n_threads = 2;      // -t
  bool json = false;      // one JSON object instead of the marked text
};

// Per token of a sequence: the adapter's chunk ends (1 = the token ends a chunk), which of
// them were forced by max_chunk, and the splitter's labels (1 = the token ends a sentence).
// Forced ends are left out of the counts, as in training's boundary statistics, which score
// the classifier alone.
struct BoundaryComparison : PrecisionRecall {
  int64_t forced = 0;
};
BoundaryComparison CompareBoundaries(const std::vector<uint8_t>& adapter_end, const std::vector<uint8_t>& forced,
                                     const std::vector<uint8_t>& sentence_end);

// Prints the text with a marker after every boundary token, [|] both agree, [+] the adapter
// only, [-] the splitter only, [>] forced at max_chunk, then a summary on stderr; or, with
// json, {tokens, chunks: [{begin, end, forced, text}], sentence_ends, tp, fp, fn, precision,
// recall, f1} (precision or recall null when undefined: no chunk ends predicted, or no
// sentence ends). Throws Error on bad input (unreadable or empty text, text longer than -c,
// adapters of another model).
void RunShowChunks(const ShowChunksOptions& options);

}  // namespace chunkllm

#include "app/show_chunks.h"

#include <algorithm>
#include <cstdio>

#include <nlohmann/json.hpp>

#include "chunk/chunkllm_policy.h"
#include "chunk/policy_spec.h"
#include "core/error.h"
#include "core/file_util.h"
#include "model/model.h"
#include "model/session.h"
#include "text/sentence_splitter.h"
#include "text/token_spans.h"
#include "text/tokenizer.h"

namespace chunkllm {

BoundaryComparison CompareBoundaries(const std::vector<uint8_t>& adapter_end, const std::vector<uint8_t>& forced,
                                     const std::vector<uint8_t>& sentence_end) {
  if (adapter_end.size() != sentence_end.size() || forced.size() != sentence_end.size()) {
    Fail("CompareBoundaries: ", adapter_end.size(), " adapter flags, ", forced.size(), " forced flags and ",
         sentence_end.size(), " labels");
  }
  BoundaryComparison c;
  for (size_t i = 0; i < sentence_end.size(); ++i) {
    if (forced[i]) {
      ++c.forced;
      continue;
    }
    c.Add(adapter_end[i] != 0, sentence_end[i] != 0);
  }
  return c;
}

void RunShowChunks(const ShowChunksOptions& o) {
  auto model = Model::Load(o.model_path);
  auto tokenizer = Tokenizer::Load(o.model_path);
  const std::string text = TextFromFlags(o.text, o.text_file, "the text", tokenizer->PromptLimit(o.n_ctx));
  // Positions: 0 is BOS, token i of `ids` is position i + 1 (the layout of training windows).
  const std::vector<int32_t> ids = tokenizer->Tokenize(text, /*add_special=*/false);
  if (ids.empty()) Fail("the text tokenizes to nothing");
  if (int(ids.size()) + 1 > o.n_ctx) {
    Fail("the text has ", ids.size() + 1, " tokens with BOS but the context holds ", o.n_ctx,
         " (-c); raise -c or shorten the text");
  }
  const std::vector<TokenSpan> spans = TokenSpans(*tokenizer, text, ids);
  std::vector<uint8_t> sentence_end = BoundaryLabels(text, spans);

  AttentionOptions attention;
  attention.method = AttentionMethod::kChunkLlm, attention.adapters = o.adapters_path;
  std::unique_ptr<AttentionPolicy> policy = PolicySpec(*model, attention).NewPolicy();
  const ChunkIndex& chunks = dynamic_cast<const ChunkLlmPolicy&>(*policy).index();
  SessionParams sp;
  sp.n_ctx = o.n_ctx, sp.n_threads = o.n_threads;
  {
    Session session(*model, sp, policy.get());
    std::vector<int32_t> prompt = {tokenizer->bos()};
    prompt.insert(prompt.end(), ids.begin(), ids.end());
    session.Prefill(prompt);
  }
  const int max_chunk = chunks.adapters().hp().max_chunk;
  const size_t n = ids.size();
  std::vector<uint8_t> adapter_end(n, 0), forced(n, 0);
  for (int c = 0; c < chunks.n_chunks(); ++c) {
    const int last = chunks.chunk_end(c) - 2;  // index into ids (position - 1)
    if (last < 0) continue;                    // a chunk of BOS alone
    adapter_end[size_t(last)] = 1;
    forced[size_t(last)] = chunks.chunk_end(c) - chunks.chunk_begin(c) >= max_chunk;
  }
  const BoundaryComparison cmp = CompareBoundaries(adapter_end, forced, sentence_end);
  const auto count = [](const std::vector<uint8_t>& v) { return std::count(v.begin(), v.end(), uint8_t(1)); };

  if (o.json) {
    nlohmann::json j;
    j["tokens"] = n + 1;
    j["chunks"] = nlohmann::json::array();
    for (int c = 0; c < chunks.n_chunks(); ++c) {
      const int b = std::max(1, chunks.chunk_begin(c)) - 1, e = chunks.chunk_end(c) - 1;  // ids indices [b, e)
      const std::string piece = e > b ? text.substr(spans[size_t(b)].first, spans[size_t(e - 1)].second -
                                                                              spans[size_t(b)].first)
                                      : std::string();
      j["chunks"].push_back({{"begin", chunks.chunk_begin(c)}, {"end", chunks.chunk_end(c)},
                             {"forced", e > 0 && forced[size_t(e - 1)] != 0}, {"text", piece}});
    }
    std::vector<int> ends;
    for (size_t i = 0; i < n; ++i)
      if (sentence_end[i]) ends.push_back(int(i) + 1);
    j["sentence_ends"] = ends;  // positions of the splitter's sentence-final tokens
    j["max_chunk"] = max_chunk;
    j["tp"] = cmp.tp, j["fp"] = cmp.fp, j["fn"] = cmp.fn, j["forced"] = cmp.forced;
    j["precision"] = cmp.precision(), j["recall"] = cmp.recall(), j["f1"] = cmp.f1();
    std::printf("%s\n", j.dump(2).c_str());
    return;
  }
  size_t cursor = 0;
  for (size_t i = 0; i < n; ++i) {
    const char* mark = forced[i]                          ? "[>]"
                       : adapter_end[i] && sentence_end[i] ? "[|]"
                       : adapter_end[i]                    ? "[+]"
                       : sentence_end[i]                   ? "[-]"
                                                           : nullptr;
    if (!mark) continue;
    const size_t end = std::max(cursor, spans[i].second);
    std::fwrite(text.data() + cursor, 1, end - cursor, stdout);
    std::fputs(mark, stdout);
    cursor = end;
  }
  std::fwrite(text.data() + cursor, 1, text.size() - cursor, stdout);
  std::fputs(text.empty() || text.back() != '\n' ? "\n" : "", stdout);
  std::fflush(stdout);
  std::fprintf(stderr,
               "chunks: %zu tokens; the Chunk Adapter ended %d chunks (%lld forced at max_chunk %d), the splitter "
               "%lld sentences\n"
               "chunks: boundary precision %.1f%%, recall %.1f%%, F1 %.1f (forced ends left out); "
               "[|] both, [+] adapter only, [-] splitter only, [>] forced\n",
               n + 1, chunks.n_chunks(), (long long)cmp.forced, max_chunk, (long long)count(sentence_end),
               100.0 * cmp.precision(), 100.0 * cmp.recall(), 100.0 * cmp.f1());
}

}  // namespace chunkllm

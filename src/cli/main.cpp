// chunkllm: long-context LLM inference with ChunkLLM. This file only dispatches.
#include <cstdio>
#include <exception>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "core/error.h"

int main(int argc, char** argv) {
  // llama.cpp spells its sequence count -np (llama-server's slots); CLI11 takes one-letter short
  // flags only, so it becomes serve's and bench's --parallel here.
  std::vector<char*> args(argv, argv + argc);
  static char parallel[] = "--parallel";
  const bool takes_np = argc > 1 && (std::string(argv[1]) == "serve" || std::string(argv[1]) == "bench");
  for (int i = 2; takes_np && i < argc; ++i) {
    if (std::string(argv[i]) == "-np") args[size_t(i)] = parallel;
  }
  argv = args.data();
  CLI::App app{"chunkllm: fast long-context LLM inference with ChunkLLM chunk selection"};
  app.require_subcommand(1);
  app.set_help_all_flag("--help-all", "help for every subcommand");
  try {
    chunkllm::cli::RegisterRun(app);
    chunkllm::cli::RegisterBench(app);
    chunkllm::cli::RegisterBenchAttention(app);
    chunkllm::cli::RegisterMkModel(app);
    chunkllm::cli::RegisterInspect(app);
#ifdef CHUNKLLM_WITH_TRAINING
    chunkllm::cli::RegisterPretrain(app);
    chunkllm::cli::RegisterTrain(app);
#else
    chunkllm::cli::RegisterNotBuilt(app, "pretrain", "train the demo backbone");
    chunkllm::cli::RegisterNotBuilt(app, "train", "train ChunkLLM adapters");
#endif
    chunkllm::cli::RegisterEval(app);
    chunkllm::cli::RegisterChunks(app);
    chunkllm::cli::RegisterTrace(app);
    chunkllm::cli::RegisterServe(app);
    std::string known;
    bool found = false;
    for (const CLI::App* sub : app.get_subcommands({})) {
      known += (known.empty() ? "" : ", ") + sub->get_name();
      found = found || (argc > 1 && sub->get_name() == argv[1]);
    }
    if (argc > 1 && argv[1][0] != '-' && !found) {
      std::fprintf(stderr, "error: unknown command '%s' (commands: %s)\n", argv[1], known.c_str());
      return 2;
    }
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (const chunkllm::Error& e) {
    std::fflush(stdout);
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  } catch (const std::bad_alloc&) {
    std::fprintf(stderr, "error: out of memory\n");
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
  return 0;
}

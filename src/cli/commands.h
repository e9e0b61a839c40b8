// Each subcommand registers its flags and a callback that calls one library function.
#pragma once

#include <CLI/CLI.hpp>
#include <string>

#include "core/error.h"

namespace chunkllm::cli {

void RegisterRun(CLI::App& app);
void RegisterBench(CLI::App& app);
void RegisterBenchAttention(CLI::App& app);
void RegisterMkModel(CLI::App& app);
void RegisterInspect(CLI::App& app);
void RegisterPretrain(CLI::App& app);
void RegisterTrain(CLI::App& app);
void RegisterEval(CLI::App& app);
void RegisterChunks(CLI::App& app);
void RegisterTrace(CLI::App& app);
void RegisterServe(CLI::App& app);

// A command of a build without training (CHUNKLLM_TRAINING=OFF): listed, and refused with a
// message saying how to get it, whatever flags follow.
inline void RegisterNotBuilt(CLI::App& app, const std::string& name, const std::string& what) {
  CLI::App* c = app.add_subcommand(name, what + " (not in this build: needs CHUNKLLM_TRAINING=ON and libtorch)");
  c->allow_extras()->prefix_command();
  c->callback([name] {
    Fail("'", name, "' is not in this build of chunkllm (configured with CHUNKLLM_TRAINING=OFF, without libtorch); ",
         "rebuild with -DCHUNKLLM_TRAINING=ON to use it");
  });
}

// Shared validators
inline const auto kPositive = CLI::PositiveNumber;

}  // namespace chunkllm::cli

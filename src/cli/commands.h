// Each subcommand registers its flags and a callback that calls one library function.
#pragma once

#include <CLI/CLI.hpp>

namespace chunkllm::cli {

void RegisterRun(CLI::App& app);
void RegisterBench(CLI::App& app);
void RegisterMkModel(CLI::App& app);
void RegisterInspect(CLI::App& app);
void RegisterPretrain(CLI::App& app);
void RegisterTrain(CLI::App& app);
void RegisterEval(CLI::App& app);
void RegisterChunks(CLI::App& app);

// Shared validators
inline const auto kPositive = CLI::PositiveNumber;

}  // namespace chunkllm::cli

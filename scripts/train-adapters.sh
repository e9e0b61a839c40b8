#!/usr/bin/env bash
# Trains (or resumes) the ChunkLLM adapters of the bundled demo backbone. Long: run it in the
# background; it checkpoints every 5 minutes and resumes exactly when started again.
#   STATE=/work/state/adapters bash scripts/train-adapters.sh   # then: tail -f $STATE/log
# MODEL defaults to models/demo-backbone.gguf; SEQ, STEPS, RANK, D_ADAPTER, CHUNK_HIDDEN, POS_WEIGHT,
# DISTANCE_BUCKETS (0: the paper's position-free chunk score), BOUNDARY_DELAY and
# BOUNDARY_INPUTS (0 and 1: the paper's Chunk Adapter, deciding from the token's own h_1; the
# default 1 and 2 reads the token and the next one: boundary F1 97.9 against 93.5 on the
# stage-8 backbone, models/README.md), QUERY_TARGET (token, the paper's, or served:
# `chunkllm train --query-target`), LENGTH_BIAS (the default 1 adds `--length-bias`: recall@8
# 80.5% against 69.7% without it on the stage-8 backbone, models/README.md; 0 is the paper's
# score), SCORE_GROUPS (`chunkllm train --score-groups`; 1, the paper's single softmax),
# CHUNK_KEY (the default mean keys a chunk by its tokens' mean feature: recall@8 85.3%
# against 84.5% for boundary, the paper's, on the stage-11 backbone, docs/benchmarks.md),
# TEACHER_TEMPERATURE and TOPK_LOSS_WEIGHT (`chunkllm train --teacher-temperature /
# --topk-loss-weight`; 1 and 0, the paper's KL alone: 0.5, 2 and a weight of 0.5 did no better
# on the stage-14 backbone, docs/benchmarks.md), SYNTHETIC_SAMPLES and THREADS override the
# defaults below; QUERY_DISTANCE (the default 1 adds `--query-distance`, a learned per-layer
# distance embedding dotted with the query: recall@8 87.3% against 86.1% without it on the
# stage-14 backbone, docs/benchmarks.md, session 19; 0 is the paper's score), QUERY_FEATURES
# (the default 1 adds `--query-features`: query-dependent log length and log token distance
# terms, +0.7 points of recall@8) and ROPE_DIMS / ROPE_BASE (`--adapter-rope-dims
# --adapter-rope-base`; the default 32 rotates half of the 64 features by position, base 10000:
# recall@8 90.5% against 88.0% with position-free features, session 20; 0 is the paper's
# position-free score). STEPS defaults to 1200
# (session 12, stage-11 backbone: recall@8 84.3% against 81.7% at 400 steps, ~14 min on two
# threads). The result is
# $STATE/demo-adapters.gguf (+ .report/ with report.json, loss.svg, recall.svg).
#
# The distillation data is the training prose plus (SYNTHETIC_SAMPLES=N > 0, default 7)
# synthetic retrieval documents of the kinds the backbone was pretrained on (passkey, needles,
# variable tracking; 384-1536 tokens, haystack from the training split, task seed 7: the
# evaluation's haystack is the test split; N=7 is about a quarter of the tokens). On prose
# alone the adapters never see a query that retrieves a needle. With them, and the inference
# rules --first-selection dense-step --layer-topk 1, ChunkLLM answers 27 of 30 suite samples
# against 18 for the prose-only adapters (29 with the default --layer-topk 4) (docs/benchmarks.md, session 13); SYNTHETIC_SAMPLES=0
# is the prose-only recipe (bundled until session 12).
set -euo pipefail
cd "$(dirname "$0")/.."
STATE=${STATE:-/work/state/adapters}
BIN=${BIN:-build/bin/chunkllm}
MODEL=${MODEL:-models/demo-backbone.gguf}
mkdir -p "$STATE"
[ -d data/corpus/train ] || bash scripts/fetch-data.sh
data=(data/corpus/train)
if [ "${SYNTHETIC_SAMPLES:-7}" -gt 0 ]; then
  syn="$STATE/synthetic-docs"
  if [ ! -d "$syn" ]; then
    "$BIN" eval -m "$MODEL" --task passkey,niah_single,niah_multikey,niah_multivalue,niah_multiquery,vt \
      --lengths 384,768,1152,1536 --depths 0,0.1,0.2,0.3,0.4,0.5,0.6,0.7,0.8,0.9,1 \
      --samples "${SYNTHETIC_SAMPLES:-7}" --seed 7 --haystack data/corpus/train --dump "$STATE/synthetic-tasks.jsonl"
    node scripts/tasks-to-docs.mjs "$STATE/synthetic-tasks.jsonl" "$syn"
  fi
  data+=("$syn")
fi
resume=""
[ -f "$STATE/demo-adapters.gguf.ckpt" ] && resume="--resume"
length=""
[ "${LENGTH_BIAS:-1}" = 1 ] && length="--length-bias"
qdist=""
[ "${QUERY_DISTANCE:-1}" = 1 ] && qdist="--query-distance"
qfeat=""
[ "${QUERY_FEATURES:-1}" = 1 ] && qfeat="--query-features"
exec "$BIN" train -m "$MODEL" --data "${data[@]}" --val data/corpus/validation \
  -o "$STATE/demo-adapters.gguf" --seq ${SEQ:-1024} --steps ${STEPS:-1200} --lr 2e-3 --min-lr 2e-4 --warmup 20 \
  --rank ${RANK:-64} --d-adapter ${D_ADAPTER:-192} --chunk-hidden ${CHUNK_HIDDEN:-256} --pos-weight ${POS_WEIGHT:-1} \
  --distance-buckets ${DISTANCE_BUCKETS:-16} --boundary-delay ${BOUNDARY_DELAY:-1} \
  --boundary-inputs ${BOUNDARY_INPUTS:-2} --query-target ${QUERY_TARGET:-token} --score-groups ${SCORE_GROUPS:-1} \
  --chunk-key ${CHUNK_KEY:-mean} \
  --adapter-rope-dims ${ROPE_DIMS:-32} --adapter-rope-base ${ROPE_BASE:-10000} \
  --teacher-temperature ${TEACHER_TEMPERATURE:-1} --topk-loss-weight ${TOPK_LOSS_WEIGHT:-0} \
  --val-windows 4 --val-every 40 \
  --local 2 --sink 4 --seed 1 --checkpoint-minutes 5 -t ${THREADS:-2} $length $qdist $qfeat $resume

// Counts of a binary decision against its labels (true/false positives, false negatives) and
// the precision, recall and F1 they give. Used for chunk boundaries, by training's validation
// (adapter_losses.h) and by `chunkllm chunks`.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>

namespace chunkllm {

struct PrecisionRecall {
  int64_t tp = 0, fp = 0, fn = 0;

  void Add(bool predicted, bool actual) {
    tp += predicted && actual, fp += predicted && !actual, fn += !predicted && actual;
  }
  PrecisionRecall& operator+=(const PrecisionRecall& o) {
    tp += o.tp, fp += o.fp, fn += o.fn;
    return *this;
  }
  // NaN where undefined: no predicted positives (precision), no actual ones (recall).
  double precision() const { return tp + fp ? double(tp) / double(tp + fp) : NAN; }
  double recall() const { return tp + fn ? double(tp) / double(tp + fn) : NAN; }
  // 2 tp / (2 tp + fp + fn); 0 when there is nothing to count.
  double f1() const { return 2.0 * double(tp) / double(std::max<int64_t>(1, 2 * tp + fp + fn)); }
};

}  // namespace chunkllm

#include "model/attention_op.h"

#include "core/error.h"
#include "model/split_kv_attention.h"

namespace chunkllm {

void CheckAttentionOperands(const char* op, const ggml_tensor* q, const ggml_tensor* k, const ggml_tensor* v,
                            const ggml_tensor* mask) {
  const int64_t Dh = q->ne[0], H = q->ne[1], T = q->ne[2];
  if (!SplitKvSupports(int(Dh))) Fail(op, ": head dim ", Dh, " is not a multiple of 16 up to 256");
  if (k->ne[0] != Dh || v->ne[0] != Dh || k->ne[1] != v->ne[1] || k->ne[2] != v->ne[2] || H % k->ne[2] != 0)
    Fail(op, ": k, v (", k->ne[0], ", ", k->ne[1], ", ", k->ne[2], ") do not fit q (", Dh, ", ", H, ", ", T, ")");
  for (const ggml_tensor* t : {k, v})
    if (t->type != GGML_TYPE_F32 && ggml_get_type_traits(t->type)->to_float == nullptr)
      Fail(op, ": cannot read a ", ggml_type_name(t->type), " cache");
  if (mask && (mask->type != GGML_TYPE_F16 || mask->ne[0] < k->ne[1] || mask->ne[1] < T))
    Fail(op, ": the mask must be f16 (n_kv, T)");
}

}  // namespace chunkllm

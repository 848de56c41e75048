// torch_w2v::sgns_block_step, the fused CPU step of skip-gram with negative sampling.
//
// One "block" per row of `contexts`: a centre word's context words (input vectors U) scored
// against its targets (output vectors V: column 0 the centre, label 1; then noise words,
// label 0). For each block, in parallel over the blocks, the op scores every (context, target)
// logit, then applies the SGD step to the block's rows at once, as pWord2Vec / HogBatch do:
// each touched row is read once and written once. Threads write shared rows without locks
// ("Hogwild", as word2vec and gensim do). Returns the summed loss of the block's logits before
// the update: softplus(s) - label * s (BCE with logits), the formula of
// torch_w2v.model.logit_losses.
#include <ATen/Parallel.h>
#include <ATen/core/Tensor.h>
#include <ATen/ops/empty.h>
#include <torch/library.h>

#include <algorithm>
#include <cmath>
#include <vector>

namespace torch_w2v {

namespace {

void check_ids(const at::Tensor& ids, int64_t rows, const char* name) {
  const int64_t* p = ids.data_ptr<int64_t>();
  const int64_t n = ids.numel();
  // one branch-free (vectorisable) pass: as unsigned, a negative id is out of range too
  bool bad = false;
  #pragma omp simd reduction(|:bad)
  for (int64_t i = 0; i < n; ++i) bad |= static_cast<uint64_t>(p[i]) >= static_cast<uint64_t>(rows);
  if (!bad) return;
  for (int64_t i = 0; i < n; ++i) {
    TORCH_CHECK(p[i] >= 0 && p[i] < rows, "sgns_block_step: ", name, " holds word id ", p[i],
                " at position ", i, ", outside the tables' ", rows, " rows");
  }
}

void check_inputs(const at::Tensor& in_w, const at::Tensor& out_w, const at::Tensor& contexts,
                  const at::Tensor& context_mask, const at::Tensor& targets,
                  const at::Tensor& target_mask) {
  const at::Tensor* all[] = {&in_w, &out_w, &contexts, &context_mask, &targets, &target_mask};
  for (const at::Tensor* t : all) {
    TORCH_CHECK(t->device().is_cpu(), "sgns_block_step runs on CPU tensors, got one on ",
                t->device());
    TORCH_CHECK(t->is_contiguous(), "sgns_block_step needs contiguous tensors");
  }
  TORCH_CHECK(in_w.scalar_type() == at::kFloat && out_w.scalar_type() == at::kFloat,
              "sgns_block_step: the tables must be float32, got ", in_w.scalar_type(), " and ",
              out_w.scalar_type());
  TORCH_CHECK(in_w.dim() == 2 && out_w.sizes() == in_w.sizes(),
              "sgns_block_step: the tables must be two matrices of one shape, got ",
              in_w.sizes(), " and ", out_w.sizes());
  TORCH_CHECK(contexts.scalar_type() == at::kLong && targets.scalar_type() == at::kLong,
              "sgns_block_step: word ids must be int64");
  TORCH_CHECK(context_mask.scalar_type() == at::kBool && target_mask.scalar_type() == at::kBool,
              "sgns_block_step: masks must be bool");
  TORCH_CHECK(contexts.dim() == 2 && targets.dim() == 2 &&
                  contexts.size(0) == targets.size(0),
              "sgns_block_step: contexts (B, C) and targets (B, T) must have one row per block, "
              "got ", contexts.sizes(), " and ", targets.sizes());
  TORCH_CHECK(context_mask.sizes() == contexts.sizes() && target_mask.sizes() == targets.sizes(),
              "sgns_block_step: each mask must have its ids' shape");
  check_ids(contexts, in_w.size(0), "contexts");
  check_ids(targets, in_w.size(0), "targets");
}

}  // namespace

at::Tensor sgns_block_step(at::Tensor& in_w, at::Tensor& out_w, const at::Tensor& contexts,
                           const at::Tensor& context_mask, const at::Tensor& targets,
                           const at::Tensor& target_mask, double lr) {
  check_inputs(in_w, out_w, contexts, context_mask, targets, target_mask);
  const int64_t B = contexts.size(0), C = contexts.size(1), T = targets.size(1);
  const int64_t d = in_w.size(1);
  float* U = in_w.data_ptr<float>();
  float* V = out_w.data_ptr<float>();
  const int64_t* ctx_p = contexts.data_ptr<int64_t>();
  const bool* cm_p = context_mask.data_ptr<bool>();
  const int64_t* tgt_p = targets.data_ptr<int64_t>();
  const bool* tm_p = target_mask.data_ptr<bool>();
  const float flr = static_cast<float>(lr);
  const int n_threads = at::get_num_threads();
  std::vector<double> losses(n_threads * 8, 0.0);  // padded against false sharing
  at::parallel_for(0, B, 64, [&](int64_t begin, int64_t end) {
    std::vector<float> g(C * T), weight(C * T), label(C * T, 0.f), step_u(C * d);
    for (int64_t i = 0; i < C; ++i) label[i * T] = 1.f;  // column 0: the centre word
    double loss = 0.0;
    for (int64_t b = begin; b < end; ++b) {
      const int64_t* c_ids = ctx_p + b * C;
      const bool* c_ok = cm_p + b * C;
      const int64_t* t_ids = tgt_p + b * T;
      const bool* t_ok = tm_p + b * T;
      // every (context, target) logit of the block; masked ones weighted 0
      for (int64_t i = 0; i < C; ++i) {
        const float* u = U + c_ids[i] * d;
        for (int64_t k = 0; k < T; ++k) {
          const bool ok = c_ok[i] && t_ok[k];
          weight[i * T + k] = ok ? 1.f : 0.f;
          float s = 0.f;
          if (ok) {
            const float* v = V + t_ids[k] * d;
            #pragma omp simd reduction(+:s)
            for (int64_t j = 0; j < d; ++j) s += u[j] * v[j];
          }
          g[i * T + k] = s;
        }
      }
      // sigmoid, loss and step in one vectorisable pass over the block's C * T logits; one
      // exp(-|s|) gives both sigmoid(s) and softplus(s) without overflow (log(1 + z) rather
      // than log1p(z): z lies in (0, 1], where it is as accurate, and the op 10% faster)
      float block_loss = 0.f;
      #pragma omp simd reduction(+:block_loss)
      for (int64_t e = 0; e < C * T; ++e) {
        const float s = g[e];
        const float z = std::exp(-std::fabs(s));
        const float f = s >= 0.f ? 1.f / (1.f + z) : z / (1.f + z);
        block_loss += weight[e] * (std::log(1.f + z) + std::max(s, 0.f) - label[e] * s);
        g[e] = weight[e] * (label[e] - f) * flr;
      }
      loss += block_loss;
      // step for the context rows, from the targets' vectors before they move
      for (int64_t i = 0; i < C; ++i) {
        float* su = step_u.data() + i * d;
        for (int64_t j = 0; j < d; ++j) su[j] = 0.f;
        if (!c_ok[i]) continue;
        for (int64_t k = 0; k < T; ++k) {
          const float gk = g[i * T + k];
          if (gk == 0.f) continue;
          const float* v = V + t_ids[k] * d;
          #pragma omp simd
          for (int64_t j = 0; j < d; ++j) su[j] += gk * v[j];
        }
      }
      // targets move along the context vectors (still unchanged)
      for (int64_t k = 0; k < T; ++k) {
        if (!t_ok[k]) continue;
        float* v = V + t_ids[k] * d;
        for (int64_t i = 0; i < C; ++i) {
          const float gk = g[i * T + k];
          if (gk == 0.f) continue;
          const float* u = U + c_ids[i] * d;
          #pragma omp simd
          for (int64_t j = 0; j < d; ++j) v[j] += gk * u[j];
        }
      }
      for (int64_t i = 0; i < C; ++i) {
        if (!c_ok[i]) continue;
        float* u = U + c_ids[i] * d;
        const float* su = step_u.data() + i * d;
        #pragma omp simd
        for (int64_t j = 0; j < d; ++j) u[j] += su[j];
      }
    }
    losses[at::get_thread_num() * 8] += loss;
  });
  double total = 0.0;
  for (double l : losses) total += l;
  at::Tensor result = at::empty({}, at::TensorOptions().dtype(at::kDouble));
  *result.data_ptr<double>() = total;
  return result;
}

TORCH_LIBRARY(torch_w2v, m) {
  m.def(
      "sgns_block_step(Tensor(a!) input_vectors, Tensor(b!) output_vectors, Tensor contexts, "
      "Tensor context_mask, Tensor targets, Tensor target_mask, float lr) -> Tensor");
}

TORCH_LIBRARY_IMPL(torch_w2v, CPU, m) { m.impl("sgns_block_step", &sgns_block_step); }

}  // namespace torch_w2v

"""A fused CPU step: one C++ PyTorch op that scores and updates each block in place.

The batched PyTorch step (:meth:`torch_w2v.model.SkipGramNS.sgd_step`) moves every gathered row
through memory five times (gather, score, two gradient products, scatter). This op reads each
touched row once and writes it once: for each block, in parallel over the ``workers`` threads,
it scores the block's context words against its targets, then applies the SGD step to the rows
at once, as pWord2Vec / HogBatch do. Threads write shared rows without locks ("Hogwild", as
word2vec and gensim do), so with more than one thread the result varies at rounding level from
run to run; with one thread it is bit-for-bit reproducible.

The op is compiled on first use with ``torch.utils.cpp_extension.load_inline`` (needs a C++
compiler and ninja; about a minute, then cached in ``$TORCH_EXTENSIONS_DIR``). Where that fails,
:func:`load_kernel` returns None and training falls back to the batched PyTorch step.
"""
from __future__ import annotations

import logging
import os
import threading

__all__ = ["load_kernel"]

logger = logging.getLogger("torch_w2v")

_SOURCE = r"""
#include <torch/extension.h>
#include <ATen/Parallel.h>
#include <cmath>
#include <vector>

// One pWord2Vec block step per row of `contexts`; returns the summed SGNS loss (before update).
double sgns_block_step(torch::Tensor in_w, torch::Tensor out_w, torch::Tensor contexts,
                       torch::Tensor context_mask, torch::Tensor targets,
                       torch::Tensor target_mask, double lr) {
  TORCH_CHECK(in_w.is_contiguous() && out_w.is_contiguous(), "tables must be contiguous");
  const int64_t B = contexts.size(0), C = contexts.size(1), T = targets.size(1);
  const int64_t d = in_w.size(1);
  float* U = in_w.data_ptr<float>();
  float* V = out_w.data_ptr<float>();
  auto ctx = contexts.contiguous(); auto cm = context_mask.contiguous();
  auto tgt = targets.contiguous(); auto tm = target_mask.contiguous();
  const int64_t* ctx_p = ctx.data_ptr<int64_t>();
  const bool* cm_p = cm.data_ptr<bool>();
  const int64_t* tgt_p = tgt.data_ptr<int64_t>();
  const bool* tm_p = tm.data_ptr<bool>();
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
      // scores of every (context, target) logit of the block, masked ones weighted 0
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
      // sigmoid, loss and step in one vectorisable pass over the block's C * T logits
      float block_loss = 0.f;
      #pragma omp simd reduction(+:block_loss)
      for (int64_t e = 0; e < C * T; ++e) {
        const float f = 1.f / (1.f + std::exp(-g[e]));
        const float likelihood = label[e] > 0.f ? f : 1.f - f;
        block_loss -= weight[e] * std::log(std::max(likelihood, 1e-7f));
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
  return total;
}

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  // the GIL is released while a step runs, so Python threads (corpus reading) overlap with it
  m.def("sgns_block_step", &sgns_block_step, "fused SGNS block step",
        py::call_guard<py::gil_scoped_release>());
}
"""

_lock = threading.Lock()
_state: dict = {}


def load_kernel():
    """The compiled op module, or None where it cannot be built (the reason is logged once)."""
    with _lock:
        if "module" not in _state:
            _state["module"] = _build()
        return _state["module"]


def _ninja_on_path() -> None:
    """torch's extension builder runs ``ninja`` from PATH; the ninja package (a dependency)
    installs it beside the interpreter, which is not on PATH when a venv is not activated."""
    try:
        import ninja
    except ImportError:  # a system ninja may still be there
        return
    path = os.environ.get("PATH", "")
    if ninja.BIN_DIR not in path.split(os.pathsep):
        os.environ["PATH"] = ninja.BIN_DIR + os.pathsep + path


def _build():
    try:
        from torch.utils.cpp_extension import load_inline

        _ninja_on_path()
        return load_inline(
            name="torch_w2v_sgns_v3",
            cpp_sources=_SOURCE,
            extra_cflags=["-O3", "-march=native", "-fopenmp"],
            extra_ldflags=["-fopenmp"],
            verbose=False,
        )
    except Exception as err:  # no compiler, no ninja, read-only cache, ...
        logger.warning("torch_w2v: fused CPU kernel unavailable (%s: %s); using the batched "
                       "PyTorch step", type(err).__name__, str(err).splitlines()[0][:200])
        return None

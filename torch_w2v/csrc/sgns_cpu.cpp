// torch_w2v::sgns_train_chunk, the fused CPU trainer of skip-gram with negative sampling.
//
// It trains one chunk of encoded text the way word2vec's threads do: `threads` workers (this
// call's own, sized per call: no process-wide setting) take pieces of the chunk, in a shuffled
// order, from a shared counter, so a worker that the OS deschedules delays only its piece, and
// each worker samples and trains its pieces itself: subsampling, a dynamic window, noise words, then one block per
// centre word. A block scores the centre's context words (input vectors U) against its targets
// (output vectors V: column 0 the centre, label 1; then noise words, label 0) and applies the
// SGD step to the block's rows at once, as pWord2Vec / HogBatch do: each touched row is read
// once and written once. Workers write shared rows without locks ("Hogwild", as word2vec and
// gensim do).
//
// Every random draw is a function of (seed, token position): which tokens subsampling keeps,
// each centre's window and noise words. So the blocks do not depend on how the chunk is split
// into pieces or on the number of workers; with one worker the result is bit-for-bit
// reproducible. The loss of a logit s is softplus(s) - label * s (BCE with logits), the formula
// of torch_w2v.model.logit_losses.
#include <ATen/core/Tensor.h>
#include <ATen/ops/empty.h>
#include <torch/library.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

namespace torch_w2v {

namespace {

constexpr int64_t kPieceTokens = 2048;  // work unit of a worker
constexpr uint64_t kGolden = 0x9E3779B97F4A7C15ull;

inline uint64_t mix(uint64_t z) {  // splitmix64's finaliser
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

// A splitmix64 stream; one per centre word, keyed by the chunk's seed and the position.
struct Stream {
  uint64_t state;
  explicit Stream(uint64_t key) : state(mix(key)) {}
  uint64_t next() { return mix(state += kGolden); }
  float uniform() { return static_cast<float>(next() >> 40) * 0x1.0p-24f; }  // [0, 1)
  int64_t below(int64_t n) {  // [0, n)
    return static_cast<int64_t>((static_cast<unsigned __int128>(next()) * n) >> 64);
  }
};

struct Config {
  const int32_t* ids;
  const int64_t* sentence;
  int64_t n;
  const float* keep;
  const int64_t* noise_values;
  const float* noise_accept;
  const int64_t* noise_alias;
  int64_t noise_size;
  int64_t window, negative, d;
  bool shrink_windows, subsample_slots, full_windows_only;
  uint64_t seed;
  float lr_start, lr_end;
  float* U;
  float* V;
};

// word2vec's subsampling decision for the token at `pos`, the same whichever worker asks
bool kept(const Config& c, int64_t pos) {
  const float u = static_cast<float>(mix(c.seed ^ mix(static_cast<uint64_t>(pos) + kGolden)) >> 40) *
                  0x1.0p-24f;
  return u < c.keep[c.ids[pos]];
}

struct alignas(64) Totals {  // one cache line per worker
  double loss = 0.0;
  double pairs = 0.0;
};

// One worker's scratch space for a block of at most 2 * window contexts.
struct Block {
  std::vector<int64_t> ctx, tgt, kept_pos;
  std::vector<char> tgt_ok;
  std::vector<float> g, weight, label, step_u;
  Block(int64_t window, int64_t negative, int64_t d)
      : ctx(2 * window), tgt(1 + negative), tgt_ok(1 + negative),
        g(2 * window * (1 + negative)), weight(g.size()), label(g.size(), 0.f),
        step_u(2 * window * d) {
    for (int64_t i = 0; i < 2 * window; ++i) label[i * (1 + negative)] = 1.f;  // the centre
  }
};

// Score the block's C contexts against its T targets and apply the SGD step in place; returns
// the loss before the update.
double train_block(const Config& c, Block& b, int64_t C, float lr) {
  const int64_t T = 1 + c.negative, d = c.d;
  float* g = b.g.data();
  const float* label = b.label.data();
  float* weight = b.weight.data();
  for (int64_t i = 0; i < C; ++i) {
    const float* u = c.U + b.ctx[i] * d;
    for (int64_t k = 0; k < T; ++k) {
      float s = 0.f;
      weight[i * T + k] = b.tgt_ok[k] ? 1.f : 0.f;
      if (b.tgt_ok[k]) {
        const float* v = c.V + b.tgt[k] * d;
        #pragma omp simd reduction(+:s)
        for (int64_t j = 0; j < d; ++j) s += u[j] * v[j];
      }
      g[i * T + k] = s;
    }
  }
  // sigmoid, loss and step in one vectorisable pass over the C * T logits; one exp(-|s|)
  // gives both sigmoid(s) and softplus(s) without overflow (log(1 + z) rather than
  // log1p(z): z lies in (0, 1], where it is as accurate, and the op 10% faster)
  float loss = 0.f;
  #pragma omp simd reduction(+:loss)
  for (int64_t e = 0; e < C * T; ++e) {
    const float s = g[e];
    const float z = std::exp(-std::fabs(s));
    const float f = s >= 0.f ? 1.f / (1.f + z) : z / (1.f + z);
    loss += weight[e] * (std::log(1.f + z) + std::max(s, 0.f) - label[e] * s);
    g[e] = weight[e] * (label[e] - f) * lr;
  }
  // step for the context rows, from the targets' vectors before they move
  for (int64_t i = 0; i < C; ++i) {
    float* su = b.step_u.data() + i * d;
    for (int64_t j = 0; j < d; ++j) su[j] = 0.f;
    for (int64_t k = 0; k < T; ++k) {
      const float gk = g[i * T + k];
      if (gk == 0.f) continue;
      const float* v = c.V + b.tgt[k] * d;
      #pragma omp simd
      for (int64_t j = 0; j < d; ++j) su[j] += gk * v[j];
    }
  }
  // targets move along the context vectors (still unchanged)
  for (int64_t k = 0; k < T; ++k) {
    if (!b.tgt_ok[k]) continue;
    float* v = c.V + b.tgt[k] * d;
    for (int64_t i = 0; i < C; ++i) {
      const float gk = g[i * T + k];
      if (gk == 0.f) continue;
      const float* u = c.U + b.ctx[i] * d;
      #pragma omp simd
      for (int64_t j = 0; j < d; ++j) v[j] += gk * u[j];
    }
  }
  for (int64_t i = 0; i < C; ++i) {
    float* u = c.U + b.ctx[i] * d;
    const float* su = b.step_u.data() + i * d;
    #pragma omp simd
    for (int64_t j = 0; j < d; ++j) u[j] += su[j];
  }
  return loss;
}

// The centre's targets: itself, then `negative` noise words (one equal to it is skipped).
void draw_targets(const Config& c, Block& b, int64_t centre, Stream& rng) {
  b.tgt[0] = centre;
  b.tgt_ok[0] = 1;
  for (int64_t k = 1; k <= c.negative; ++k) {
    const int64_t slot = rng.below(c.noise_size);
    const int64_t word = rng.uniform() < c.noise_accept[slot] ? c.noise_values[slot]
                                                               : c.noise_alias[slot];
    b.tgt[k] = word;
    b.tgt_ok[k] = word != centre;
  }
}

float learning_rate(const Config& c, int64_t pos) {
  return c.lr_start + (c.lr_end - c.lr_start) * static_cast<float>(pos) / static_cast<float>(c.n);
}

int64_t reach_of(const Config& c, Stream& rng) {
  return c.shrink_windows && c.window > 1 ? 1 + rng.below(c.window) : c.window;
}

// word2vec's layout: subsampled tokens are removed before windowing, so a window spans the
// `reach` nearest kept tokens of the centre's sentence on each side.
void train_piece_dropping(const Config& c, int64_t begin, int64_t end, Block& b, Totals& t) {
  // kept tokens of the piece and of a margin on each side wide enough for any window
  std::vector<int64_t>& kept_pos = b.kept_pos;
  kept_pos.clear();
  int64_t first = begin, found = 0;
  while (first > 0 && found < c.window && c.sentence[first - 1] == c.sentence[begin]) {
    --first;
    found += kept(c, first);
  }
  int64_t last = end;  // exclusive
  found = 0;
  while (last < c.n && found < c.window && c.sentence[last] == c.sentence[end - 1]) {
    found += kept(c, last);
    ++last;
  }
  for (int64_t p = first; p < last; ++p)
    if (kept(c, p)) kept_pos.push_back(p);
  const int64_t K = static_cast<int64_t>(kept_pos.size());
  for (int64_t ci = 0; ci < K; ++ci) {
    const int64_t pos = kept_pos[ci];
    if (pos < begin || pos >= end) continue;  // margin: another piece's centre
    Stream rng(c.seed ^ (static_cast<uint64_t>(pos) * kGolden));
    const int64_t reach = reach_of(c, rng);
    const int64_t sent = c.sentence[pos];
    int64_t C = 0;
    for (int64_t o = -reach; o <= reach; ++o) {
      const int64_t j = ci + o;
      if (o == 0 || j < 0 || j >= K || c.sentence[kept_pos[j]] != sent) continue;
      b.ctx[C++] = c.ids[kept_pos[j]];
    }
    if (C == 0 || (c.full_windows_only && C < 2 * reach)) continue;
    const int64_t centre = c.ids[pos];
    draw_targets(c, b, centre, rng);
    t.loss += train_block(c, b, C, learning_rate(c, pos));
    t.pairs += C;
  }
}

// The original tutorial's layout: tokens stay in the text, and the centre and each context slot
// are kept with their words' probabilities, independently.
void train_piece_slots(const Config& c, int64_t begin, int64_t end, Block& b, Totals& t) {
  for (int64_t pos = begin; pos < end; ++pos) {
    Stream rng(c.seed ^ (static_cast<uint64_t>(pos) * kGolden));
    const int64_t reach = reach_of(c, rng);
    const int64_t sent = c.sentence[pos];
    int64_t C = 0, in_window = 0;
    for (int64_t o = -reach; o <= reach; ++o) {
      const int64_t j = pos + o;
      if (o == 0 || j < 0 || j >= c.n || c.sentence[j] != sent) continue;
      ++in_window;
      if (rng.uniform() < c.keep[c.ids[j]]) b.ctx[C++] = c.ids[j];
    }
    const bool window_ok = c.full_windows_only ? in_window == 2 * reach : in_window > 0;
    const bool centre_kept = rng.uniform() < c.keep[c.ids[pos]];
    if (!window_ok || !centre_kept || C == 0) continue;
    const int64_t centre = c.ids[pos];
    draw_targets(c, b, centre, rng);
    t.loss += train_block(c, b, C, learning_rate(c, pos));
    t.pairs += C;
  }
}

template <typename Id>
void check_ids(const Id* p, int64_t n, int64_t rows, const char* name) {
  // one branch-free (vectorisable) pass: as unsigned, a negative id is out of range too
  bool bad = false;
  #pragma omp simd reduction(|:bad)
  for (int64_t i = 0; i < n; ++i)
    bad |= static_cast<uint64_t>(static_cast<int64_t>(p[i])) >= static_cast<uint64_t>(rows);
  if (!bad) return;
  for (int64_t i = 0; i < n; ++i) {
    TORCH_CHECK(p[i] >= 0 && p[i] < rows, "sgns_train_chunk: ", name, " holds word id ", p[i],
                " at position ", i, ", outside the tables' ", rows, " rows");
  }
}

void check_tensor(const at::Tensor& t, at::ScalarType type, const char* name) {
  TORCH_CHECK(t.device().is_cpu(), "sgns_train_chunk runs on CPU tensors, but ", name,
              " is on ", t.device());
  TORCH_CHECK(t.scalar_type() == type, "sgns_train_chunk: ", name, " must be ", type, ", got ",
              t.scalar_type());
  TORCH_CHECK(t.is_contiguous(), "sgns_train_chunk: ", name, " must be contiguous");
}

}  // namespace

at::Tensor sgns_train_chunk(at::Tensor& in_w, at::Tensor& out_w, const at::Tensor& ids,
                            const at::Tensor& sentence, const at::Tensor& keep_prob,
                            const at::Tensor& noise_values, const at::Tensor& noise_accept,
                            const at::Tensor& noise_alias, int64_t window, int64_t negative,
                            bool shrink_windows, bool subsample_slots, bool full_windows_only,
                            int64_t seed, double lr_start, double lr_end, int64_t threads) {
  check_tensor(in_w, at::kFloat, "input_vectors");
  check_tensor(out_w, at::kFloat, "output_vectors");
  check_tensor(ids, at::kInt, "ids");
  check_tensor(sentence, at::kLong, "sentence");
  check_tensor(keep_prob, at::kFloat, "keep_prob");
  check_tensor(noise_values, at::kLong, "noise_values");
  check_tensor(noise_accept, at::kFloat, "noise_accept");
  check_tensor(noise_alias, at::kLong, "noise_alias");
  TORCH_CHECK(in_w.dim() == 2 && out_w.sizes() == in_w.sizes(),
              "sgns_train_chunk: the tables must be two matrices of one shape, got ",
              in_w.sizes(), " and ", out_w.sizes());
  const int64_t rows = in_w.size(0);
  TORCH_CHECK(ids.dim() == 1 && sentence.sizes() == ids.sizes(),
              "sgns_train_chunk: ids and sentence must be 1-D and of one length, got ",
              ids.sizes(), " and ", sentence.sizes());
  TORCH_CHECK(keep_prob.dim() == 1 && keep_prob.size(0) == rows,
              "sgns_train_chunk: keep_prob must hold one probability per table row");
  TORCH_CHECK(noise_values.dim() == 1 && noise_values.size(0) > 0 &&
                  noise_accept.sizes() == noise_values.sizes() &&
                  noise_alias.sizes() == noise_values.sizes(),
              "sgns_train_chunk: the noise tables must be three non-empty 1-D tensors of one "
              "length");
  TORCH_CHECK(window >= 1 && negative >= 0 && threads >= 1,
              "sgns_train_chunk: window and threads must be >= 1 and negative >= 0");
  const int64_t n = ids.numel();
  check_ids(ids.data_ptr<int32_t>(), n, rows, "ids");
  check_ids(noise_values.data_ptr<int64_t>(), noise_values.numel(), rows, "noise_values");
  check_ids(noise_alias.data_ptr<int64_t>(), noise_alias.numel(), rows, "noise_alias");

  Config c{ids.data_ptr<int32_t>(), sentence.data_ptr<int64_t>(), n,
           keep_prob.data_ptr<float>(), noise_values.data_ptr<int64_t>(),
           noise_accept.data_ptr<float>(), noise_alias.data_ptr<int64_t>(), noise_values.numel(),
           window, negative, in_w.size(1), shrink_windows, subsample_slots, full_windows_only,
           mix(static_cast<uint64_t>(seed)), static_cast<float>(lr_start),
           static_cast<float>(lr_end), in_w.data_ptr<float>(), out_w.data_ptr<float>()};
  const int64_t pieces = (n + kPieceTokens - 1) / kPieceTokens;
  // The pieces are trained in a shuffled order: strictly in corpus order, a word's updates come
  // in runs from neighbouring text, and WordSim353 fell by 0.01-0.04 on two corpora (measured;
  // a local shuffle like this one, or the batched layout's passes by window size, restores it).
  std::vector<int64_t> order(pieces);
  for (int64_t p = 0; p < pieces; ++p) order[p] = p;
  Stream shuffle(c.seed ^ 0x5EEDF00Dull);
  for (int64_t p = pieces - 1; p > 0; --p) std::swap(order[p], order[shuffle.below(p + 1)]);
  std::atomic<int64_t> next{0};
  std::vector<Totals> totals(threads);
  std::exception_ptr failure;
  std::mutex failure_lock;
  auto work = [&](int64_t worker) {
    try {
      Block block(window, negative, c.d);
      Totals& t = totals[worker];
      for (int64_t p = next++; p < pieces; p = next++) {
        const int64_t begin = order[p] * kPieceTokens, end = std::min(n, begin + kPieceTokens);
        if (subsample_slots)
          train_piece_slots(c, begin, end, block, t);
        else
          train_piece_dropping(c, begin, end, block, t);
      }
    } catch (...) {
      std::lock_guard<std::mutex> guard(failure_lock);
      if (!failure) failure = std::current_exception();
      next = pieces;
    }
  };
  const int64_t helpers = std::min<int64_t>(threads, std::max<int64_t>(pieces, 1)) - 1;
  std::vector<std::thread> pool;
  pool.reserve(helpers);
  for (int64_t w = 1; w <= helpers; ++w) pool.emplace_back(work, w);
  work(0);
  for (auto& thread : pool) thread.join();
  if (failure) std::rethrow_exception(failure);

  at::Tensor result = at::empty({2}, at::TensorOptions().dtype(at::kDouble));
  double* out = result.data_ptr<double>();
  out[0] = out[1] = 0.0;
  for (const Totals& t : totals) {
    out[0] += t.loss;
    out[1] += t.pairs;
  }
  return result;
}

TORCH_LIBRARY(torch_w2v, m) {
  m.def(
      "sgns_train_chunk(Tensor(a!) input_vectors, Tensor(b!) output_vectors, Tensor ids, "
      "Tensor sentence, Tensor keep_prob, Tensor noise_values, Tensor noise_accept, "
      "Tensor noise_alias, int window, int negative, bool shrink_windows, "
      "bool subsample_slots, bool full_windows_only, int seed, float lr_start, float lr_end, "
      "int threads) -> Tensor");
}

TORCH_LIBRARY_IMPL(torch_w2v, CPU, m) { m.impl("sgns_train_chunk", &sgns_train_chunk); }

}  // namespace torch_w2v

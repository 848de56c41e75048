// torch_w2v::train_chunk, the fused CPU trainer of word2vec: skip-gram or CBOW, with negative
// sampling, hierarchical softmax or both (torch_w2v/modes.py).
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
#include <cstring>
#include <exception>
#include <mutex>
#include <optional>
#include <thread>
#include <type_traits>
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
  const int64_t* hs_points;  // (V, depth) inner nodes of each word's path, root first
  const int8_t* hs_codes;    // (V, depth) the branch taken at each
  const int64_t* hs_lengths;
  int64_t depth, hs_offset;
  int64_t window, negative, d;
  bool hs, cbow, cbow_mean;
  bool shrink_windows, subsample_slots, full_windows_only;
  uint64_t seed;
  float lr_start, lr_end;
  void* U;  // float32 or bfloat16 (bf16 set) rows of d values
  void* V;
  bool bf16;
  const float* lockf;  // per-word (or one) scale of input-vector steps; lockf_size 0: none
  int64_t lockf_size;
};

// word2vec's subsampling decision for the token at `pos`, the same whichever worker asks
bool kept(const Config& c, int64_t pos) {
  const float u = static_cast<float>(mix(c.seed ^ mix(static_cast<uint64_t>(pos) + kGolden)) >> 40) *
                  0x1.0p-24f;
  return u < c.keep[c.ids[pos]];
}

// exp(x) for x <= 0 and log(1 + z) for z in [0, 1], as plain arithmetic the compiler
// vectorises (libm's calls are not, without -ffast-math, which would hide NaN): relative error
// below 3e-7 (measured over the whole range), ample for a sigmoid and a reported loss.
inline float exp_nonpositive(float x) {
  x = x < -87.f ? -87.f : x;                                  // keeps 2^k a normal float
  const float k = (x * 1.44269504088896341f + 12582912.f) - 12582912.f;  // round(x / ln 2)
  // exp(x) = 2^k exp(f), f = x - k ln 2 in two parts (Cody-Waite), |f| <= ln 2 / 2
  const float f = x - k * 0.693145751953125f - k * 1.428606765330187e-06f;
  const float p = 1.f + f * (1.f + f * (0.5f + f * (1.f / 6 + f * (1.f / 24 + f * (1.f / 120 +
                  f * (1.f / 720 + f * (1.f / 5040)))))));
  const int32_t bits = (static_cast<int32_t>(k) + 127) << 23;
  float scale;
  std::memcpy(&scale, &bits, sizeof scale);
  return p * scale;
}

inline float log1p_unit(float z) {  // log(1 + z) = 2 atanh(z / (2 + z)), z / (2 + z) <= 1/3
  const float u = z / (2.f + z), u2 = u * u;
  return 2.f * u * (1.f + u2 * (1.f / 3 + u2 * (1.f / 5 + u2 * (1.f / 7 + u2 * (1.f / 9 +
         u2 * (1.f / 11 + u2 * (1.f / 13)))))));
}

// Table storage: float32, or bfloat16 (the upper 16 bits of a float32) for half the memory. A
// row is read as float32, updated in float32 and written back; a bfloat16 write rounds
// stochastically (up with probability of the cut bits' share of a unit), so that the expected
// stored value is the float32 one: rounding to nearest would drop every step below half a unit
// in the last place (2^-9 of the value), which late in training is most of them.
using bf16_t = uint16_t;
inline float load(const float* p) { return *p; }
inline float load(const bf16_t* p) {
  const uint32_t bits = static_cast<uint32_t>(*p) << 16;
  float x;
  std::memcpy(&x, &bits, sizeof x);
  return x;
}
inline void store(float* p, float x, uint32_t) { *p = x; }
inline void store(bf16_t* p, float x, uint32_t noise) {  // noise < 2^16
  uint32_t bits;
  std::memcpy(&bits, &x, sizeof bits);
  *p = static_cast<bf16_t>((bits + noise) >> 16);
}
// 16 random bits from a counter: Fibonacci hashing's multiply, its top half. One multiply
// (vectorised): consecutive counters give evenly spread values, and each row's counter starts
// at a random point.
inline uint32_t noise_bits(uint32_t x) { return (x * 0x9E3779B1u) >> 16; }
constexpr uint32_t kRowSalt = 0x632BE5ABu;  // odd: spreads the rows' noise counters apart

struct alignas(64) Totals {  // one cache line per worker
  double loss = 0.0;
  double pairs = 0.0;
  double effective = 0.0;  // in-vocabulary words subsampling kept (gensim's "effective words")
};

// One worker's scratch space for a block of at most `contexts` contexts and `targets` targets.
struct Block {
  std::vector<int64_t> ctx, tgt, kept_pos;
  std::vector<char> tgt_ok;
  std::vector<float> tgt_label, g, weight, label, step_u, hidden, error, row;
  std::vector<float> ctx_copy, tgt_copy;  // bfloat16 tables: the block's rows as float32
  std::vector<const float*> ctx_rows, tgt_rows;
  Block(int64_t contexts, int64_t targets, int64_t d, bool bf16)
      : ctx(contexts), tgt(targets), tgt_ok(targets), tgt_label(targets),
        g(contexts * targets), weight(g.size()), label(g.size()), step_u(contexts * d),
        hidden(d), error(d), row(d), ctx_copy(bf16 ? contexts * d : 0),
        tgt_copy(bf16 ? targets * d : 0), ctx_rows(contexts), tgt_rows(targets) {}
};

// The rows `ids[0..n)` of `table` as float32, for reading: the table's own rows (float32
// storage), or copies converted once (bfloat16: a skip-gram block reads each row C or T times).
template <typename S>
const float* const* read_rows(S* table, const int64_t* ids, int64_t n, int64_t d,
                              std::vector<float>& copy, std::vector<const float*>& rows) {
  for (int64_t r = 0; r < n; ++r) {
    if constexpr (std::is_same_v<S, float>) {
      rows[r] = table + ids[r] * d;
    } else {
      float* dst = copy.data() + r * d;
      const S* src = table + ids[r] * d;
      #pragma omp simd
      for (int64_t j = 0; j < d; ++j) dst[j] = load(src + j);
      rows[r] = dst;
    }
  }
  return rows.data();
}

// The most context words a block of this chunk can hold: 2 * window, and one fewer than the
// longest sentence (a window never leaves its sentence), so that window=10**6 on short
// sentences sizes the scratch by the sentences.
int64_t most_contexts(const Config& c) {
  int64_t longest = 0, run = 0;
  for (int64_t p = 0; p < c.n; ++p) {
    run = p > 0 && c.sentence[p] == c.sentence[p - 1] ? run + 1 : 1;
    longest = std::max(longest, run);
  }
  return std::max<int64_t>(1, std::min(2 * c.window, longest - 1));
}

// gensim's vectors_lockf: how much of its step a word's input vector takes (0: frozen); one
// value for every word, or one per word
inline float lock_of(const Config& c, int64_t word) {
  return c.lockf_size == 0 ? 1.f : c.lockf[word % c.lockf_size];
}

// Skip-gram: score the block's C contexts against its T targets and apply the SGD step in
// place; returns the loss before the update. S: the tables' storage (float or bf16_t); `salt`
// seeds a bfloat16 write's rounding.
template <typename S>
double train_block_sg(const Config& c, Block& b, int64_t C, int64_t T, float lr, uint32_t salt) {
  S* const U = static_cast<S*>(c.U);
  S* const V = static_cast<S*>(c.V);
  const int64_t d = c.d;
  float* g = b.g.data();
  float* label = b.label.data();
  float* weight = b.weight.data();
  // the rows before the block's update: what scores and steps are computed from
  const float* const* ctx_rows = read_rows(U, b.ctx.data(), C, d, b.ctx_copy, b.ctx_rows);
  const float* const* tgt_rows = read_rows(V, b.tgt.data(), T, d, b.tgt_copy, b.tgt_rows);
  for (int64_t i = 0; i < C; ++i) {
    const float* u = ctx_rows[i];
    for (int64_t k = 0; k < T; ++k) {
      float s = 0.f;
      weight[i * T + k] = b.tgt_ok[k] ? 1.f : 0.f;
      label[i * T + k] = b.tgt_label[k];
      if (b.tgt_ok[k]) {
        const float* v = tgt_rows[k];
        #pragma omp simd reduction(+:s)
        for (int64_t j = 0; j < d; ++j) s += u[j] * v[j];
      }
      g[i * T + k] = s;
    }
  }
  // sigmoid, loss and step in one vectorised pass over the C * T logits; one exp(-|s|)
  // gives both sigmoid(s) and softplus(s) without overflow
  float loss = 0.f;
  #pragma omp simd reduction(+:loss)
  for (int64_t e = 0; e < C * T; ++e) {
    const float s = g[e];
    const float z = exp_nonpositive(-std::fabs(s));
    const float f = s >= 0.f ? 1.f / (1.f + z) : z / (1.f + z);
    loss += weight[e] * (log1p_unit(z) + std::max(s, 0.f) - label[e] * s);
    g[e] = weight[e] * (label[e] - f) * lr;
  }
  // step for the context rows, from the targets' vectors before they move
  for (int64_t i = 0; i < C; ++i) {
    float* su = b.step_u.data() + i * d;
    for (int64_t j = 0; j < d; ++j) su[j] = 0.f;
    for (int64_t k = 0; k < T; ++k) {
      const float gk = g[i * T + k];
      if (gk == 0.f) continue;
      const float* v = tgt_rows[k];
      #pragma omp simd
      for (int64_t j = 0; j < d; ++j) su[j] += gk * v[j];
    }
  }
  // targets move along the context vectors (still unchanged): a float32 row in place, a
  // bfloat16 one summed in float32 and written once
  for (int64_t k = 0; k < T; ++k) {
    if (!b.tgt_ok[k]) continue;
    S* v = V + b.tgt[k] * d;
    float* row = b.row.data();
    if constexpr (std::is_same_v<S, float>) {
      row = v;
    } else {
      for (int64_t j = 0; j < d; ++j) row[j] = load(v + j);
    }
    for (int64_t i = 0; i < C; ++i) {
      const float gk = g[i * T + k];
      if (gk == 0.f) continue;
      const float* u = ctx_rows[i];
      #pragma omp simd
      for (int64_t j = 0; j < d; ++j) row[j] += gk * u[j];
    }
    if constexpr (!std::is_same_v<S, float>) {
      const uint32_t key = salt + static_cast<uint32_t>(k) * kRowSalt;
      #pragma omp simd
      for (int64_t j = 0; j < d; ++j)
        store(v + j, row[j], noise_bits(key + static_cast<uint32_t>(j)));
    }
  }
  for (int64_t i = 0; i < C; ++i) {
    S* u = U + b.ctx[i] * d;
    const float* su = b.step_u.data() + i * d;
    const float lock = lock_of(c, b.ctx[i]);
    if (lock == 0.f) continue;
    const uint32_t key = ~salt + static_cast<uint32_t>(i) * kRowSalt;
    #pragma omp simd
    for (int64_t j = 0; j < d; ++j)
      store(u + j, load(u + j) + lock * su[j], noise_bits(key + static_cast<uint32_t>(j)));
  }
  return loss;
}

// CBOW: score the hidden vector (mean or sum of the C contexts) against the T targets, move the
// targets along it, and hand the error to every context word; returns the loss.
template <typename S>
double train_block_cbow(const Config& c, Block& b, int64_t C, int64_t T, float lr, uint32_t salt) {
  S* const U = static_cast<S*>(c.U);
  S* const V = static_cast<S*>(c.V);
  const int64_t d = c.d;
  float* h = b.hidden.data();
  float* err = b.error.data();
  for (int64_t j = 0; j < d; ++j) h[j] = 0.f;
  for (int64_t i = 0; i < C; ++i) {
    const S* u = U + b.ctx[i] * d;
    #pragma omp simd
    for (int64_t j = 0; j < d; ++j) h[j] += load(u + j);
  }
  if (c.cbow_mean) {
    const float inv = 1.f / static_cast<float>(C);
    for (int64_t j = 0; j < d; ++j) h[j] *= inv;
  }
  float loss = 0.f;
  for (int64_t j = 0; j < d; ++j) err[j] = 0.f;
  float* g = b.g.data();
  for (int64_t k = 0; k < T; ++k) {
    g[k] = 0.f;
    if (!b.tgt_ok[k]) continue;
    const S* v = V + b.tgt[k] * d;
    float s = 0.f;
    #pragma omp simd reduction(+:s)
    for (int64_t j = 0; j < d; ++j) s += h[j] * load(v + j);
    const float z = exp_nonpositive(-std::fabs(s));
    const float f = s >= 0.f ? 1.f / (1.f + z) : z / (1.f + z);
    loss += log1p_unit(z) + std::max(s, 0.f) - b.tgt_label[k] * s;
    g[k] = (b.tgt_label[k] - f) * lr;
    #pragma omp simd
    for (int64_t j = 0; j < d; ++j) err[j] += g[k] * load(v + j);  // the targets before they move
  }
  for (int64_t k = 0; k < T; ++k) {
    if (g[k] == 0.f) continue;
    S* v = V + b.tgt[k] * d;
    const uint32_t key = salt + static_cast<uint32_t>(k) * kRowSalt;
    #pragma omp simd
    for (int64_t j = 0; j < d; ++j)
      store(v + j, load(v + j) + g[k] * h[j], noise_bits(key + static_cast<uint32_t>(j)));
  }
  if (!c.cbow_mean) {  // gensim: a summed window's error is spread over its words
    const float inv = 1.f / static_cast<float>(C);
    for (int64_t j = 0; j < d; ++j) err[j] *= inv;
  }
  for (int64_t i = 0; i < C; ++i) {
    S* u = U + b.ctx[i] * d;
    const float lock = lock_of(c, b.ctx[i]);
    if (lock == 0.f) continue;
    const uint32_t key = ~salt + static_cast<uint32_t>(i) * kRowSalt;
    #pragma omp simd
    for (int64_t j = 0; j < d; ++j)
      store(u + j, load(u + j) + lock * err[j], noise_bits(key + static_cast<uint32_t>(j)));
  }
  return loss;
}

// The centre's targets: itself and `negative` noise words (one equal to it is skipped), then
// its Huffman path; returns their number.
int64_t draw_targets(const Config& c, Block& b, int64_t centre, Stream& rng) {
  int64_t T = 0;
  if (c.negative > 0) {
    b.tgt[T] = centre;
    b.tgt_ok[T] = 1;
    b.tgt_label[T++] = 1.f;
    for (int64_t k = 0; k < c.negative; ++k) {
      const int64_t slot = rng.below(c.noise_size);
      const int64_t word = rng.uniform() < c.noise_accept[slot] ? c.noise_values[slot]
                                                                 : c.noise_alias[slot];
      b.tgt[T] = word;
      b.tgt_ok[T] = word != centre;
      b.tgt_label[T++] = 0.f;
    }
  }
  if (c.hs) {
    const int64_t* points = c.hs_points + centre * c.depth;
    const int8_t* codes = c.hs_codes + centre * c.depth;
    for (int64_t j = 0; j < c.hs_lengths[centre]; ++j) {
      b.tgt[T] = c.hs_offset + points[j];
      b.tgt_ok[T] = 1;
      b.tgt_label[T++] = 1.f - static_cast<float>(codes[j]);
    }
  }
  return T;
}

// Train one centre's block; returns its examples (context words for skip-gram, 1 for CBOW).
template <typename S>
double train_centre(const Config& c, Block& b, int64_t C, int64_t centre, Stream& rng,
                    float lr, Totals& t) {
  const int64_t T = draw_targets(c, b, centre, rng);
  // a float32 run draws nothing more: its results stay those of the float32-only op
  const uint32_t salt = std::is_same_v<S, float> ? 0u : static_cast<uint32_t>(rng.next());
  if (c.cbow) {
    t.loss += train_block_cbow<S>(c, b, C, T, lr, salt);
    return 1.0;
  }
  t.loss += train_block_sg<S>(c, b, C, T, lr, salt);
  return static_cast<double>(C);
}

float learning_rate(const Config& c, int64_t pos) {
  return c.lr_start + (c.lr_end - c.lr_start) * static_cast<float>(pos) / static_cast<float>(c.n);
}

int64_t reach_of(const Config& c, Stream& rng) {
  return c.shrink_windows && c.window > 1 ? 1 + rng.below(c.window) : c.window;
}

// word2vec's layout: subsampled tokens are removed before windowing, so a window spans the
// `reach` nearest kept tokens of the centre's sentence on each side.
template <typename S>
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
    t.effective += 1;
    Stream rng(c.seed ^ (static_cast<uint64_t>(pos) * kGolden));
    const int64_t reach = reach_of(c, rng);
    const int64_t sent = c.sentence[pos];
    // the window's ends: `reach` kept tokens each side, inside the sentence
    int64_t lo = ci, hi = ci;
    while (lo > 0 && ci - lo < reach && c.sentence[kept_pos[lo - 1]] == sent) --lo;
    while (hi + 1 < K && hi - ci < reach && c.sentence[kept_pos[hi + 1]] == sent) ++hi;
    int64_t C = 0;
    for (int64_t j = lo; j <= hi; ++j)
      if (j != ci) b.ctx[C++] = c.ids[kept_pos[j]];
    if (C == 0 || (c.full_windows_only && C < 2 * reach)) continue;
    t.pairs += train_centre<S>(c, b, C, c.ids[pos], rng, learning_rate(c, pos), t);
  }
}

// The original tutorial's layout: tokens stay in the text, and the centre and each context slot
// are kept with their words' probabilities, independently.
template <typename S>
void train_piece_slots(const Config& c, int64_t begin, int64_t end, Block& b, Totals& t) {
  for (int64_t pos = begin; pos < end; ++pos) {
    Stream rng(c.seed ^ (static_cast<uint64_t>(pos) * kGolden));
    const int64_t reach = reach_of(c, rng);
    const int64_t sent = c.sentence[pos];
    int64_t lo = pos, hi = pos;  // the window's ends inside the sentence
    while (lo > 0 && pos - lo < reach && c.sentence[lo - 1] == sent) --lo;
    while (hi + 1 < c.n && hi - pos < reach && c.sentence[hi + 1] == sent) ++hi;
    int64_t C = 0, in_window = 0;
    for (int64_t j = lo; j <= hi; ++j) {
      if (j == pos) continue;
      ++in_window;
      if (rng.uniform() < c.keep[c.ids[j]]) b.ctx[C++] = c.ids[j];
    }
    const bool window_ok = c.full_windows_only ? in_window == 2 * reach : in_window > 0;
    const bool centre_kept = rng.uniform() < c.keep[c.ids[pos]];
    t.effective += centre_kept;
    if (!window_ok || !centre_kept || C == 0) continue;
    t.pairs += train_centre<S>(c, b, C, c.ids[pos], rng, learning_rate(c, pos), t);
  }
}

template <typename S>
void train_piece(const Config& c, int64_t begin, int64_t end, Block& b, Totals& t) {
  if (c.subsample_slots)
    train_piece_slots<S>(c, begin, end, b, t);
  else
    train_piece_dropping<S>(c, begin, end, b, t);
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
    TORCH_CHECK(p[i] >= 0 && p[i] < rows, "train_chunk: ", name, " holds word id ", p[i],
                " at position ", i, ", outside the tables' ", rows, " rows");
  }
}

void check_tensor(const at::Tensor& t, at::ScalarType type, const char* name) {
  TORCH_CHECK(t.device().is_cpu(), "train_chunk runs on CPU tensors, but ", name,
              " is on ", t.device());
  TORCH_CHECK(t.scalar_type() == type, "train_chunk: ", name, " must be ", type, ", got ",
              t.scalar_type());
  TORCH_CHECK(t.is_contiguous(), "train_chunk: ", name, " must be contiguous");
}

}  // namespace

// An optional input: the given tensor, checked, or an empty one of its type.
at::Tensor optional_input(const std::optional<at::Tensor>& t, at::ScalarType type,
                          const char* name) {
  if (!t.has_value()) return at::empty({0}, at::TensorOptions().dtype(type));
  check_tensor(*t, type, name);
  return *t;
}

// Returns [summed loss, examples, effective words] as float64. Negative sampling takes the
// noise tables (`negative` > 0), hierarchical softmax the Huffman paths (given: hs on).
at::Tensor train_chunk(at::Tensor& in_w, at::Tensor& out_w, const at::Tensor& ids,
                       const at::Tensor& sentence, const at::Tensor& keep_prob,
                       const std::optional<at::Tensor>& noise_values_in,
                       const std::optional<at::Tensor>& noise_accept_in,
                       const std::optional<at::Tensor>& noise_alias_in,
                       const std::optional<at::Tensor>& hs_points_in,
                       const std::optional<at::Tensor>& hs_codes_in,
                       const std::optional<at::Tensor>& hs_lengths_in,
                       const std::optional<at::Tensor>& lockf_in, int64_t window,
                       int64_t negative, bool cbow, bool cbow_mean, bool shrink_windows,
                       bool subsample_slots, bool full_windows_only, int64_t seed,
                       double lr_start, double lr_end, int64_t threads) {
  const bool bf16 = in_w.scalar_type() == at::kBFloat16;
  check_tensor(in_w, bf16 ? at::kBFloat16 : at::kFloat, "input_vectors");
  check_tensor(out_w, in_w.scalar_type(), "output_vectors");
  check_tensor(ids, at::kInt, "ids");
  check_tensor(sentence, at::kLong, "sentence");
  check_tensor(keep_prob, at::kFloat, "keep_prob");
  const at::Tensor noise_values = optional_input(noise_values_in, at::kLong, "noise_values");
  const at::Tensor noise_accept = optional_input(noise_accept_in, at::kFloat, "noise_accept");
  const at::Tensor noise_alias = optional_input(noise_alias_in, at::kLong, "noise_alias");
  const at::Tensor hs_points = optional_input(hs_points_in, at::kLong, "hs_points");
  const at::Tensor hs_codes = optional_input(hs_codes_in, at::kChar, "hs_codes");
  const at::Tensor hs_lengths = optional_input(hs_lengths_in, at::kLong, "hs_lengths");
  const at::Tensor lockf = optional_input(lockf_in, at::kFloat, "lockf");
  const bool hs = hs_points_in.has_value();
  TORCH_CHECK(hs == hs_codes_in.has_value() && hs == hs_lengths_in.has_value(),
              "train_chunk: give hs_points, hs_codes and hs_lengths together, or none");
  TORCH_CHECK((negative > 0) == noise_values_in.has_value() &&
                  noise_values_in.has_value() == noise_accept_in.has_value() &&
                  noise_values_in.has_value() == noise_alias_in.has_value(),
              "train_chunk: the three noise tables come with negative > 0, and only then");
  TORCH_CHECK(window >= 1 && negative >= 0 && threads >= 1 && (negative > 0 || hs),
              "train_chunk: window and threads must be >= 1, negative >= 0, and negative > 0 "
              "or the Huffman paths");
  TORCH_CHECK(in_w.dim() == 2 && out_w.dim() == 2 && out_w.size(1) == in_w.size(1),
              "train_chunk: the tables must be two matrices of one width, got ", in_w.sizes(),
              " and ", out_w.sizes());
  const int64_t rows = in_w.size(0);
  const int64_t hs_offset = negative > 0 ? rows : 0;
  const int64_t out_rows = hs_offset + (hs ? std::max<int64_t>(rows - 1, 0) : 0);
  TORCH_CHECK(out_w.size(0) == out_rows, "train_chunk: the output table must have ", out_rows,
              " rows (", negative > 0 ? "one per word" : "", negative > 0 && hs ? ", then " : "",
              hs ? "one per Huffman inner node" : "", "), got ", out_w.size(0));
  TORCH_CHECK(ids.dim() == 1 && sentence.sizes() == ids.sizes(),
              "train_chunk: ids and sentence must be 1-D and of one length, got ",
              ids.sizes(), " and ", sentence.sizes());
  TORCH_CHECK(keep_prob.dim() == 1 && keep_prob.size(0) == rows,
              "train_chunk: keep_prob must hold one probability per table row");
  TORCH_CHECK(negative == 0 || (noise_values.dim() == 1 && noise_values.size(0) > 0 &&
                                noise_accept.sizes() == noise_values.sizes() &&
                                noise_alias.sizes() == noise_values.sizes()),
              "train_chunk: the noise tables must be three non-empty 1-D tensors of one "
              "length");
  const int64_t depth = hs && hs_points.dim() == 2 ? hs_points.size(1) : 0;
  TORCH_CHECK(!hs || (hs_points.dim() == 2 && hs_points.size(0) == rows &&
                      hs_codes.sizes() == hs_points.sizes() && hs_lengths.dim() == 1 &&
                      hs_lengths.size(0) == rows),
              "train_chunk: hs_points and hs_codes must be (words, depth) and hs_lengths "
              "(words,)");
  TORCH_CHECK(lockf.dim() == 1 && (lockf.size(0) == 1 || lockf.size(0) == rows ||
                                   !lockf_in.has_value()),
              "train_chunk: lockf must hold one value, or one per table row, got ",
              lockf.sizes());
  const int64_t n = ids.numel();
  check_ids(ids.data_ptr<int32_t>(), n, rows, "ids");
  if (negative > 0) {
    check_ids(noise_values.data_ptr<int64_t>(), noise_values.numel(), rows, "noise_values");
    check_ids(noise_alias.data_ptr<int64_t>(), noise_alias.numel(), rows, "noise_alias");
  }
  if (hs) {  // inner nodes 0 .. rows - 2: a one-word vocabulary has none
    check_ids(hs_points.data_ptr<int64_t>(), hs_points.numel(), rows - 1, "hs_points");
    check_ids(hs_lengths.data_ptr<int64_t>(), rows, depth + 1, "hs_lengths");
  }

  Config c{ids.data_ptr<int32_t>(), sentence.data_ptr<int64_t>(), n,
           keep_prob.data_ptr<float>(), noise_values.data_ptr<int64_t>(),
           noise_accept.data_ptr<float>(), noise_alias.data_ptr<int64_t>(), noise_values.numel(),
           hs_points.data_ptr<int64_t>(), hs_codes.data_ptr<int8_t>(),
           hs_lengths.data_ptr<int64_t>(), depth, hs_offset, window, negative, in_w.size(1), hs,
           cbow, cbow_mean, shrink_windows, subsample_slots, full_windows_only,
           mix(static_cast<uint64_t>(seed)), static_cast<float>(lr_start),
           static_cast<float>(lr_end), in_w.data_ptr(), out_w.data_ptr(), bf16,
           lockf.data_ptr<float>(), lockf.numel()};
  const int64_t max_targets = (negative > 0 ? 1 + negative : 0) + depth;
  const int64_t contexts = most_contexts(c);
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
      Block block(contexts, std::max<int64_t>(max_targets, 1), c.d, c.bf16);
      Totals& t = totals[worker];
      for (int64_t p = next++; p < pieces; p = next++) {
        const int64_t begin = order[p] * kPieceTokens, end = std::min(n, begin + kPieceTokens);
        if (c.bf16)
          train_piece<bf16_t>(c, begin, end, block, t);
        else
          train_piece<float>(c, begin, end, block, t);
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

  at::Tensor result = at::empty({3}, at::TensorOptions().dtype(at::kDouble));
  double* out = result.data_ptr<double>();
  out[0] = out[1] = out[2] = 0.0;
  for (const Totals& t : totals) {
    out[0] += t.loss;
    out[1] += t.pairs;
    out[2] += t.effective;
  }
  return result;
}

TORCH_LIBRARY(torch_w2v, m) {
  m.def(
      "train_chunk(Tensor(a!) input_vectors, Tensor(b!) output_vectors, Tensor ids, "
      "Tensor sentence, Tensor keep_prob, Tensor? noise_values, Tensor? noise_accept, "
      "Tensor? noise_alias, Tensor? hs_points, Tensor? hs_codes, Tensor? hs_lengths, "
      "Tensor? lockf, int window, int negative, bool cbow, bool cbow_mean, bool shrink_windows, "
      "bool subsample_slots, bool full_windows_only, int seed, float lr_start, float lr_end, "
      "int threads) -> Tensor");
}

TORCH_LIBRARY_IMPL(torch_w2v, CPU, m) { m.impl("train_chunk", &train_chunk); }

}  // namespace torch_w2v

// torch_w2v::TextCounter: tokenise UTF-8 text, count the words and encode them as first-seen
// ids, in one pass, block by block (torch.classes.torch_w2v.TextCounter).
//
// The rules are Python's, so the result equals CorpusFile's (`line.split()` over the lines of
// a text file opened in universal-newline mode): a line ends at "\n", "\r" or "\r\n"; tokens
// are separated by the characters str.isspace() accepts (ASCII \t \n \v \f \r \x1c-\x1f and
// space; U+0085, U+00A0, U+1680, U+2000-U+200A, U+2028, U+2029, U+202F, U+205F, U+3000); a
// line without tokens is no sentence. Text that is not valid UTF-8 (as Python's strict decoder
// judges it) is refused with the offset of the first bad byte, and so is a token longer than
// kMaxTokenBytes (no text has one; a binary file or /dev/zero would be read without end): the
// token cut by a block's end is carried into the next, so the bound also keeps the pass linear.
#include <ATen/core/Tensor.h>
#include <ATen/ops/empty.h>
#include <torch/custom_class.h>
#include <torch/library.h>

#include <cstdint>
#include <cstring>
#include <string>
#include <tuple>
#include <vector>

namespace torch_w2v {

namespace {

inline uint64_t hash_bytes(const unsigned char* p, size_t n) {
  uint64_t h = 0x9E3779B97F4A7C15ull ^ (n * 0xC2B2AE3D27D4EB4Full);
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    uint64_t w;
    std::memcpy(&w, p + i, 8);
    h = (h ^ w) * 0x9FB21C651E98DF25ull;
    h ^= h >> 29;
  }
  uint64_t tail = 0;
  for (size_t k = 0; i < n; ++i, ++k) tail |= static_cast<uint64_t>(p[i]) << (8 * k);
  h = (h ^ tail) * 0x9FB21C651E98DF25ull;
  h ^= h >> 32;
  h *= 0xD6E8FEB86659FD93ull;
  return h ^ (h >> 32);
}

// 0: part of a token, 1: separates tokens, 2: ends a line
unsigned char ascii_class(unsigned char b) {
  if (b == '\n' || b == '\r') return 2;
  if ((b >= 0x09 && b <= 0x0D) || (b >= 0x1C && b <= 0x20)) return 1;
  return 0;
}

bool unicode_space(uint32_t cp) {
  return cp == 0x85 || cp == 0xA0 || cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200A) ||
         cp == 0x2028 || cp == 0x2029 || cp == 0x202F || cp == 0x205F || cp == 0x3000;
}

// Length of the UTF-8 sequence at p (at most `left` bytes available) and its code point;
// 0 if invalid, -1 if it is cut off by the end of the data.
int decode(const unsigned char* p, size_t left, uint32_t& cp) {
  const unsigned char b = p[0];
  int n;
  uint32_t min;
  if (b < 0xC2) return 0;  // continuation byte or overlong two-byte lead
  if (b < 0xE0) { n = 2; cp = b & 0x1F; min = 0x80; }
  else if (b < 0xF0) { n = 3; cp = b & 0x0F; min = 0x800; }
  else if (b < 0xF5) { n = 4; cp = b & 0x07; min = 0x10000; }
  else return 0;
  for (int k = 1; k < n; ++k) {
    if (static_cast<size_t>(k) >= left) return -1;
    if ((p[k] & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (p[k] & 0x3F);
  }
  if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
  return n;
}

}  // namespace

constexpr size_t kMaxTokenBytes = 1 << 20;

struct TextCounter : torch::CustomClassHolder {
  std::vector<uint64_t> slot_hash;
  std::vector<int32_t> slot_id;  // -1: empty
  std::string arena;             // the words, each followed by '\n', in first-seen order
  std::vector<int64_t> starts;   // byte offset of each word in the arena
  std::vector<int64_t> counts;
  std::string carry;             // a token (or UTF-8 sequence) cut by the end of a block
  std::vector<int32_t> line_ids;  // ids of the line in progress
  std::vector<int32_t> out_ids;
  std::vector<int64_t> out_lengths;
  int64_t offset = 0;             // bytes of text before the current block

  TextCounter() : slot_hash(1 << 16), slot_id(1 << 16, -1) {}

  int32_t word_id(const unsigned char* p, size_t n) {
    const uint64_t h = hash_bytes(p, n);
    size_t mask = slot_id.size() - 1;
    for (size_t s = h & mask;; s = (s + 1) & mask) {
      const int32_t id = slot_id[s];
      if (id < 0) {
        const int32_t fresh = static_cast<int32_t>(counts.size());
        TORCH_CHECK(counts.size() < 0x7FFFFFFF, "TextCounter: more than 2**31 distinct words");
        slot_id[s] = fresh;
        slot_hash[s] = h;
        starts.push_back(static_cast<int64_t>(arena.size()));
        arena.append(reinterpret_cast<const char*>(p), n);
        arena.push_back('\n');
        counts.push_back(1);
        if (counts.size() * 2 > slot_id.size()) grow();
        return fresh;
      }
      if (slot_hash[s] == h) {
        const int64_t start = starts[id];
        const int64_t len = (static_cast<size_t>(id) + 1 < starts.size() ? starts[id + 1]
                                                                         : arena.size()) -
                            start - 1;
        if (static_cast<size_t>(len) == n && std::memcmp(arena.data() + start, p, n) == 0) {
          ++counts[id];
          return id;
        }
      }
    }
  }

  void grow() {
    std::vector<uint64_t> hashes(slot_hash.size() * 2);
    std::vector<int32_t> ids(slot_id.size() * 2, -1);
    const size_t mask = ids.size() - 1;
    for (size_t s = 0; s < slot_id.size(); ++s) {
      if (slot_id[s] < 0) continue;
      size_t t = slot_hash[s] & mask;
      while (ids[t] >= 0) t = (t + 1) & mask;
      ids[t] = slot_id[s];
      hashes[t] = slot_hash[s];
    }
    slot_hash.swap(hashes);
    slot_id.swap(ids);
  }

  void end_token(const unsigned char* p, size_t n) {
    if (n) line_ids.push_back(word_id(p, n));
  }

  void end_line() {
    if (line_ids.empty()) return;
    out_ids.insert(out_ids.end(), line_ids.begin(), line_ids.end());
    out_lengths.push_back(static_cast<int64_t>(line_ids.size()));
    line_ids.clear();
  }

  // Tokenise `block` (uint8) after what came before; `last`: no more text follows. Returns the
  // first-seen ids of the lines it completes (int32) and their lengths (int64).
  std::tuple<at::Tensor, at::Tensor> feed(const at::Tensor& block, bool last) {
    TORCH_CHECK(block.device().is_cpu() && block.scalar_type() == at::kByte &&
                    block.dim() == 1 && block.is_contiguous(),
                "TextCounter.feed takes a contiguous 1-D uint8 CPU tensor");
    std::string text = std::move(carry);
    carry.clear();
    const int64_t carried = static_cast<int64_t>(text.size());
    auto check_length = [&](size_t start, size_t end) {
      TORCH_CHECK_VALUE(end - start <= kMaxTokenBytes, "the text holds a token of more than ",
                        kMaxTokenBytes, " bytes (from byte ",
                        offset - carried + static_cast<int64_t>(start),
                        "): is it whitespace-separated text? (not a binary file or a device "
                        "such as /dev/zero)");
    };
    text.append(reinterpret_cast<const char*>(block.data_ptr<uint8_t>()), block.numel());
    const unsigned char* p = reinterpret_cast<const unsigned char*>(text.data());
    const size_t n = text.size();
    size_t token = 0, i = 0;  // the token in progress starts at `token`
    while (i < n) {
      const unsigned char b = p[i];
      if (b < 0x80) {
        const unsigned char kind = ascii_class(b);
        if (kind) {
          check_length(token, i);
          end_token(p + token, i - token);
          if (kind == 2) end_line();
          token = i + 1;
        }
        ++i;
        continue;
      }
      uint32_t cp;
      const int len = decode(p + i, n - i, cp);
      if (len < 0 && !last) break;  // a character cut by the end of the block
      TORCH_CHECK_VALUE(len > 0, "the text is not valid UTF-8: byte ", offset - carried +
                        static_cast<int64_t>(i), " (0x", std::hex, static_cast<int>(b),
                        ") starts no valid character");
      if (unicode_space(cp)) {
        check_length(token, i);
        end_token(p + token, i - token);
        token = i + len;
      }
      i += len;
    }
    check_length(token, i);
    if (last) {
      end_token(p + token, i - token);
      end_line();
    } else {
      carry.assign(text, token, n - token);  // the cut token, and a cut character
    }
    offset += block.numel();
    at::Tensor ids = at::empty({static_cast<int64_t>(out_ids.size())},
                               at::TensorOptions().dtype(at::kInt));
    at::Tensor lengths = at::empty({static_cast<int64_t>(out_lengths.size())},
                                   at::TensorOptions().dtype(at::kLong));
    std::memcpy(ids.data_ptr<int32_t>(), out_ids.data(), out_ids.size() * sizeof(int32_t));
    std::memcpy(lengths.data_ptr<int64_t>(), out_lengths.data(),
                out_lengths.size() * sizeof(int64_t));
    out_ids.clear();
    out_lengths.clear();
    return {ids, lengths};
  }

  // The words in first-seen order as UTF-8, each followed by "\n" (a byte no word holds).
  at::Tensor words() const {
    at::Tensor out = at::empty({static_cast<int64_t>(arena.size())},
                               at::TensorOptions().dtype(at::kByte));
    std::memcpy(out.data_ptr<uint8_t>(), arena.data(), arena.size());
    return out;
  }

  at::Tensor word_counts() const {
    at::Tensor out = at::empty({static_cast<int64_t>(counts.size())},
                               at::TensorOptions().dtype(at::kLong));
    std::memcpy(out.data_ptr<int64_t>(), counts.data(), counts.size() * sizeof(int64_t));
    return out;
  }
};

TORCH_LIBRARY_FRAGMENT(torch_w2v, m) {
  m.class_<TextCounter>("TextCounter")
      .def(torch::init<>())
      .def("feed", &TextCounter::feed)
      .def("words", &TextCounter::words)
      .def("word_counts", &TextCounter::word_counts);
}

}  // namespace torch_w2v

// test_tokenizer.cpp — the protobuf wire reader on broken input, SentencePiece ModelProto
// parsing, BPE encode/decode on a handmade vocab (expectations derived by hand in the
// comments), vocab validation, and the tokenizer.ggml.* GGUF keys. Agreement with
// SentencePiece itself on real models is tests/tokenizer/run_agreement.py.
#include <catch2/catch.hpp>

#include <chrono>
#include <cstring>
#include <string>
#include <vector>

#include "np/gguf.h"
#include "np/tokenizer.h"
#include "tokenizer/protobuf.h"

using np::Code;
using np::TokenType;
using np::Tokenizer;
using np::TokenizerConfig;

namespace {

// ---- protobuf bytes for tests ------------------------------------------------------------

std::string pb_varint(uint64_t v) {
  std::string out;
  do {
    uint8_t b = v & 0x7F;
    v >>= 7;
    if (v) b |= 0x80;
    out.push_back(static_cast<char>(b));
  } while (v);
  return out;
}
std::string pb_tag(uint32_t field, uint32_t wire) { return pb_varint(static_cast<uint64_t>(field) << 3 | wire); }
std::string pb_len(uint32_t field, const std::string& payload) {
  return pb_tag(field, 2) + pb_varint(payload.size()) + payload;
}
std::string pb_int(uint32_t field, int64_t v) { return pb_tag(field, 0) + pb_varint(static_cast<uint64_t>(v)); }
std::string pb_float(uint32_t field, float f) {
  uint32_t bits;
  std::memcpy(&bits, &f, 4);
  std::string out = pb_tag(field, 5);
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>((bits >> (8 * i)) & 0xFF));
  return out;
}

std::string byte_piece(int b) {
  static const char* kHex = "0123456789ABCDEF";
  return std::string("<0x") + kHex[b >> 4] + kHex[b & 15] + ">";
}

// ---- the handmade vocab ------------------------------------------------------------------
// ids 0..5: <pad> </s> <s> (control) <unk> (unknown) <tool_call> <tools> (user-defined);
// 6..261: byte pieces <0x00>..<0xFF>; then the normal pieces below.
const std::string kWs = "\xE2\x96\x81";  // U+2581
constexpr int32_t kByte0 = 6;
constexpr int32_t kSp = 262, kA = 263, kB = 264, kC = 265, kAB = 266, kBC = 267, kABC = 268, kSpA = 269,
                  kAA = 270;

struct Vocab {
  std::vector<std::string> pieces;
  std::vector<float> scores;
  std::vector<TokenType> types;
  void add(const std::string& p, float s, TokenType t) {
    pieces.push_back(p);
    scores.push_back(s);
    types.push_back(t);
  }
};

Vocab handmade_vocab(bool with_bytes = true) {
  Vocab v;
  v.add("<pad>", 0, TokenType::kControl);
  v.add("</s>", 0, TokenType::kControl);
  v.add("<s>", 0, TokenType::kControl);
  v.add("<unk>", 0, TokenType::kUnknown);
  v.add("<tool_call>", 0, TokenType::kUserDefined);
  v.add("<tools>", 0, TokenType::kUserDefined);
  if (with_bytes)
    for (int b = 0; b < 256; ++b) v.add(byte_piece(b), 0, TokenType::kByte);
  v.add(kWs, -100, TokenType::kNormal);        // 262 (256 fewer without bytes)
  v.add("a", -101, TokenType::kNormal);        // 263
  v.add("b", -102, TokenType::kNormal);        // 264
  v.add("c", -103, TokenType::kNormal);        // 265
  v.add("ab", -1, TokenType::kNormal);         // 266
  v.add("bc", -2, TokenType::kNormal);         // 267
  v.add("abc", -3, TokenType::kNormal);        // 268
  v.add(kWs + "a", -4, TokenType::kNormal);    // 269
  v.add("aa", -1, TokenType::kNormal);         // 270: same score as "ab"
  return v;
}

Tokenizer make(const Vocab& v, TokenizerConfig c = TokenizerConfig()) {
  auto r = Tokenizer::from_pieces(v.pieces, v.scores, v.types, c);
  INFO(r.status().to_string());
  REQUIRE(r.ok());
  return r.take();
}

using Ids = std::vector<int32_t>;

}  // namespace

// ---- protobuf reader --------------------------------------------------------------------

TEST_CASE("protobuf reader decodes every wire type", "[tokenizer][protobuf]") {
  // field 1 varint 150; field 2 len "hi"; field 3 fixed32 1.5f; field 4 fixed64;
  // field 5 int32 -1 (10-byte varint); a group (field 6) that is skipped whole.
  std::string bytes = pb_int(1, 150) + pb_len(2, "hi") + pb_float(3, 1.5f) + pb_tag(4, 1) +
                      std::string("\x01\x02\x03\x04\x05\x06\x07\x08", 8) + pb_int(5, -1) + pb_tag(6, 3) +
                      pb_int(1, 7) + pb_tag(7, 3) + pb_tag(7, 4) + pb_tag(6, 4) + pb_int(8, 1);
  np::pb::Reader r(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
  np::pb::Field f;
  bool has = false;
  std::vector<uint32_t> numbers;
  for (;;) {
    np::Status st = r.next(&f, &has);
    REQUIRE(st.ok());
    if (!has) break;
    numbers.push_back(f.number);
    if (f.number == 1) REQUIRE(f.varint == 150);
    if (f.number == 2) REQUIRE(f.len == "hi");
    if (f.number == 3) REQUIRE(np::pb::field_float(f) == 1.5f);
    if (f.number == 4) REQUIRE(f.i64 == 0x0807060504030201ull);
    if (f.number == 5) REQUIRE(static_cast<int32_t>(f.varint) == -1);
  }
  REQUIRE(numbers == std::vector<uint32_t>{1, 2, 3, 4, 5, 8});
}

TEST_CASE("protobuf reader rejects malformed input", "[tokenizer][protobuf][bad-file]") {
  const std::vector<std::pair<const char*, std::string>> cases = {
      {"truncated varint", std::string("\x08\x80", 2)},
      {"truncated tag", std::string("\x80", 1)},
      {"varint longer than 10 bytes", std::string("\x08") + std::string(10, '\xFF') + std::string("\x01", 1)},
      {"varint overflowing 64 bits", std::string("\x08") + std::string(9, '\xFF') + std::string("\x02", 1)},
      {"length beyond the end", std::string("\x12\x05" "ab", 4)},
      {"huge length", std::string("\x12") + std::string(9, '\xFF') + std::string("\x01", 1)},
      {"truncated fixed32", std::string("\x1D\x01\x02", 3)},
      {"truncated fixed64", std::string("\x21\x01\x02\x03\x04\x05\x06\x07", 8)},
      {"wire type 6", std::string("\x0E", 1)},
      {"wire type 7", std::string("\x0F", 1)},
      {"field number 0", std::string("\x00\x01", 2)},
      {"unterminated group", std::string("\x0B\x10\x01", 3)},
      {"mismatched end of group", std::string("\x0B\x14", 2)},
      {"end of group without start", std::string("\x0C", 1)},
  };
  for (const auto& c : cases) {
    INFO(c.first);
    np::pb::Reader r(reinterpret_cast<const uint8_t*>(c.second.data()), c.second.size());
    np::pb::Field f;
    bool has = true;
    np::Status st;
    while (st.ok() && has) st = r.next(&f, &has);
    REQUIRE(st.code() == Code::kBadTokenizer);
  }
}

TEST_CASE("protobuf reader rejects groups nested too deeply", "[tokenizer][protobuf][bad-file]") {
  std::string bytes;
  for (int i = 0; i < 100; ++i) bytes += pb_tag(1, 3);
  for (int i = 0; i < 100; ++i) bytes += pb_tag(1, 4);
  np::pb::Reader r(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
  np::pb::Field f;
  bool has = false;
  REQUIRE(r.next(&f, &has).code() == Code::kBadTokenizer);
}

// ---- SentencePiece ModelProto --------------------------------------------------------------

namespace {

struct SpmOptions {
  int model_type = 2;  // BPE
  bool byte_fallback = true;
  std::string charsmap;
  bool add_dummy_prefix = true;
  bool with_unk = true;
};

// A serialized ModelProto with the handmade vocab.
std::string spm_bytes(const SpmOptions& o = SpmOptions()) {
  Vocab v = handmade_vocab(o.byte_fallback);
  std::string out;
  for (size_t i = 0; i < v.pieces.size(); ++i) {
    if (!o.with_unk && v.types[i] == TokenType::kUnknown) continue;
    std::string piece = pb_len(1, v.pieces[i]) + pb_float(2, v.scores[i]);
    if (v.types[i] != TokenType::kNormal) piece += pb_int(3, static_cast<int>(v.types[i]));
    out += pb_len(1, piece);
  }
  std::string trainer = pb_int(3, o.model_type) + pb_int(35, o.byte_fallback) + pb_int(40, 3) + pb_int(41, 2) +
                        pb_int(42, 1) + pb_int(43, 0) + pb_int(4, 8192) /* vocab_size: ignored */;
  out += pb_len(2, trainer);
  std::string norm = pb_len(1, "identity") + pb_len(2, o.charsmap) + pb_int(3, o.add_dummy_prefix);
  out += pb_len(3, norm);
  out += pb_len(99, "unknown fields are skipped");
  return out;
}

np::Result<Tokenizer> from_spm(const std::string& bytes) {
  return Tokenizer::from_spm_bytes(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
}

}  // namespace

TEST_CASE("a SentencePiece model parses into the same tokenizer as its pieces", "[tokenizer][spm]") {
  auto r = from_spm(spm_bytes());
  INFO(r.status().to_string());
  REQUIRE(r.ok());
  const Tokenizer& t = r.value();
  const Tokenizer ref = make(handmade_vocab());
  REQUIRE(t.vocab_size() == ref.vocab_size());
  for (int32_t i = 0; i < t.vocab_size(); ++i) {
    REQUIRE(t.piece(i) == ref.piece(i));
    REQUIRE(t.score(i) == ref.score(i));
    REQUIRE(t.type(i) == ref.type(i));
  }
  REQUIRE(t.config().pad_id == 0);
  REQUIRE(t.config().eos_id == 1);
  REQUIRE(t.config().bos_id == 2);
  REQUIRE(t.config().unk_id == 3);
  REQUIRE(t.config().byte_fallback);
  REQUIRE(t.encode("abc aa") == ref.encode("abc aa"));
}

TEST_CASE("SentencePiece models we do not implement are UNSUPPORTED", "[tokenizer][spm]") {
  SpmOptions unigram;
  unigram.model_type = 1;
  REQUIRE(from_spm(spm_bytes(unigram)).status().code() == Code::kUnsupported);
  SpmOptions nfkc;
  nfkc.charsmap = "\x01\x02\x03\x04 a precompiled charsmap";
  REQUIRE(from_spm(spm_bytes(nfkc)).status().code() == Code::kUnsupported);
  // model_type absent: the proto2 default is UNIGRAM.
  std::string no_type = pb_len(1, pb_len(1, "<unk>") + pb_int(3, 2)) + pb_len(2, pb_int(35, 0));
  REQUIRE(from_spm(no_type).status().code() == Code::kUnsupported);
}

TEST_CASE("broken SentencePiece models are BAD_TOKENIZER, never a crash", "[tokenizer][spm][bad-file]") {
  REQUIRE(from_spm("").status().code() == Code::kBadTokenizer);
  SpmOptions no_unk;
  no_unk.with_unk = false;
  REQUIRE(from_spm(spm_bytes(no_unk)).status().code() == Code::kBadTokenizer);
  // pieces (field 1) as a varint instead of a message
  REQUIRE(from_spm(pb_int(1, 5)).status().code() == Code::kBadTokenizer);
  // a piece's score as a varint instead of a float
  REQUIRE(from_spm(pb_len(1, pb_len(1, "a") + pb_int(2, 1))).status().code() == Code::kBadTokenizer);
  // byte pieces present although byte_fallback is off
  std::string good = spm_bytes();
  std::string bytes_without_flag = good + pb_len(2, pb_int(35, 0));  // later field wins (messages merge)
  REQUIRE(from_spm(bytes_without_flag).status().code() == Code::kBadTokenizer);

  // Every truncation and a sweep of single-byte corruptions: an error or a tokenizer, no crash.
  const std::string model = spm_bytes();
  for (size_t n = 0; n < model.size(); ++n) {
    auto r = from_spm(model.substr(0, n));
    if (!r.ok()) REQUIRE((r.status().code() == Code::kBadTokenizer || r.status().code() == Code::kUnsupported));
  }
  for (size_t i = 0; i < model.size(); i += 3) {
    std::string m = model;
    m[i] = static_cast<char>(m[i] ^ (0x5A + i));
    auto r = from_spm(m);
    if (r.ok()) (void)r.value().encode("abc \xC3\xA9 <tools>");
  }
}

TEST_CASE("from_spm_file reports a missing file as IO_ERROR", "[tokenizer][spm]") {
  REQUIRE(Tokenizer::from_spm_file("/nonexistent/needle.model").status().code() == Code::kIoError);
}

// ---- encode -------------------------------------------------------------------------------

TEST_CASE("BPE merges by best score, ties to the leftmost pair", "[tokenizer][encode]") {
  const Tokenizer t = make(handmade_vocab());
  // "▁abc": pairs ▁a -4, ab -1, bc -2 -> ab; then ▁ab (absent), abc -3 -> abc; ▁abc absent.
  REQUIRE(t.encode("abc") == Ids{kSp, kABC});
  // "▁aaa": aa(1,2) and aa(2,3) tie at -1 -> the left one; then ▁aa and aaa are absent.
  REQUIRE(t.encode("aaa") == Ids{kSp, kAA, kA});
  // "▁aab": aa(1,2) -1 and ab(2,3) -1 tie -> aa; "aab" absent; ▁aa absent.
  REQUIRE(t.encode("aab") == Ids{kSp, kAA, kB});
  // "▁a": ▁a -4.
  REQUIRE(t.encode("a") == Ids{kSpA});
  // "▁bc▁a": bc -2 first, then ▁a -4.
  REQUIRE(t.encode("bc a") == Ids{kSp, kBC, kSpA});
}

TEST_CASE("normalization: dummy prefix, extra spaces, only ' ' is whitespace", "[tokenizer][encode]") {
  const Tokenizer t = make(handmade_vocab());
  REQUIRE(t.encode("").empty());
  REQUIRE(t.encode("   ").empty());
  // "  a   b  " -> "▁a▁b": ▁a, then ▁ and b (▁b is not a piece).
  REQUIRE(t.encode("  a   b  ") == Ids{kSpA, kSp, kB});
  // A tab is an ordinary (unknown) character -> byte piece <0x09>.
  REQUIRE(t.encode("a\tb") == Ids{kSpA, kByte0 + 0x09, kB});
  // A literal U+2581 at the end is dropped like a trailing space.
  REQUIRE(t.encode("a" + kWs) == Ids{kSpA});
  REQUIRE(t.encode(kWs + kWs).empty());
  // '\r' is kept (a byte piece).
  REQUIRE(t.encode("a\r") == Ids{kSpA, kByte0 + 0x0D});
}

TEST_CASE("unknown characters fall back to bytes; invalid UTF-8 becomes U+FFFD", "[tokenizer][encode]") {
  const Tokenizer t = make(handmade_vocab());
  REQUIRE(t.encode("\xC3\xA9") == Ids{kSp, kByte0 + 0xC3, kByte0 + 0xA9});  // é
  const Ids fffd = {kByte0 + 0xEF, kByte0 + 0xBF, kByte0 + 0xBD};
  auto with_fffd = [&](Ids head, int n, Ids tail) {
    for (int i = 0; i < n; ++i) head.insert(head.end(), fffd.begin(), fffd.end());
    head.insert(head.end(), tail.begin(), tail.end());
    return head;
  };
  REQUIRE(t.encode("a\xFF" "b") == with_fffd({kSpA}, 1, {kB}));
  REQUIRE(t.encode("\xC0\xAF") == with_fffd({kSp}, 2, {}));      // overlong '/': two bad bytes
  REQUIRE(t.encode("\xED\xA0\x80") == with_fffd({kSp}, 3, {}));  // a surrogate: three
  REQUIRE(t.encode("a\xE2\x96") == with_fffd({kSpA}, 2, {}));    // cut-off character
  REQUIRE(t.encode("\xEF\xBF\xBD") == with_fffd({kSp}, 1, {}));  // a literal U+FFFD is one character
  REQUIRE(t.encode(std::string("a\0b", 3)) == Ids{kSpA, kByte0, kB});
}

TEST_CASE("user-defined symbols are matched whole before BPE", "[tokenizer][encode]") {
  const Tokenizer t = make(handmade_vocab());
  REQUIRE(t.encode("<tools>") == Ids{kSp, 5});
  REQUIRE(t.encode("a<tools>b") == Ids{kSpA, 5, kB});
  REQUIRE(t.encode("<tool_call><tools>") == Ids{kSp, 4, 5});
  // "<tool" alone is just characters: '<' 't' 'o' 'o' 'l' are all bytes here.
  REQUIRE(t.encode("<tool") == Ids{kSp, kByte0 + '<', kByte0 + 't', kByte0 + 'o', kByte0 + 'o', kByte0 + 'l'});

  // Longest match wins: with "ab" and "abc" both user-defined, "abcab" -> abc, ab.
  Vocab v = handmade_vocab();
  v.types[kAB] = TokenType::kUserDefined;
  v.types[kABC] = TokenType::kUserDefined;
  const Tokenizer u = make(v);
  REQUIRE(u.encode("abcab") == Ids{kSp, kABC, kAB});
  // A user-defined symbol never merges with its neighbours: "▁" stays apart from "ab".
  REQUIRE(u.encode("ab") == Ids{kSp, kAB});
}

TEST_CASE("UNUSED pieces are split back into the pieces that formed them", "[tokenizer][encode]") {
  Vocab v = handmade_vocab();
  v.types[kAB] = TokenType::kUnused;
  const Tokenizer t = make(v);
  // "▁ab": ab -1 merges (unused pieces still merge), ▁ab absent; ab is UNUSED -> a, b.
  REQUIRE(t.encode("ab") == Ids{kSp, kA, kB});
  // "▁abc": ab, then abc -3 -> abc is NORMAL and stays.
  REQUIRE(t.encode("abc") == Ids{kSp, kABC});
}

TEST_CASE("without byte fallback a run of unknown characters is one unk", "[tokenizer][encode]") {
  TokenizerConfig c;
  c.byte_fallback = false;
  const Tokenizer t = make(handmade_vocab(false), c);
  const int32_t sp = kSp - 256, spa = kSpA - 256;
  // "▁éèx▁a": é è x are unknown and adjacent -> one unk; then ▁a.
  REQUIRE(t.encode("\xC3\xA9\xC3\xA8x a") == Ids{sp, 3, spa});
  REQUIRE(t.encode("x a y") == Ids{sp, 3, spa, sp, 3});
  REQUIRE(t.decode({sp, 3, spa}) == " \xE2\x81\x87  a");
}

TEST_CASE("normalizer flags off", "[tokenizer][encode]") {
  TokenizerConfig no_prefix;
  no_prefix.add_dummy_prefix = false;
  const Tokenizer a = make(handmade_vocab(), no_prefix);
  REQUIRE(a.encode("abc") == Ids{kABC});
  REQUIRE(a.encode(" a") == Ids{kA});  // leading spaces still removed
  TokenizerConfig keep;
  keep.remove_extra_whitespaces = false;
  const Tokenizer b = make(handmade_vocab(), keep);
  // " a " -> "▁▁a▁": ▁a (1,2) merges; ▁ ▁a ▁.
  REQUIRE(b.encode(" a ") == Ids{kSp, kSpA, kSp});
  REQUIRE(b.encode("  ") == Ids{kSp, kSp, kSp});
}

TEST_CASE("encode is fast on long inputs", "[tokenizer][encode]") {
  const Tokenizer t = make(handmade_vocab());
  std::string text;
  for (int i = 0; i < 100000; ++i) text += "ab";
  const auto t0 = std::chrono::steady_clock::now();
  const Ids ids = t.encode(text);
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  // "▁abab...": every ab -1 merges (left to right), abab is absent, ▁ stays alone.
  REQUIRE(ids.size() == 100001);
  REQUIRE(ids[0] == kSp);
  REQUIRE(ids[1] == kAB);
  REQUIRE(ids.back() == kAB);
  REQUIRE(s < 5.0);  // O(n log n): ~0.05 s; a quadratic merge loop takes minutes
}

// ---- decode ---------------------------------------------------------------------------------

TEST_CASE("decode mirrors SentencePiece", "[tokenizer][decode]") {
  const Tokenizer t = make(handmade_vocab());
  REQUIRE(t.decode({kSp, kABC}) == "abc");
  REQUIRE(t.decode({2, kSpA, kSp, kB, 1}) == "a b");  // controls are invisible
  // Leading U+2581 is stripped from every piece while nothing has been output
  // (remove_extra_whitespaces on).
  REQUIRE(t.decode({kSp, kSp, kA}) == "a");
  REQUIRE(t.decode({kA, kSp, kSp}) == "a  ");
  REQUIRE(t.decode({kByte0 + 0xC3, kByte0 + 0xA9}) == "\xC3\xA9");
  REQUIRE(t.decode({kByte0 + 0xC3}) == "\xEF\xBF\xBD");
  REQUIRE(t.decode({kByte0 + 0xC3, kA}) == "\xEF\xBF\xBD" "a");
  REQUIRE(t.decode({kByte0 + 0xC3, 2, kByte0 + 0xA9}) == "\xEF\xBF\xBD\xEF\xBF\xBD");  // a control splits the run
  REQUIRE(t.decode({kByte0 + 0xE2, kByte0 + 0x96, kByte0 + 0x81}) == kWs);  // bytes are not unescaped
  REQUIRE(t.decode({kByte0 + ' ', kSpA}) == "  a");  // text is no longer empty: ▁ kept
  REQUIRE(t.decode({3}) == " \xE2\x81\x87 ");
  REQUIRE(t.decode({kSpA, 5, kB}) == "a<tools>b");
  REQUIRE(t.decode({kA, 99999, -1}) == "a");
  REQUIRE(t.decode({}).empty());

  TokenizerConfig keep;
  keep.remove_extra_whitespaces = false;
  const Tokenizer k = make(handmade_vocab(), keep);
  REQUIRE(k.decode({kSp, kSp, kA}) == " a");  // only the first leading ▁ goes
  keep.add_dummy_prefix = false;
  const Tokenizer raw = make(handmade_vocab(), keep);
  REQUIRE(raw.decode({kSp, kSp, kA}) == "  a");  // none goes
}

TEST_CASE("decode(encode(x)) == x for normalized text", "[tokenizer][decode]") {
  const Tokenizer t = make(handmade_vocab());
  for (const char* s : {"abc", "a b c", "aaa bbb", "caf\xC3\xA9 <tools> x", "\xF0\x9F\x91\x8D\xF0\x9F\x8F\xBD",
                        "tab\there", "<tool_call>[{\"name\":\"x\"}]"}) {
    REQUIRE(t.decode(t.encode(s)) == s);
  }
}

TEST_CASE("token_text and piece lookup", "[tokenizer]") {
  const Tokenizer t = make(handmade_vocab());
  REQUIRE(t.token_text(kSpA) == " a");
  REQUIRE(t.token_text(kABC) == "abc");
  REQUIRE(t.token_text(kByte0 + 0x41) == "A");
  REQUIRE(t.token_text(kByte0 + 0xC3) == "\xC3");
  REQUIRE(t.token_text(1).empty());
  REQUIRE(t.token_text(3) == " \xE2\x81\x87 ");
  REQUIRE(t.token_text(5) == "<tools>");
  REQUIRE(t.piece_to_id(kWs + "a") == kSpA);
  REQUIRE(t.piece_to_id("<0x41>") == kByte0 + 0x41);
  REQUIRE(t.piece_to_id("zzz") == -1);
}

// ---- validation -----------------------------------------------------------------------------

TEST_CASE("from_pieces rejects inconsistent vocabs", "[tokenizer][bad-vocab]") {
  auto code = [](Vocab v, TokenizerConfig c = TokenizerConfig()) {
    return Tokenizer::from_pieces(v.pieces, v.scores, v.types, c).status().code();
  };
  const Vocab good = handmade_vocab();
  REQUIRE(code(good) == Code::kOk);
  {
    Vocab v = good;
    v.scores.pop_back();
    REQUIRE(code(v) == Code::kBadTokenizer);
  }
  {
    Vocab v = good;
    v.pieces[kA] = "";
    REQUIRE(code(v) == Code::kBadTokenizer);
  }
  {
    Vocab v = good;
    v.pieces[kB] = "a";  // duplicate
    REQUIRE(code(v) == Code::kBadTokenizer);
  }
  {
    Vocab v = good;
    v.types[kA] = static_cast<TokenType>(9);
    REQUIRE(code(v) == Code::kBadTokenizer);
  }
  {
    Vocab v = good;
    v.types[3] = TokenType::kControl;  // no UNKNOWN piece
    REQUIRE(code(v) == Code::kBadTokenizer);
  }
  {
    Vocab v = good;
    v.types[kA] = TokenType::kUnknown;  // two
    REQUIRE(code(v) == Code::kBadTokenizer);
  }
  {
    TokenizerConfig c;
    c.unk_id = 0;  // not the UNKNOWN piece
    REQUIRE(code(good, c) == Code::kBadTokenizer);
  }
  {
    TokenizerConfig c;
    c.bos_id = 100000;
    REQUIRE(code(good, c) == Code::kBadTokenizer);
  }
  {
    Vocab v = good;
    v.pieces[kByte0 + 0x41] = "<0x4g>";
    REQUIRE(code(v) == Code::kBadTokenizer);
  }
  {
    Vocab v = good;
    v.types[kByte0 + 0x41] = TokenType::kNormal;  // <0x41> missing as a byte piece
    REQUIRE(code(v) == Code::kBadTokenizer);
  }
  {
    TokenizerConfig c;
    c.byte_fallback = false;  // byte pieces without byte fallback
    REQUIRE(code(good, c) == Code::kBadTokenizer);
  }
  {
    TokenizerConfig c;
    c.escape_whitespaces = false;
    REQUIRE(code(good, c) == Code::kUnsupported);
  }
  REQUIRE(code(Vocab()) == Code::kBadTokenizer);
}

// ---- GGUF -------------------------------------------------------------------------------------

namespace {

np::Result<Tokenizer> via_gguf(const np::GgufWriter& w) {
  auto bytes = w.to_bytes();
  REQUIRE(bytes.ok());
  auto file = np::GgufFile::open_bytes(bytes.take());
  INFO(file.status().to_string());
  REQUIRE(file.ok());
  return Tokenizer::from_gguf(*file.value());
}

}  // namespace

TEST_CASE("tokenizer.ggml.* keys round-trip through GGUF", "[tokenizer][gguf]") {
  for (bool flags : {true, false}) {
    TokenizerConfig c;
    c.add_dummy_prefix = flags;
    c.remove_extra_whitespaces = !flags;
    c.pad_id = -1;  // absent: no key written, read back as -1
    const Tokenizer t = make(handmade_vocab(), c);
    np::GgufWriter w;
    t.write_gguf(w);
    auto r = via_gguf(w);
    INFO(r.status().to_string());
    REQUIRE(r.ok());
    const Tokenizer& u = r.value();
    REQUIRE(u.vocab_size() == t.vocab_size());
    for (int32_t i = 0; i < t.vocab_size(); ++i) {
      REQUIRE(u.piece(i) == t.piece(i));
      REQUIRE(u.score(i) == t.score(i));
      REQUIRE(u.type(i) == t.type(i));
      REQUIRE(u.token_text(i) == t.token_text(i));
    }
    REQUIRE(u.config().add_dummy_prefix == c.add_dummy_prefix);
    REQUIRE(u.config().remove_extra_whitespaces == c.remove_extra_whitespaces);
    REQUIRE(u.config().byte_fallback);
    REQUIRE(u.config().pad_id == -1);
    REQUIRE(u.config().eos_id == 1);
    REQUIRE(u.config().bos_id == 2);
    REQUIRE(u.config().unk_id == 3);
    for (const char* s : {"  abc aaa  ", "caf\xC3\xA9<tools>", "a\xFF"}) REQUIRE(u.encode(s) == t.encode(s));
  }
}

TEST_CASE("bad tokenizer.ggml.* keys are BAD_TOKENIZER naming the key", "[tokenizer][gguf][bad-file]") {
  const Tokenizer t = make(handmade_vocab());
  using np::GgufValue;
  using np::GgufValueType;
  struct Case {
    const char* key;
    bool remove;
    GgufValue value;
  };
  GgufValue u32_9999 = GgufValue::make_u32(9999);
  std::vector<GgufValue> short_scores(3, GgufValue::make_f32(0));
  std::vector<GgufValue> bad_types;
  for (int32_t i = 0; i < t.vocab_size(); ++i) bad_types.push_back(GgufValue::make_i32(i == 7 ? 9 : 1));
  std::vector<GgufValue> ints(static_cast<size_t>(t.vocab_size()), GgufValue::make_i32(1));
  const std::vector<Case> cases = {
      {"tokenizer.ggml.model", true, {}},
      {"tokenizer.ggml.model", false, GgufValue::make_string("gpt2")},
      {"tokenizer.ggml.model", false, GgufValue::make_u32(1)},
      {"tokenizer.ggml.tokens", true, {}},
      {"tokenizer.ggml.tokens", false, GgufValue::make_string("not an array")},
      {"tokenizer.ggml.tokens", false, GgufValue::make_array(GgufValueType::I32, ints)},
      {"tokenizer.ggml.scores", false, GgufValue::make_array(GgufValueType::F32, short_scores)},
      {"tokenizer.ggml.token_type", false, GgufValue::make_array(GgufValueType::I32, bad_types)},
      {"tokenizer.ggml.eos_token_id", false, u32_9999},
      {"tokenizer.ggml.bos_token_id", false, GgufValue::make_string("2")},
      {"tokenizer.ggml.unknown_token_id", false, GgufValue::make_u32(1)},  // a CONTROL piece
      {"tokenizer.ggml.add_space_prefix", false, GgufValue::make_u32(1)},
      {"tokenizer.ggml.byte_fallback", false, GgufValue::make_bool(false)},  // byte pieces present
  };
  for (const Case& c : cases) {
    INFO(c.key);
    np::GgufWriter w;
    if (c.remove) {
      // Write every key but this one.
      np::GgufWriter full;
      t.write_gguf(full);
      auto bytes = full.to_bytes();
      REQUIRE(bytes.ok());
      auto file = np::GgufFile::open_bytes(bytes.take());
      REQUIRE(file.ok());
      for (const auto& kv : file.value()->kvs())
        if (kv.key != c.key) w.set_kv(kv.key, kv.value);
    } else {
      t.write_gguf(w);
      w.set_kv(c.key, c.value);
    }
    auto r = via_gguf(w);
    REQUIRE(r.status().code() == Code::kBadTokenizer);
    REQUIRE(r.status().message().find(c.key) != std::string::npos);  // names the key
  }
}

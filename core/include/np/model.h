// model.h — a Needle-architecture encoder-decoder loaded from GGUF, and its inference
// forward pass: encoder, cross-attention K/V computed once per input, decoder steps with a
// self-attention KV cache, tied logits, and the retrieval head.
// Not here: prompt building and decoding policy (tool_caller.h), training (later).
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "np/confidence.h"
#include "np/gguf.h"
#include "np/kv_q8.h"
#include "np/status.h"
#include "np/tokenizer.h"

namespace np {

enum class FfnActivation { kNone, kDRelu, kSwiGlu, kGeGlu };
const char* ffn_activation_name(FfnActivation a);  // "none", "drelu", "swiglu", "geglu"

// Hyper-parameters, as the GGUF metadata states them (keys in docs/model-format.md).
struct ModelConfig {
  int32_t vocab_size = 8192;
  int32_t d_model = 512;
  int32_t n_heads = 8;
  int32_t n_kv_heads = 4;
  int32_t n_enc_layers = 12;
  int32_t n_dec_layers = 8;
  float rope_theta = 10000.0f;
  float norm_eps = 1e-6f;
  int32_t max_enc_len = 1024;
  int32_t max_dec_len = 512;
  int32_t d_ff = 0;                         // 0: no feed-forward block (Needle v1)
  FfnActivation ffn_act = FfnActivation::kNone;
  int32_t contrastive_dim = 128;            // 0: no retrieval head
  // "bidirectional" (Needle v1: every input token sees every other) or "catalog" (the tool
  // block comes first and does not see the query, so a catalog's states can be cached:
  // docs/engine.md, "Catalog mask").
  std::string encoder_mask = "bidirectional";
  int32_t tool_call_id = 4, tools_id = 5;
  int32_t pad_id = 0, eos_id = 1, bos_id = 2, unk_id = 3;
  // The lexical tool prior's weights this model was tuned with (decode/tool_prior.h,
  // docs/engine.md "Lexical tool prior"): `needlepoint.decode.tool_prior_name` and
  // `..._call`, 0 (the model's scores alone) when the file has none. Calls may override them.
  float tool_prior_name = 0.0f, tool_prior_call = 0.0f;
  float tool_prior_margin = 0.0f;  // needlepoint.decode.tool_prior_margin (greedy.h, call_margin)
  float tool_prior_sole = 0.0f;    // needlepoint.decode.tool_prior_sole (greedy.h, sole_weight)
  // The copy prior's weight (`needlepoint.decode.copy_prior`, docs/engine.md "Copy prior").
  float copy_prior = 0.0f;
  // The echo prior's weight (`needlepoint.decode.echo_prior`, docs/engine.md "Echo prior").
  float echo_prior = 0.0f;

  int32_t head_dim() const { return d_model / n_heads; }
  int32_t kv_dim() const { return n_kv_heads * head_dim(); }
  int32_t contrastive_hidden() const { return d_model / 4; }
  bool catalog_mask() const { return encoder_mask == "catalog"; }

  static ModelConfig needle_v1();  // the published 26M configuration
  static ModelConfig small();      // a tiny config for tests: d=64, 4/2 heads, 2+2 layers
  Status validate() const;         // consistency (divisibility, ranges), BadMetadata on failure
};

// Reads/writes the needle.* keys (not the tokenizer keys).
Status model_config_from_gguf(const GgufFile& f, ModelConfig* out);
void model_config_to_gguf(const ModelConfig& c, GgufWriter& w);

// A weight matrix W of shape (rows=out, cols=in), row-major, y = W x. Either `f32` (straight
// into the file bytes for aligned F32, else a dequantized copy: F16, BF16, Q4_0), or, for
// Q8_0, the file's blocks in place (`raw`, rows of cols / 32 blocks of 34 bytes) with their
// scales as floats (`q8_scales`): the kernels dequantize on the fly, computing each weight as
// float(q) * d exactly as a dequantized copy holds it, so results are the same bits and the
// weights take a quarter of the memory (ops/ops.h, linear_forward).
struct Matrix {
  int64_t rows = 0, cols = 0;
  GgmlType type = GgmlType::F32;
  const uint8_t* raw = nullptr;
  const float* f32 = nullptr;   // (rows, cols), or null for a matrix held as Q8_0 blocks
  std::vector<float> storage;   // owns f32 when it is a copy
  std::vector<uint8_t> q8_blocks; // owns raw when a Q4_0 matrix is held widened to Q8_0 blocks
  std::vector<float> q8_scales; // (rows, cols / 32) block scales of a matrix held as Q8_0 blocks
  Matrix() = default;
  Matrix(Matrix&&) = default;  // raw and f32 may point into the vectors above: moves keep them
  Matrix& operator=(Matrix&&) = default;
  Matrix(const Matrix&) = delete;  // a copy would point into the original's storage
  Matrix& operator=(const Matrix&) = delete;
  // Held as Q8_0 blocks at raw (a Q8_0 file's in place, a Q4_0 file's widened exactly).
  bool q8() const { return f32 == nullptr && (type == GgmlType::Q8_0 || type == GgmlType::Q4_0); }
  // Row r as floats (cols of them), whatever the storage.
  void row(int64_t r, float* out) const;
};

struct AttentionWeights {
  Matrix wq, wk, wv, wo;            // (d, d), (kv_dim, d), (kv_dim, d), (d, d)
  std::vector<float> q_norm, k_norm; // (head_dim) zero-centred g
  float gate = 0.5f;                // sigmoid of the stored pre-sigmoid scalar
};

struct FeedForwardWeights {
  std::vector<float> norm;          // (d)
  float gate = 0.5f;                // sigmoid(ffn_gate)
  Matrix w_gate, w_up, w_down;      // (d_ff, d), (d_ff, d), (d, d_ff)
};

struct EncoderLayer {
  std::vector<float> attn_norm;     // (d)
  AttentionWeights attn;
  bool has_ffn = false;
  FeedForwardWeights ffn;
};

struct DecoderLayer {
  std::vector<float> attn_norm;     // (d)
  AttentionWeights self_attn;
  std::vector<float> cross_norm;    // (d)
  AttentionWeights cross_attn;
  bool has_ffn = false;
  FeedForwardWeights ffn;
};

struct RetrievalHead {
  Matrix hidden;                    // (d/4, d)
  std::vector<float> hidden_bias;   // (d/4)
  Matrix proj;                      // (contrastive_dim, d/4)
  float log_temp = 0.0f;
};

// RoPE cos/sin tables, (max_pos, head_dim/2) each; filled by init (see ops/rope.cpp).
struct RopeTable {
  int32_t max_pos = 0, half = 0;
  std::vector<float> cos, sin;
  void init(int32_t max_pos, int32_t head_dim, float theta);
};

struct EncoderBlock;

// What the encoder produced for one input: its output states and, per decoder layer,
// the cross-attention keys (QK-normed, no RoPE) and values. When `prefix` is set (a catalog
// call that found or kept its tool block: Model::encode_after with a shared block), the
// first prefix->T positions' states and K/V are the block's own, read in place, and the
// vectors below hold only the positions after them.
struct EncoderOutput {
  int32_t T = 0;                              // every position, the prefix's included
  std::shared_ptr<const EncoderBlock> prefix; // null, or the block before these rows
  std::vector<float> out;                     // (T - P, d)
  std::vector<uint8_t> key_valid;             // (T) 0 where the input is padding
  std::vector<std::vector<float>> cross_k;    // [dec layer] (T - P, kv_dim)
  std::vector<std::vector<float>> cross_v;    // [dec layer] (T - P, kv_dim)
  int32_t prefix_T() const;                   // P: 0 without a prefix
};

// The catalog mask's tool block, encoded once (Model::encode_block) and reused by every input
// that starts with it (Model::encode_after): per encoder layer the block's self-attention
// keys (QK-normed, RoPE at positions 0..T-1) and values, which later tokens attend to, and
// the block's final states and cross-attention K/V, which the decoder reads.
struct EncoderBlock {
  int32_t T = 0;
  std::vector<int32_t> ids;                   // (T) the block's tokens
  std::vector<uint8_t> key_valid;             // (T)
  // The encoder layers' keys and values the query's rows attend to: int8 with a scale per
  // token and kv head (KVQ8, the layouts of attention_rows' integer kernels) where the head
  // size suits them (every Needle shape's), read in place by the query's rows; else bf16 bits
  // (rounded to nearest even) in k / v, widened to floats. One of the two pairs is filled.
  // They are the bulk of a kept block (12 layers for the 26M shape): int8 holds them in a
  // quarter of fp32's memory.
  std::vector<KVQ8> kq, vq;                   // [enc layer]
  std::vector<std::vector<uint16_t>> k, v;    // [enc layer] (T, kv_dim)
  std::vector<float> out;                     // (T, d)
  // The cross-attention keys and values every decoder step reads: int8 with a scale per
  // token and kv head, in the layouts of the decoder's integer kernels (KVQ8,
  // core/src/ops/attention_q8.h), where the head size suits them (every Needle shape's);
  // else bf16 bits in cross_k / cross_v. One of the two pairs is filled.
  std::vector<KVQ8> cross_kq, cross_vq;       // [dec layer]
  std::vector<std::vector<uint16_t>> cross_k; // [dec layer] (T, kv_dim)
  std::vector<std::vector<uint16_t>> cross_v; // [dec layer] (T, kv_dim)
  uint64_t bytes() const;                     // what the block holds
};
// Bytes an EncoderBlock of T tokens holds for this config.
uint64_t encoder_block_bytes(const ModelConfig& config, int64_t T);

// Decoder self-attention cache for one sequence.
struct DecoderState {
  int32_t pos = 0;                            // tokens consumed so far
  std::vector<std::vector<float>> k, v;       // [dec layer] (rows, kv_dim); grown as pos needs, up to max_dec_len
};

class Model {
 public:
  // Validates every tensor's presence, type and shape against the metadata.
  static Result<std::shared_ptr<Model>> load(std::shared_ptr<const GgufFile> file);
  static Result<std::shared_ptr<Model>> load_file(const std::string& path);

  const ModelConfig& config() const { return config_; }
  const Tokenizer& tokenizer() const { return tokenizer_; }
  // The confidence calibration the file carries (empty when none: raw scores are reported).
  const Calibration& calibration() const { return calibration_; }
  const GgufFile& file() const { return *file_; }
  bool has_retrieval_head() const { return config_.contrastive_dim > 0; }

  // ids: T tokens (1 <= T <= max_enc_len), each in [0, vocab). Pad ids are masked as keys.
  // block_prefix (catalog mask only, else 0): tokens [0, block_prefix) are the tool block,
  // which attends only to itself; the tokens after it attend to everything.
  Status encode(const std::vector<int32_t>& ids, EncoderOutput* out, int32_t block_prefix = 0) const;
  // The catalog mask in two parts: encode_block(block) then encode_after(block, rest) gives
  // what encode(block + rest, block_prefix = block.size()) gives (up to float rounding), and
  // the block's part is computed once for every rest that follows it. Unsupported for a
  // bidirectional model; rest may not be empty.
  Status encode_block(const std::vector<int32_t>& block_ids, EncoderBlock* out) const;
  // This form copies the block's states into `out`; the shared form refers to them
  // (EncoderOutput::prefix), so a cached block costs no copy per call.
  Status encode_after(const EncoderBlock& block, const std::vector<int32_t>& rest_ids,
                      EncoderOutput* out) const;
  Status encode_after(std::shared_ptr<const EncoderBlock> block, const std::vector<int32_t>& rest_ids,
                      EncoderOutput* out) const;
  // The retrieval head's unit-norm embedding of an encoder output (contrastive_dim floats).
  Status embed(const EncoderOutput& enc, const std::vector<int32_t>& ids, std::vector<float>* out) const;

  DecoderState new_decoder_state() const;
  // Feeds one token at state.pos; writes vocab_size logits (none when logits is null: the
  // caller already knows the next token). InvalidInput when the cache is full.
  Status decode_step(const EncoderOutput& enc, DecoderState& state, int32_t token,
                     float* logits) const;
  // The same with the logits of rows[0, n) only: logits[r] for each r of rows gets the value
  // decode_step gives it (bit for bit); the other entries are left alone. Constrained
  // decoding's sparse steps (docs/engine.md, "Sparse logits"). Ids must lie in the vocabulary.
  Status decode_step_rows(const EncoderOutput& enc, DecoderState& state, int32_t token, float* logits,
                          const int32_t* rows, int n) const;

  // Embedding + all layers' weights (tests and the later training engine read these).
  const Matrix& embedding() const { return embedding_; }
  const std::vector<EncoderLayer>& encoder_layers() const { return enc_layers_; }
  const std::vector<DecoderLayer>& decoder_layers() const { return dec_layers_; }

 private:
  Status bind_weights();
  Status decode_step_impl(const EncoderOutput& enc, DecoderState& state, int32_t token, float* logits,
                          const int32_t* rows, int n) const;
  Status check_ids(const std::vector<int32_t>& ids, int32_t offset) const;
  // Encoder layers over x (R tokens at positions P..P+R-1, P = block ? block->T : 0); keys are
  // the block's cached ones then the tokens' own. keep (or null) gets each layer's keys and
  // values of the R tokens (int8 or bf16, EncoderBlock). block_prefix: the mask (encode with
  // no block only).
  void run_encoder_layers(float* x, int R, const std::vector<uint8_t>& valid, const EncoderBlock* block,
                          int32_t block_prefix, EncoderBlock* keep) const;
  // Final norm of R states into out->out, and the cross-attention K/V of those rows.
  void finish_encoder(const float* x, int R, std::vector<float>* out, std::vector<std::vector<float>>* cross_k,
                      std::vector<std::vector<float>>* cross_v) const;
  // The same into a block: its cross-attention keys and values in int8 (or bf16 bits).
  void finish_encoder_block(const float* x, int R, EncoderBlock* block) const;
  std::shared_ptr<const GgufFile> file_;
  ModelConfig config_;
  Tokenizer tokenizer_;
  Calibration calibration_;
  Matrix embedding_;                // (vocab, d)
  std::vector<EncoderLayer> enc_layers_;
  std::vector<float> enc_out_norm_; // (d)
  std::vector<DecoderLayer> dec_layers_;
  std::vector<float> dec_out_norm_; // (d)
  RetrievalHead retrieval_;
  RopeTable rope_;
};

// Bytes Model::load allocates besides the file it reads: the float scales of Q8_0 matrices,
// the widened blocks and scales of Q4_0 ones, f32 copies of every other tensor that is not an
// aligned F32 matrix, the RoPE table, the tokenizer's tables (an upper bound, from the
// header alone, so a host can refuse a model before loading it). The file must have passed
// model_config_from_gguf.
uint64_t model_load_bytes(const GgufFile& f, const ModelConfig& config);

// general.quantization_version / general.file_type for a file whose matrices are `type`
// (nothing for F32), as ggml readers expect.
void model_file_type_to_gguf(GgmlType type, GgufWriter& w);
// The type a matrix whose rows hold ne0 values is stored as when `type` is asked for:
// quantized types need whole blocks of 32, so narrower matrices stay F32 (as ggml does).
GgmlType matrix_storage_type(GgmlType type, int64_t ne0);

// Writes a complete model file with random weights (tests, benchmarks, the placeholder
// model before a trained one exists). Every norm, gate, bias and log_temp is random too,
// so parity tests exercise them. Projections and the embedding are stored as `type`.
Status model_write_random(const ModelConfig& config, const Tokenizer& tokenizer, uint64_t seed,
                          GgmlType type, GgufWriter* w);

// Writes the model in `in` with its matrices and embedding (the tensor table's kMatrix
// tensors) re-encoded as `type` (f32, f16, bf16, q8_0 or q4_0; under q8_0/q4_0 a matrix whose
// rows are no whole number of 32-value blocks stays f32), every other tensor as f32, and
// every metadata key (priors, calibration, tokenizer) kept but the file type. The values go
// through f32: q8_0 -> q4_0 quantizes the q8_0 values (their error is about a sixteenth of
// q4_0's), and q8_0 -> q8_0 gives the same blocks back. `needlepoint quantize`.
Status requantize_model(const GgufFile& in, GgmlType type, GgufWriter* out);

// A small synthetic tokenizer (specials, <tool_call>, <tools>, 256 byte pieces, ASCII
// characters, and generated merges up to vocab_size pieces) for random models made without
// a SentencePiece file.
Result<Tokenizer> synthetic_tokenizer(int32_t vocab_size);

}  // namespace np

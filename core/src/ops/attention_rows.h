// attention_rows.h — grouped-query attention for a few query rows: the decoder's steps
// (self-attention over its cache, cross-attention over the encoder's keys and values).
// attention_forward (ops.h) sends Tq <= kAttentionRowsMaxTq here. The packed-GEMM path of
// attention.cpp copies every head's K and V into panels for each call, which for one query
// row costs more than the dot products themselves (16% of a native decoder step for the
// 26M config over 300 encoder tokens); here the scores are dot products straight off K's
// rows and the output a weighted sum of V's rows, in the registers of f32vec.h.
//
// The result is attention_forward's (same masks, same softmax_exp_sum) up to float
// summation order; deterministic for a given build whatever the thread count (heads are
// split across threads, each head's sums run in a fixed order).
#pragma once
#include <cstdint>

namespace np {

constexpr int kAttentionRowsMaxTq = 4;

// Whether query row i may not see key j (ops.h's masks): a pad key, a key after the causal
// limit, or a key after the catalog block for a row inside it. Shared by every attention path.
inline bool attention_key_masked(const uint8_t* key_valid, int causal_offset, int block_prefix, int i, int j) {
  return (key_valid && !key_valid[j]) || (causal_offset >= 0 && j > i + causal_offset) ||
         (i < block_prefix && j >= block_prefix);
}

// True when HS suits the kernel (a multiple of the build's vector width: every head size of
// a Needle model, 64, is).
bool attention_rows_supported(int HS);

// out (Tq, NH*HS) = softmax(q k^T / sqrt(HS) + mask) v per head, as attention_forward
// documents it (ops.h). Any Tq >= 1, though meant for a few; HS must be supported.
// Allocates only per-thread scratch that grows to Tk floats and is kept.
void attention_rows_forward(float* out, const float* q, const float* k, const float* v, int Tq, int Tk, int NH,
                            int NKV, int HS, const uint8_t* key_valid, int causal_offset, int block_prefix);

// Up to how many query rows attending to an int8 block (a kept catalog block's encoder keys
// and values) are better served here, in place, than by widening the block to floats for the
// packed-GEMM attention: 64 in the 128-bit builds (WebAssembly, whose float products have no
// FMA, and its native twin: a 12-row query after a 311-token block, 26M shape, encodes in
// 4.7-5.0 ms against 5.4-5.5 widened), 0 with AVX2 or AVX-512 (the FMA GEMM is faster: 5.1
// against 5.4 ms at one thread).
int attention_rows_int8_max_rows();

struct KVQ8;
// Rows of keys and values (n rows of NKV*HS floats each) that live apart from others; or,
// with k and v null, the same as bf16 bits in k16 and v16, read as the floats they widen to;
// or, with kq and vq set, as int8 (a kept catalog block's cross-attention keys and values,
// ops/attention_q8.h: n == kq->T == vq->T, the products in integers; first segment only).
struct KVSegment {
  const float* k;
  const float* v;
  int n;
  const uint16_t* k16 = nullptr;
  const uint16_t* v16 = nullptr;
  const KVQ8* kq = nullptr;
  const KVQ8* vq = nullptr;
};
// The same over the keys of a then those of b as one list (key_valid indexes that list; no
// causal or block mask): what attention_rows_forward gives on their concatenation, bit for
// bit. The decoder cross-attends this way to a cached tool block and the query after it
// without copying the block (EncoderOutput::prefix).
void attention_rows_forward(float* out, const float* q, KVSegment a, KVSegment b, int Tq, int NH, int NKV, int HS,
                            const uint8_t* key_valid);

}  // namespace np

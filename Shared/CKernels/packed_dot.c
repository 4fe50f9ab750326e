// Decode's dot products on a repacked weight layout, for CPUs with AVX-512 VNNI.
//
// Why a second layout: with ggml's row-major blocks, one row's block of 32 fills only half
// (Q8_0) or a quarter (Q4_1 after unpacking) of a 512-bit register, and every row pays its
// own scale conversion and horizontal sum. Here four rows are interleaved block by block
// (a "group"), so one 512-bit load feeds four rows, their four scales convert in one
// instruction, and the final sums of four rows share their shuffles.
//
// Bits: every (row, token) still gets exactly dot.c's arithmetic. The int32 lanes are the
// same exact sums of elements 4i..4i+3 of a block; each lane's float accumulator gets
// fma(float(lane), d * activation scale, acc) in block order; the offsets chain is
// fma(m, scaled sum, offsets) in block order; the eight lanes are summed as dot.c sums
// them. Only which register lane holds which (row, lane) differs, and lane-wise operations
// do not care. So results are identical to dot.c and to the Swift reference, whatever the
// token count of the call.
#include "CKernels.h"

#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__)
#include <immintrin.h>

#define PACKED_ROWS 4
#define VNNI512 __attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,avx512vnni,f16c,fma")))

// Per group and block: Q4_1 keeps 4 x 16 bytes of nibbles, then 4 d and 4 m as halves;
// Q8_0 keeps 4 x 32 quants, then 4 d. Scales live in their own array, so quant loads stay
// 64-byte aligned.
static size_t quant_bytes_per_group_block(int type) { return type == 8 ? 128 : 64; }
static size_t scale_bytes_per_group_block(int type) { return type == 8 ? 8 : 16; }
static size_t row_block_bytes(int type) { return type == 8 ? 34 : 20; }

int tessera_packed_supports(int type) {
    return (type == 3 || type == 8) && tessera_dot_level() == 2;
}

size_t tessera_packed_quant_bytes(int type, int rows, int blocks) {
    size_t groups = ((size_t)rows + PACKED_ROWS - 1) / PACKED_ROWS;
    return groups * (size_t)blocks * quant_bytes_per_group_block(type);
}

size_t tessera_packed_scale_bytes(int type, int rows, int blocks) {
    size_t groups = ((size_t)rows + PACKED_ROWS - 1) / PACKED_ROWS;
    return groups * (size_t)blocks * scale_bytes_per_group_block(type);
}

void tessera_pack_rows(int type, const uint8_t *weights, size_t row_bytes, int rows, int blocks,
                       uint8_t *quants, uint8_t *scales) {
    const size_t quant_size = quant_bytes_per_group_block(type);
    const size_t scale_size = scale_bytes_per_group_block(type);
    const size_t block_size = row_block_bytes(type);
    const size_t per_row_quants = quant_size / PACKED_ROWS;  // 16 or 32
    const int groups = (rows + PACKED_ROWS - 1) / PACKED_ROWS;
    // Rows past the end of the matrix (the last group's padding) are zero: d = m = 0.
    memset(quants, 0, tessera_packed_quant_bytes(type, rows, blocks));
    memset(scales, 0, tessera_packed_scale_bytes(type, rows, blocks));
    for (int g = 0; g < groups; g++) {
        for (int b = 0; b < blocks; b++) {
            uint8_t *q = quants + ((size_t)g * blocks + b) * quant_size;
            uint8_t *s = scales + ((size_t)g * blocks + b) * scale_size;
            for (int k = 0; k < PACKED_ROWS; k++) {
                const int row = g * PACKED_ROWS + k;
                if (row >= rows) break;
                const uint8_t *blk = weights + (size_t)row * row_bytes + (size_t)b * block_size;
                if (type == 8) {
                    memcpy(s + 2 * k, blk, 2);
                    memcpy(q + per_row_quants * k, blk + 2, 32);
                } else {
                    memcpy(s + 2 * k, blk, 2);      // d
                    memcpy(s + 8 + 2 * k, blk + 2, 2);  // m
                    memcpy(q + per_row_quants * k, blk + 4, 16);
                }
            }
        }
    }
}

// Lanes 4k..4k+3 of `quarters` hold row k's four quarter sums (lane i + lane i+4 of its
// accumulator). Returns row k's total in lane k, summed as dot.c sums: (q0 + q2) + (q1 + q3).
VNNI512 static inline __m128 sum_quarters(__m512 quarters) {
    __m512 halves = _mm512_add_ps(quarters, _mm512_permute_ps(quarters, _MM_SHUFFLE(1, 0, 3, 2)));
    __m512 totals = _mm512_add_ps(halves, _mm512_permute_ps(halves, _MM_SHUFFLE(2, 3, 0, 1)));
    const __m512i firsts = _mm512_setr_epi32(0, 4, 8, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0);
    return _mm512_castps512_ps128(_mm512_permutexvar_ps(firsts, totals));
}

// Stores the group's rows that lie in [row_begin, row_end).
static inline void store_rows(float *out, const float *values, int first_row, int row_begin,
                              int row_end) {
    for (int k = 0; k < PACKED_ROWS; k++) {
        const int row = first_row + k;
        if (row >= row_begin && row < row_end) out[row] = values[k];
    }
}

// One group of four Q4_1 rows against TOKENS tokens. Register lanes: `low[t]` holds, in its
// 128-bit chunk k, row k's accumulator lanes 0..3 (elements 0..15 of each block, the low
// nibbles); `high[t]` lanes 4..7 (elements 16..31, the high nibbles).
#define DEFINE_Q4_1_GROUP(NAME, TOKENS)                                                         \
    VNNI512 static void NAME(const uint8_t *quants, const uint8_t *scales, int blocks,           \
                             const int8_t *acts, const float *act_scales,                       \
                             const float *scaled_sums, int first_row, int row_begin,            \
                             int row_end, float *out, size_t out_stride) {                      \
        __m512 low[TOKENS], high[TOKENS];                                                       \
        __m128 offsets[TOKENS];                                                                 \
        for (int t = 0; t < TOKENS; t++) {                                                      \
            low[t] = _mm512_setzero_ps();                                                       \
            high[t] = _mm512_setzero_ps();                                                      \
            offsets[t] = _mm_setzero_ps();                                                      \
        }                                                                                       \
        const __m512i nibble = _mm512_set1_epi8(0x0F);                                          \
        const __m512i spread = _mm512_setr_epi32(0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3); \
        const size_t token_values = (size_t)blocks * 32;                                        \
        for (int b = 0; b < blocks; b++) {                                                      \
            const __m512i packed = _mm512_load_si512((const void *)(quants + (size_t)b * 64));  \
            const __m512i lo = _mm512_and_si512(packed, nibble);                                \
            const __m512i hi = _mm512_and_si512(_mm512_srli_epi16(packed, 4), nibble);          \
            const __m256 dm = _mm256_cvtph_ps(                                                  \
                _mm_loadu_si128((const __m128i *)(scales + (size_t)b * 16)));                   \
            const __m512 d = _mm512_permutexvar_ps(spread, _mm512_castps256_ps512(dm));         \
            const __m128 m = _mm256_extractf128_ps(dm, 1);                                      \
            for (int t = 0; t < TOKENS; t++) {                                                  \
                const int8_t *a = acts + t * token_values + (size_t)b * 32;                     \
                const size_t at = (size_t)t * blocks + b;                                       \
                const __m512i a_lo = _mm512_broadcast_i32x4(_mm_loadu_si128((const __m128i *)a)); \
                const __m512i a_hi =                                                            \
                    _mm512_broadcast_i32x4(_mm_loadu_si128((const __m128i *)(a + 16)));         \
                const __m512i sum_lo = _mm512_dpbusd_epi32(_mm512_setzero_si512(), lo, a_lo);   \
                const __m512i sum_hi = _mm512_dpbusd_epi32(_mm512_setzero_si512(), hi, a_hi);   \
                const __m512 ds = _mm512_mul_ps(d, _mm512_set1_ps(act_scales[at]));             \
                low[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(sum_lo), ds, low[t]);               \
                high[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(sum_hi), ds, high[t]);             \
                offsets[t] = _mm_fmadd_ps(m, _mm_set1_ps(scaled_sums[at]), offsets[t]);         \
            }                                                                                   \
        }                                                                                       \
        for (int t = 0; t < TOKENS; t++) {                                                      \
            float values[4];                                                                    \
            _mm_storeu_ps(values,                                                               \
                          _mm_add_ps(sum_quarters(_mm512_add_ps(low[t], high[t])), offsets[t])); \
            store_rows(out + (size_t)t * out_stride, values, first_row, row_begin, row_end);    \
        }                                                                                       \
    }

// One group of four Q8_0 rows against TOKENS tokens. `pair01[t]` holds row 0's eight
// accumulator lanes in its low 256 bits and row 1's in its high; `pair23[t]` rows 2 and 3.
// vpdpbusd multiplies unsigned by signed bytes: the weights go in as w + 128 (w ^ 0x80),
// and each lane starts from -128 · (sum of its four activations), `corrections`, so the
// int32 lane is exactly Σ w·a.
#define DEFINE_Q8_0_GROUP(NAME, TOKENS)                                                         \
    VNNI512 static void NAME(const uint8_t *quants, const uint8_t *scales, int blocks,           \
                             const int8_t *acts, const float *act_scales,                       \
                             const int32_t *corrections, int first_row, int row_begin,          \
                             int row_end, float *out, size_t out_stride) {                      \
        __m512 pair01[TOKENS], pair23[TOKENS];                                                  \
        for (int t = 0; t < TOKENS; t++) {                                                      \
            pair01[t] = _mm512_setzero_ps();                                                    \
            pair23[t] = _mm512_setzero_ps();                                                    \
        }                                                                                       \
        const __m512i flip = _mm512_set1_epi8((char)0x80);                                      \
        const __m512i spread01 =                                                                \
            _mm512_setr_epi32(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1);                  \
        const __m512i spread23 =                                                                \
            _mm512_setr_epi32(2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3);                  \
        const size_t token_values = (size_t)blocks * 32;                                        \
        for (int b = 0; b < blocks; b++) {                                                      \
            const uint8_t *q = quants + (size_t)b * 128;                                        \
            const __m512i w01 = _mm512_xor_si512(_mm512_load_si512((const void *)q), flip);     \
            const __m512i w23 =                                                                 \
                _mm512_xor_si512(_mm512_load_si512((const void *)(q + 64)), flip);              \
            const __m512 d4 = _mm512_castps128_ps512(                                           \
                _mm_cvtph_ps(_mm_loadl_epi64((const __m128i *)(scales + (size_t)b * 8))));     \
            const __m512 d01 = _mm512_permutexvar_ps(spread01, d4);                             \
            const __m512 d23 = _mm512_permutexvar_ps(spread23, d4);                             \
            for (int t = 0; t < TOKENS; t++) {                                                  \
                const size_t at = (size_t)t * blocks + b;                                       \
                const __m512i a = _mm512_broadcast_i64x4(                                       \
                    _mm256_loadu_si256((const __m256i *)(acts + t * token_values + (size_t)b * 32))); \
                const __m512i c = _mm512_broadcast_i64x4(                                       \
                    _mm256_loadu_si256((const __m256i *)(corrections + at * 8)));               \
                const __m512 s = _mm512_set1_ps(act_scales[at]);                                \
                pair01[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_dpbusd_epi32(c, w01, a)), \
                                            _mm512_mul_ps(d01, s), pair01[t]);                  \
                pair23[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_dpbusd_epi32(c, w23, a)), \
                                            _mm512_mul_ps(d23, s), pair23[t]);                  \
            }                                                                                   \
        }                                                                                       \
        const __m512i gather = _mm512_setr_epi32(0, 1, 2, 3, 8, 9, 10, 11, 16, 17, 18, 19, 24, \
                                                 25, 26, 27);                                   \
        for (int t = 0; t < TOKENS; t++) {                                                      \
            /* lane i + lane i+4 of each row: swap the 128-bit halves of each 256 */            \
            const __m512 q01 = _mm512_add_ps(                                                   \
                pair01[t], _mm512_shuffle_f32x4(pair01[t], pair01[t], _MM_SHUFFLE(2, 3, 0, 1))); \
            const __m512 q23 = _mm512_add_ps(                                                   \
                pair23[t], _mm512_shuffle_f32x4(pair23[t], pair23[t], _MM_SHUFFLE(2, 3, 0, 1))); \
            const __m512 quarters = _mm512_permutex2var_ps(q01, gather, q23);                   \
            float values[4];                                                                    \
            /* + 0: dot.c adds its (zero) offsets too, which turns -0 into +0 */                 \
            _mm_storeu_ps(values, _mm_add_ps(sum_quarters(quarters), _mm_setzero_ps()));        \
            store_rows(out + (size_t)t * out_stride, values, first_row, row_begin, row_end);    \
        }                                                                                       \
    }

DEFINE_Q4_1_GROUP(q4_1_group_1, 1)
DEFINE_Q4_1_GROUP(q4_1_group_2, 2)
DEFINE_Q4_1_GROUP(q4_1_group_4, 4)
DEFINE_Q4_1_GROUP(q4_1_group_8, 8)
DEFINE_Q8_0_GROUP(q8_0_group_1, 1)
DEFINE_Q8_0_GROUP(q8_0_group_2, 2)
DEFINE_Q8_0_GROUP(q8_0_group_4, 4)
DEFINE_Q8_0_GROUP(q8_0_group_8, 8)

// -128 · (sum of activations 4i..4i+3) per token, block and lane i (see DEFINE_Q8_0_GROUP).
VNNI512 static void q8_0_corrections(const int8_t *acts, int tokens, int blocks,
                                     int32_t *corrections) {
    const __m256i ones = _mm256_set1_epi8(1);
    for (size_t at = 0; at < (size_t)tokens * blocks; at++) {
        __m256i a = _mm256_loadu_si256((const __m256i *)(acts + at * 32));
        __m256i sums = _mm256_dpbusd_epi32(_mm256_setzero_si256(), ones, a);
        _mm256_storeu_si256((__m256i *)(corrections + at * 8),
                            _mm256_sub_epi32(_mm256_setzero_si256(), _mm256_slli_epi32(sums, 7)));
    }
}

// The largest token tile that fits `remaining`: 8, 4, 2 or 1 (8 tokens keep 16-24 of the 32
// vector registers busy with accumulators).
static inline int token_tile(int remaining) {
    return remaining >= 8 ? 8 : remaining >= 4 ? 4 : remaining >= 2 ? 2 : 1;
}

int tessera_packed_dot_rows(int type, const uint8_t *quants, const uint8_t *scales, int blocks,
                            int row_begin, int row_end, const int8_t *activations,
                            const float *act_scales, const float *scaled_sums, int tokens,
                            float *out, size_t out_stride) {
    if (!tessera_packed_supports(type) || row_begin >= row_end || tokens <= 0) return 0;
    const size_t quant_size = quant_bytes_per_group_block(type) * (size_t)blocks;
    const size_t scale_size = scale_bytes_per_group_block(type) * (size_t)blocks;
    const size_t token_values = (size_t)blocks * 32;
    int32_t *corrections = NULL;
    if (type == 8) {
        corrections = malloc((size_t)tokens * blocks * 8 * sizeof(int32_t));
        if (corrections == NULL) return 0;
        q8_0_corrections(activations, tokens, blocks, corrections);
    }
    // Group by group (its weights stay in L1 while every token tile passes over them).
    for (int g = row_begin / PACKED_ROWS; g * PACKED_ROWS < row_end; g++) {
        const uint8_t *q = quants + (size_t)g * quant_size;
        const uint8_t *s = scales + (size_t)g * scale_size;
        const int first_row = g * PACKED_ROWS;
        for (int t = 0; t < tokens;) {
            const int tile = token_tile(tokens - t);
            const int8_t *a = activations + (size_t)t * token_values;
            const float *as = act_scales + (size_t)t * blocks;
            float *o = out + (size_t)t * out_stride;
            if (type == 8) {
                const int32_t *c = corrections + (size_t)t * blocks * 8;
                switch (tile) {
                case 8: q8_0_group_8(q, s, blocks, a, as, c, first_row, row_begin, row_end, o, out_stride); break;
                case 4: q8_0_group_4(q, s, blocks, a, as, c, first_row, row_begin, row_end, o, out_stride); break;
                case 2: q8_0_group_2(q, s, blocks, a, as, c, first_row, row_begin, row_end, o, out_stride); break;
                default: q8_0_group_1(q, s, blocks, a, as, c, first_row, row_begin, row_end, o, out_stride); break;
                }
            } else {
                const float *ss = scaled_sums + (size_t)t * blocks;
                switch (tile) {
                case 8: q4_1_group_8(q, s, blocks, a, as, ss, first_row, row_begin, row_end, o, out_stride); break;
                case 4: q4_1_group_4(q, s, blocks, a, as, ss, first_row, row_begin, row_end, o, out_stride); break;
                case 2: q4_1_group_2(q, s, blocks, a, as, ss, first_row, row_begin, row_end, o, out_stride); break;
                default: q4_1_group_1(q, s, blocks, a, as, ss, first_row, row_begin, row_end, o, out_stride); break;
                }
            }
            t += tile;
        }
    }
    free(corrections);
    return 1;
}

#else

int tessera_packed_supports(int type) { (void)type; return 0; }
size_t tessera_packed_quant_bytes(int type, int rows, int blocks) {
    (void)type; (void)rows; (void)blocks; return 0;
}
size_t tessera_packed_scale_bytes(int type, int rows, int blocks) {
    (void)type; (void)rows; (void)blocks; return 0;
}
void tessera_pack_rows(int type, const uint8_t *weights, size_t row_bytes, int rows, int blocks,
                       uint8_t *quants, uint8_t *scales) {
    (void)type; (void)weights; (void)row_bytes; (void)rows; (void)blocks; (void)quants;
    (void)scales;
}
int tessera_packed_dot_rows(int type, const uint8_t *quants, const uint8_t *scales, int blocks,
                            int row_begin, int row_end, const int8_t *activations,
                            const float *act_scales, const float *scaled_sums, int tokens,
                            float *out, size_t out_stride) {
    (void)type; (void)quants; (void)scales; (void)blocks; (void)row_begin; (void)row_end;
    (void)activations; (void)act_scales; (void)scaled_sums; (void)tokens; (void)out;
    (void)out_stride;
    return 0;
}

#endif

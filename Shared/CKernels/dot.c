#include "CKernels.h"

#if defined(__x86_64__)
#include <immintrin.h>

static inline float half_to_float(const uint8_t *p) {
    uint16_t h;
    __builtin_memcpy(&h, p, 2);
    return _cvtsh_ss(h);
}

// 32 weights as unsigned bytes (nibbles: element j in the low half of byte j, j+16 in the high).
static inline __m256i unpack_nibbles(const uint8_t *q) {
    __m128i packed = _mm_loadu_si128((const __m128i *)q);
    __m128i low = _mm_and_si128(packed, _mm_set1_epi8(0x0F));
    __m128i high = _mm_and_si128(_mm_srli_epi16(packed, 4), _mm_set1_epi8(0x0F));
    return _mm256_set_m128i(high, low);
}

// Q5_0/Q5_1: the nibbles plus each element's fifth bit (bit i of the 32-bit qh for element i).
static inline __m256i unpack_five_bits(const uint8_t *q, const uint8_t *qh) {
    uint32_t bits;
    __builtin_memcpy(&bits, qh, 4);
    const __m256i spread = _mm256_shuffle_epi8(
        _mm256_set1_epi32((int)bits),
        _mm256_setr_epi8(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1,
                         2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3));
    const __m256i masks = _mm256_set1_epi64x(0x8040201008040201LL);
    const __m256i set = _mm256_cmpeq_epi8(_mm256_and_si256(spread, masks), masks);
    return _mm256_or_si256(unpack_nibbles(q), _mm256_and_si256(set, _mm256_set1_epi8(0x10)));
}

// Σ u8 × s8 over 32 pairs, as eight int32 lanes (exact: |u| ≤ 128, |s| ≤ 127).
static inline __m256i dot_u8s8_avx2(__m256i u, __m256i s) {
    __m256i pairs = _mm256_maddubs_epi16(u, s);  // |pair sum| ≤ 2·128·127 < 2^15: exact
    return _mm256_madd_epi16(pairs, _mm256_set1_epi16(1));
}

__attribute__((target("avx512f,avx512vl,avx512vnni")))
static inline __m256i dot_u8s8_vnni(__m256i u, __m256i s) {
    return _mm256_dpbusd_epi32(_mm256_setzero_si256(), u, s);
}

// One row against TOKENS tokens (a compile-time count, so the per-token arrays live in
// registers). Each weight block is loaded and unpacked once for all of them; per token the
// work is exactly the one-token kernel's: the block's exact integer sum, then
// acc = fma(float(sum), d · scale, acc) in block order, and the offsets in block order.
// So a token's result has the same bits whatever else shares the call.
#define DEFINE_ROW_DOT(NAME, TOKENS, DOT, ATTR)                                                \
    ATTR static void NAME(int type, const uint8_t *row, const int8_t *acts,                    \
                          const float *scales, const float *scaled_sums, int blocks,           \
                          float *out, size_t out_stride) {                                     \
        __m256 acc[TOKENS];                                                                    \
        float offsets[TOKENS];                                                                 \
        for (int t = 0; t < TOKENS; t++) {                                                     \
            acc[t] = _mm256_setzero_ps();                                                      \
            offsets[t] = 0;                                                                    \
        }                                                                                      \
        const size_t token_values = (size_t)blocks * 32;                                       \
        for (int b = 0; b < blocks; b++) {                                                     \
            __m256i w;                                                                         \
            float d, m = 0;                                                                    \
            if (type == 8) { /* Q8_0: w·a = |w| · (a·sign(w)) */                               \
                const uint8_t *blk = row + (size_t)b * 34;                                     \
                w = _mm256_loadu_si256((const __m256i *)(blk + 2));                            \
                d = half_to_float(blk);                                                        \
            } else if (type == 3) { /* Q4_1: d·q + m */                                        \
                const uint8_t *blk = row + (size_t)b * 20;                                     \
                w = unpack_nibbles(blk + 4);                                                   \
                d = half_to_float(blk);                                                        \
                m = half_to_float(blk + 2);                                                    \
            } else if (type == 6) { /* Q5_0: d·(q - 16) */                                    \
                const uint8_t *blk = row + (size_t)b * 22;                                     \
                w = unpack_five_bits(blk + 6, blk + 2);                                        \
                d = half_to_float(blk);                                                        \
                m = -16.0f * d;                                                                \
            } else if (type == 7) { /* Q5_1: d·q + m */                                       \
                const uint8_t *blk = row + (size_t)b * 24;                                     \
                w = unpack_five_bits(blk + 8, blk + 4);                                        \
                d = half_to_float(blk);                                                        \
                m = half_to_float(blk + 2);                                                    \
            } else { /* Q4_0: d·(q - 8) */                                                     \
                const uint8_t *blk = row + (size_t)b * 18;                                     \
                w = unpack_nibbles(blk + 2);                                                   \
                d = half_to_float(blk);                                                        \
                m = -8.0f * d;                                                                 \
            }                                                                                  \
            const __m256i magnitude = _mm256_sign_epi8(w, w);                                  \
            for (int t = 0; t < TOKENS; t++) {                                                 \
                const size_t at = (size_t)t * blocks + b;                                      \
                __m256i av = _mm256_loadu_si256(                                               \
                    (const __m256i *)(acts + t * token_values + (size_t)b * 32));              \
                __m256i isum = type == 8 ? DOT(magnitude, _mm256_sign_epi8(av, w))             \
                                         : DOT(w, av);                                         \
                if (type != 8) offsets[t] += m * scaled_sums[at];                              \
                acc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum),                             \
                                         _mm256_set1_ps(d * scales[at]), acc[t]);              \
            }                                                                                  \
        }                                                                                      \
        for (int t = 0; t < TOKENS; t++) {                                                     \
            __m128 half = _mm_add_ps(_mm256_castps256_ps128(acc[t]),                           \
                                     _mm256_extractf128_ps(acc[t], 1));                        \
            half = _mm_add_ps(half, _mm_movehl_ps(half, half));                                \
            half = _mm_add_ss(half, _mm_movehdup_ps(half));                                    \
            out[(size_t)t * out_stride] = _mm_cvtss_f32(half) + offsets[t];                    \
        }                                                                                      \
    }

// One row against one token: the multi-token kernel's arithmetic for one token, without its
// per-token arrays and shared-unpack bookkeeping (about 10% faster for single-stream decode).
#define DEFINE_ONE_TOKEN_DOT(NAME, DOT, ATTR)                                                        \
    ATTR static float NAME(int type, const uint8_t *row, const int8_t *acts,                   \
                           const float *scales, const float *scaled_sums, int blocks) {        \
        __m256 acc = _mm256_setzero_ps();                                                      \
        float offsets = 0;                                                                     \
        for (int b = 0; b < blocks; b++) {                                                     \
            const int8_t *a = acts + (size_t)b * 32;                                           \
            __m256i av = _mm256_loadu_si256((const __m256i *)a);                               \
            __m256i isum;                                                                      \
            float d;                                                                           \
            if (type == 8) { /* Q8_0: w·a = |w| · (a·sign(w)) */                               \
                const uint8_t *blk = row + (size_t)b * 34;                                     \
                __m256i w = _mm256_loadu_si256((const __m256i *)(blk + 2));                    \
                isum = DOT(_mm256_sign_epi8(w, w), _mm256_sign_epi8(av, w));                   \
                d = half_to_float(blk);                                                        \
            } else if (type == 3) { /* Q4_1: d·q + m */                                        \
                const uint8_t *blk = row + (size_t)b * 20;                                     \
                isum = DOT(unpack_nibbles(blk + 4), av);                                       \
                d = half_to_float(blk);                                                        \
                offsets += half_to_float(blk + 2) * scaled_sums[b];                            \
            } else if (type == 6) { /* Q5_0: d·(q - 16) */                                    \
                const uint8_t *blk = row + (size_t)b * 22;                                     \
                isum = DOT(unpack_five_bits(blk + 6, blk + 2), av);                            \
                d = half_to_float(blk);                                                        \
                offsets += (-16.0f * d) * scaled_sums[b];                                      \
            } else if (type == 7) { /* Q5_1: d·q + m */                                       \
                const uint8_t *blk = row + (size_t)b * 24;                                     \
                isum = DOT(unpack_five_bits(blk + 8, blk + 4), av);                            \
                d = half_to_float(blk);                                                        \
                offsets += half_to_float(blk + 2) * scaled_sums[b];                            \
            } else { /* Q4_0: d·(q - 8) */                                                     \
                const uint8_t *blk = row + (size_t)b * 18;                                     \
                isum = DOT(unpack_nibbles(blk + 2), av);                                       \
                d = half_to_float(blk);                                                        \
                offsets += (-8.0f * d) * scaled_sums[b];                                       \
            }                                                                                  \
            acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum), _mm256_set1_ps(d * scales[b]), acc); \
        }                                                                                      \
        __m128 half = _mm_add_ps(_mm256_castps256_ps128(acc), _mm256_extractf128_ps(acc, 1));  \
        half = _mm_add_ps(half, _mm_movehl_ps(half, half));                                    \
        half = _mm_add_ss(half, _mm_movehdup_ps(half));                                        \
        return _mm_cvtss_f32(half) + offsets;                                                  \
    }

DEFINE_ONE_TOKEN_DOT(row_dot_avx2, dot_u8s8_avx2, )
DEFINE_ONE_TOKEN_DOT(row_dot_vnni, dot_u8s8_vnni, __attribute__((target("avx512f,avx512vl,avx512vnni"))))

#define VNNI __attribute__((target("avx512f,avx512vl,avx512vnni")))
DEFINE_ROW_DOT(row_dot4_avx2, 4, dot_u8s8_avx2, )
DEFINE_ROW_DOT(row_dot4_vnni, 4, dot_u8s8_vnni, VNNI)

int tessera_dot_level(void) {
    static int level = -1;
    if (level < 0) {
        __builtin_cpu_init();
        if (__builtin_cpu_supports("avx512vnni") && __builtin_cpu_supports("avx512vl")) {
            level = 2;
        } else if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) {
            level = 1;
        } else {
            level = 0;
        }
    }
    return level;
}

int tessera_dot_rows(int type, const uint8_t *weights, size_t row_bytes, int row_begin,
                     int row_end, const int8_t *activations, const float *scales,
                     const float *scaled_sums, int blocks, int tokens, float *out,
                     size_t out_stride) {
    if (type != 2 && type != 3 && type != 6 && type != 7 && type != 8) return 0;
    int level = tessera_dot_level();
    if (level == 0) return 0;
    // Four tokens at a time against each row (the row stays in L1 meanwhile), then the rest.
    const size_t token_values = (size_t)blocks * 32;
    for (int r = row_begin; r < row_end; r++) {
        const uint8_t *row = weights + (size_t)r * row_bytes;
        int t = 0;
        for (; t + 4 <= tokens; t += 4) {
            const int8_t *a = activations + (size_t)t * token_values;
            const size_t at = (size_t)t * blocks;
            float *o = out + (size_t)t * out_stride + r;
            if (level == 2)
                row_dot4_vnni(type, row, a, scales + at, scaled_sums + at, blocks, o, out_stride);
            else
                row_dot4_avx2(type, row, a, scales + at, scaled_sums + at, blocks, o, out_stride);
        }
        for (; t < tokens; t++) {
            const int8_t *a = activations + (size_t)t * token_values;
            const size_t at = (size_t)t * blocks;
            float *o = out + (size_t)t * out_stride + r;
            *o = level == 2 ? row_dot_vnni(type, row, a, scales + at, scaled_sums + at, blocks)
                            : row_dot_avx2(type, row, a, scales + at, scaled_sums + at, blocks);
        }
    }
    return 1;
}

#else

int tessera_dot_level(void) { return 0; }

int tessera_dot_rows(int type, const uint8_t *weights, size_t row_bytes, int row_begin,
                     int row_end, const int8_t *activations, const float *scales,
                     const float *scaled_sums, int blocks, int tokens, float *out,
                     size_t out_stride) {
    (void)type; (void)weights; (void)row_bytes; (void)row_begin; (void)row_end;
    (void)activations; (void)scales; (void)scaled_sums; (void)blocks; (void)tokens;
    (void)out; (void)out_stride;
    return 0;
}

#endif

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

// Σ u8 × s8 over 32 pairs, as eight int32 lanes (exact: |u| ≤ 128, |s| ≤ 127).
static inline __m256i dot_u8s8_avx2(__m256i u, __m256i s) {
    __m256i pairs = _mm256_maddubs_epi16(u, s);  // |pair sum| ≤ 2·128·127 < 2^15: exact
    return _mm256_madd_epi16(pairs, _mm256_set1_epi16(1));
}

__attribute__((target("avx512f,avx512vl,avx512vnni")))
static inline __m256i dot_u8s8_vnni(__m256i u, __m256i s) {
    return _mm256_dpbusd_epi32(_mm256_setzero_si256(), u, s);
}

// One row against one token. `level` picks the instruction; the float work is shared.
#define DEFINE_ROW_DOT(NAME, DOT, ATTR)                                                        \
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

DEFINE_ROW_DOT(row_dot_avx2, dot_u8s8_avx2, )
DEFINE_ROW_DOT(row_dot_vnni, dot_u8s8_vnni, __attribute__((target("avx512f,avx512vl,avx512vnni"))))

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
    if (type != 2 && type != 3 && type != 8) return 0;
    int level = tessera_dot_level();
    if (level == 0) return 0;
    for (int r = row_begin; r < row_end; r++) {
        const uint8_t *row = weights + (size_t)r * row_bytes;
        for (int t = 0; t < tokens; t++) {
            const int8_t *a = activations + (size_t)t * blocks * 32;
            const float *s = scales + (size_t)t * blocks;
            const float *ss = scaled_sums + (size_t)t * blocks;
            out[(size_t)t * out_stride + r] = level == 2
                ? row_dot_vnni(type, row, a, s, ss, blocks)
                : row_dot_avx2(type, row, a, s, ss, blocks);
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

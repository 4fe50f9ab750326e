#include "CKernels.h"

#include <stdlib.h>

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

// Block b of a row of ggml `type`: its 32 weights as bytes (unsigned nibbles, or Q8_0's
// signed values), d, and the offset factor m (Q4_1/Q5_1's m; -8·d, -16·d for Q4_0/Q5_0).
static inline __attribute__((always_inline)) void load_block(int type, const uint8_t *row, int b,
                                                             __m256i *w, float *d, float *m) {
    if (type == 8) {
        const uint8_t *blk = row + (size_t)b * 34;
        *w = _mm256_loadu_si256((const __m256i *)(blk + 2));
        *d = half_to_float(blk);
    } else if (type == 3) {
        const uint8_t *blk = row + (size_t)b * 20;
        *w = unpack_nibbles(blk + 4);
        *d = half_to_float(blk);
        *m = half_to_float(blk + 2);
    } else if (type == 6) {
        const uint8_t *blk = row + (size_t)b * 22;
        *w = unpack_five_bits(blk + 6, blk + 2);
        *d = half_to_float(blk);
        *m = -16.0f * *d;
    } else if (type == 7) {
        const uint8_t *blk = row + (size_t)b * 24;
        *w = unpack_five_bits(blk + 8, blk + 4);
        *d = half_to_float(blk);
        *m = half_to_float(blk + 2);
    } else {
        const uint8_t *blk = row + (size_t)b * 18;
        *w = unpack_nibbles(blk + 2);
        *d = half_to_float(blk);
        *m = -8.0f * *d;
    }
}

// One row against TOKENS tokens (2 to 8, a compile-time count, so the per-token accumulators
// live in registers). Each weight block is loaded and unpacked once for all of them. The
// tokens' activation scales and scaled sums come block-major, 8 floats per block (`tscales`,
// `tsums`; lanes past TOKENS are 0), so the offset terms of all tokens are one FMA per block
// and each token's d × scale a broadcast load and a multiply. Against the four-token kernel
// before it, which did a scalar multiply, a broadcast and a scalar FMA per token and block,
// this runs 8 and 16 tokens about 1.3-1.5× faster on Zen 3 (permuting one vector of the
// tokens' d × scale products instead of the broadcast loads was slower there). Per token the float
// operations are exactly the one-token kernel's: the block's exact integer sum, then
// acc = fma(float(sum), d · scale, acc) and offsets = fma(m, scaled sum, offsets), in block
// order. So a token's result has the same bits whatever else shares the call.
#define DEFINE_ROW_DOT(NAME, TYPE, TOKENS, DOT, ATTR)                                          \
    ATTR static void NAME(const uint8_t *row, const int8_t *acts, const float *tscales,        \
                          const float *tsums, int blocks, float *out, size_t out_stride) {     \
        __m256 acc[TOKENS];                                                                    \
        for (int t = 0; t < TOKENS; t++) acc[t] = _mm256_setzero_ps();                         \
        __m256 offsets = _mm256_setzero_ps();                                                  \
        const size_t token_values = (size_t)blocks * 32;                                       \
        for (int b = 0; b < blocks; b++) {                                                     \
            __m256i w;                                                                         \
            float d, m = 0;                                                                    \
            load_block(TYPE, row, b, &w, &d, &m);                                              \
            const __m256i magnitude = _mm256_sign_epi8(w, w);                                  \
            const __m256 dv = _mm256_set1_ps(d);                                               \
            if (TYPE != 8)                                                                     \
                offsets = _mm256_fmadd_ps(_mm256_set1_ps(m),                                   \
                                          _mm256_load_ps(tsums + (size_t)b * 8), offsets);     \
            for (int t = 0; t < TOKENS; t++) {                                                 \
                __m256i av = _mm256_loadu_si256(                                               \
                    (const __m256i *)(acts + t * token_values + (size_t)b * 32));              \
                /* Q8_0: w·a = |w| · (a·sign(w)), as the one-token kernel */                   \
                __m256i isum = TYPE == 8 ? DOT(magnitude, _mm256_sign_epi8(av, w))             \
                                         : DOT(w, av);                                         \
                const __m256 scale = _mm256_broadcast_ss(tscales + (size_t)b * 8 + t);        \
                acc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum), _mm256_mul_ps(dv, scale),   \
                                         acc[t]);                                              \
            }                                                                                  \
        }                                                                                      \
        float offset[8] __attribute__((aligned(32)));                                          \
        _mm256_store_ps(offset, offsets);                                                      \
        for (int t = 0; t < TOKENS; t++) {                                                     \
            __m128 half = _mm_add_ps(_mm256_castps256_ps128(acc[t]),                           \
                                     _mm256_extractf128_ps(acc[t], 1));                        \
            half = _mm_add_ps(half, _mm_movehl_ps(half, half));                                \
            half = _mm_add_ss(half, _mm_movehdup_ps(half));                                    \
            out[(size_t)t * out_stride] = _mm_cvtss_f32(half) + offset[t];                     \
        }                                                                                      \
    }

// One row against one token: the multi-token kernel's arithmetic for one token, without its
// per-token arrays and shared-unpack bookkeeping (about 10% faster for single-stream decode).
// It keeps its own per-type branches rather than load_block: with the type known only at run
// time, load_block's form measured 0.72× as fast here.
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
typedef void (*tile_kernel)(const uint8_t *, const int8_t *, const float *, const float *, int,
                            float *, size_t);
#define DEFINE_TILES(TYPE, ISA, DOT, ATTR)                                                     \
    DEFINE_ROW_DOT(tile2_##ISA##_##TYPE, TYPE, 2, DOT, ATTR)                                   \
    DEFINE_ROW_DOT(tile3_##ISA##_##TYPE, TYPE, 3, DOT, ATTR)                                   \
    DEFINE_ROW_DOT(tile4_##ISA##_##TYPE, TYPE, 4, DOT, ATTR)                                   \
    DEFINE_ROW_DOT(tile5_##ISA##_##TYPE, TYPE, 5, DOT, ATTR)                                   \
    DEFINE_ROW_DOT(tile6_##ISA##_##TYPE, TYPE, 6, DOT, ATTR)                                   \
    DEFINE_ROW_DOT(tile7_##ISA##_##TYPE, TYPE, 7, DOT, ATTR)                                   \
    DEFINE_ROW_DOT(tile8_##ISA##_##TYPE, TYPE, 8, DOT, ATTR)                                   \
    static const tile_kernel tiles_##ISA##_##TYPE[9] = {                                       \
        0, 0, tile2_##ISA##_##TYPE, tile3_##ISA##_##TYPE, tile4_##ISA##_##TYPE,                \
        tile5_##ISA##_##TYPE, tile6_##ISA##_##TYPE, tile7_##ISA##_##TYPE, tile8_##ISA##_##TYPE};
#define DEFINE_TYPE_TILES(TYPE)                                                                \
    DEFINE_TILES(TYPE, avx2, dot_u8s8_avx2, )                                                  \
    DEFINE_TILES(TYPE, vnni, dot_u8s8_vnni, VNNI)
DEFINE_TYPE_TILES(2)
DEFINE_TYPE_TILES(3)
DEFINE_TYPE_TILES(6)
DEFINE_TYPE_TILES(7)
DEFINE_TYPE_TILES(8)

// The tile kernels (indexed by token count, 2...8) for `type` on the CPU's level.
static const tile_kernel *tiles_for(int type, int level) {
#define PICK(TYPE)                                                                             \
    if (type == TYPE) return level == 2 ? tiles_vnni_##TYPE : tiles_avx2_##TYPE;
    PICK(2) PICK(3) PICK(6) PICK(7) PICK(8)
#undef PICK
    return 0;
}

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

// Tokens [first, first + count) of the token-major `scales` and `scaled_sums`, block-major
// with 8 lanes per block (count ≤ 8; the lanes past it 0), as DEFINE_ROW_DOT reads them.
static void transpose_block_scalars(const float *scales, const float *scaled_sums, int blocks,
                                    int first, int count, float *tscales, float *tsums) {
    for (int b = 0; b < blocks; b++) {
        for (int t = 0; t < 8; t++) {
            const size_t at = (size_t)(first + t) * blocks + b;
            tscales[(size_t)b * 8 + t] = t < count ? scales[at] : 0;
            tsums[(size_t)b * 8 + t] = t < count ? scaled_sums[at] : 0;
        }
    }
}

// Rows outer, so each row stays in L1 while the tokens go through it in groups of up to
// eight (a last single token through the one-token kernel). A token's bits do not depend on
// its group, so callers may batch any tokens together.
int tessera_dot_rows(int type, const uint8_t *weights, size_t row_bytes, int row_begin,
                     int row_end, const int8_t *activations, const float *scales,
                     const float *scaled_sums, int blocks, int tokens, float *out,
                     size_t out_stride) {
    if (type != 2 && type != 3 && type != 6 && type != 7 && type != 8) return 0;
    int level = tessera_dot_level();
    if (level == 0) return 0;
    const size_t token_values = (size_t)blocks * 32;
    const int groups = (tokens + 7) / 8;
    // Per group two arrays of blocks × 8 floats: on the stack up to 32 KiB.
    const size_t lanes = (size_t)blocks * 8, needed = (size_t)groups * 2 * lanes;
    float stack[8192] __attribute__((aligned(32)));
    float *transposed = stack;
    if (needed > 8192) {
        transposed = (float *)aligned_alloc(32, needed * sizeof(float));
        if (transposed == NULL) return 0;
    }
    for (int g = 0; g < groups; g++) {
        const int count = tokens - g * 8 < 8 ? tokens - g * 8 : 8;
        if (count < 2) continue;  // a single token (one-stream decode) reads them token-major
        float *group = transposed + (size_t)g * 2 * lanes;
        transpose_block_scalars(scales, scaled_sums, blocks, g * 8, count, group, group + lanes);
    }
    const tile_kernel *tiles = tiles_for(type, level);
    for (int r = row_begin; r < row_end; r++) {
        const uint8_t *row = weights + (size_t)r * row_bytes;
        for (int g = 0; g < groups; g++) {
            const int t = g * 8, count = tokens - t < 8 ? tokens - t : 8;
            const int8_t *a = activations + (size_t)t * token_values;
            float *o = out + (size_t)t * out_stride + r;
            if (count >= 2) {
                const float *group = transposed + (size_t)g * 2 * lanes;
                tiles[count](row, a, group, group + lanes, blocks, o, out_stride);
            } else {
                const size_t at = (size_t)t * blocks;
                *o = level == 2 ? row_dot_vnni(type, row, a, scales + at, scaled_sums + at, blocks)
                                : row_dot_avx2(type, row, a, scales + at, scaled_sums + at, blocks);
            }
        }
    }
    if (transposed != stack) free(transposed);
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

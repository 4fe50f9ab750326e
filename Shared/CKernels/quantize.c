// Activation quantization for the integer dots (Q8Activations), eight lanes at a time.
//
// Why here: the Swift loop converts, clamps and rounds one value at a time, and under batched
// decode it took a tenth of the step (perf, 16 sessions on one thread), as much as attention.
//
// Bits: every value gets the Swift loop's arithmetic, the same IEEE operations in the same
// order. Largest magnitude: a lane takes |x| only where it is greater (so NaN never enters),
// then the eight lanes' maximum (order does not matter: no NaN, no negative zero). scale =
// largest / 127, inverse = 1 / scale (0 when scale is 0); each value x·inverse, clamped to
// ±127, rounded to nearest with ties to even, and 0 where x·inverse is not finite. The
// per-block scale and sum are handed back at full precision: the Swift side rounds them to
// half precision as it always has, in one place.
#include "CKernels.h"

#if defined(__x86_64__)
#include <immintrin.h>
#include <math.h>

#define AVX2 __attribute__((target("avx2,fma")))

AVX2 static void quantize_blocks_avx2(const float *input, int blocks, int16_t *values,
                                      int8_t *bytes, float *scales, float *sums) {
    const __m256 magnitude_bits = _mm256_castsi256_ps(_mm256_set1_epi32(0x7FFFFFFF));
    const __m256 infinity = _mm256_set1_ps(INFINITY);
    const __m256 low = _mm256_set1_ps(-127.0f);
    const __m256 high = _mm256_set1_ps(127.0f);
    // Within each 128-bit lane of eight int16: the four even elements, then the four odd.
    const __m256i parity = _mm256_setr_epi8(0, 1, 4, 5, 8, 9, 12, 13, 2, 3, 6, 7, 10, 11, 14, 15,
                                            0, 1, 4, 5, 8, 9, 12, 13, 2, 3, 6, 7, 10, 11, 14, 15);
    for (int b = 0; b < blocks; b++) {
        const float *source = input + (size_t)b * 32;
        __m256 x[4];
        __m256 magnitude = _mm256_setzero_ps();
        for (int part = 0; part < 4; part++) {
            x[part] = _mm256_loadu_ps(source + 8 * part);
            const __m256 absolute = _mm256_and_ps(x[part], magnitude_bits);
            magnitude = _mm256_blendv_ps(magnitude, absolute,
                                         _mm256_cmp_ps(absolute, magnitude, _CMP_GT_OQ));
        }
        float lanes[8];
        _mm256_storeu_ps(lanes, magnitude);
        float largest = lanes[0];
        for (int lane = 1; lane < 8; lane++) largest = lanes[lane] >= largest ? lanes[lane] : largest;
        const float scale = largest / 127.0f;
        const __m256 inverse = _mm256_set1_ps(scale > 0 ? 1.0f / scale : 0.0f);

        __m256i q[4];
        for (int part = 0; part < 4; part++) {
            const __m256 scaled = _mm256_mul_ps(x[part], inverse);
            const __m256 finite =
                _mm256_cmp_ps(_mm256_and_ps(scaled, magnitude_bits), infinity, _CMP_LT_OQ);
            const __m256 clamped = _mm256_min_ps(_mm256_max_ps(scaled, low), high);
            const __m256 rounded =
                _mm256_round_ps(clamped, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
            q[part] = _mm256_cvttps_epi32(_mm256_and_ps(rounded, finite));
        }
        // Exact integer sum of the 32 values (|sum| <= 4064).
        __m256i total = _mm256_add_epi32(_mm256_add_epi32(q[0], q[1]), _mm256_add_epi32(q[2], q[3]));
        __m128i half = _mm_add_epi32(_mm256_castsi256_si128(total), _mm256_extracti128_si256(total, 1));
        half = _mm_add_epi32(half, _mm_shuffle_epi32(half, _MM_SHUFFLE(1, 0, 3, 2)));
        half = _mm_add_epi32(half, _mm_shuffle_epi32(half, _MM_SHUFFLE(2, 3, 0, 1)));

        // int16 in natural order: packs interleaves the 128-bit lanes, the permute undoes it.
        const __m256i first = _mm256_permute4x64_epi64(_mm256_packs_epi32(q[0], q[1]), 0xD8);
        const __m256i second = _mm256_permute4x64_epi64(_mm256_packs_epi32(q[2], q[3]), 0xD8);
        _mm256_storeu_si256((__m256i *)(bytes + (size_t)b * 32),
                            _mm256_permute4x64_epi64(_mm256_packs_epi16(first, second), 0xD8));
        // The Swift kernels' layout: the 16 even-indexed values, then the 16 odd-indexed.
        const __m256i first_split = _mm256_permute4x64_epi64(_mm256_shuffle_epi8(first, parity), 0xD8);
        const __m256i second_split =
            _mm256_permute4x64_epi64(_mm256_shuffle_epi8(second, parity), 0xD8);
        int16_t *out = values + (size_t)b * 32;
        _mm256_storeu_si256((__m256i *)out, _mm256_permute2x128_si256(first_split, second_split, 0x20));
        _mm256_storeu_si256((__m256i *)(out + 16),
                            _mm256_permute2x128_si256(first_split, second_split, 0x31));
        scales[b] = scale;
        sums[b] = (float)_mm_cvtsi128_si32(half);
    }
}

int tessera_quantize_q8(const float *input, int blocks, int16_t *values, int8_t *bytes,
                        float *scales, float *sums) {
    if (tessera_dot_level() == 0) return 0;
    quantize_blocks_avx2(input, blocks, values, bytes, scales, sums);
    return 1;
}

#else

int tessera_quantize_q8(const float *input, int blocks, int16_t *values, int8_t *bytes,
                        float *scales, float *sums) {
    (void)input; (void)blocks; (void)values; (void)bytes; (void)scales; (void)sums;
    return 0;
}

#endif

#include "ckernels.h"
#include <immintrin.h>
#include <string.h>

int ckernels_version(void) { return 2; }

int ck_has_avx512(void) {
    static int cached = -1;
    if (cached < 0) {
        __builtin_cpu_init();
        cached = __builtin_cpu_supports("avx512f") ? 1 : 0;
    }
    return cached;
}

void ck_flush_denormals(void) {
    // Bit 15 = FTZ (flush results), bit 6 = DAZ (treat denormal inputs as zero).
    _mm_setcsr(_mm_getcsr() | 0x8040);
}

void ck_zero_border(float *t, int channels, size_t stride, int height, int width) {
    const size_t wp = (size_t)width + 2;
    for (int c = 0; c < channels; c++) {
        float *plane = t + (size_t)c * stride;
        float *origin = plane + CK_GUARD;
        // guard before + row 0 + column 0 of row 1
        memset(plane, 0, (CK_GUARD + wp + 1) * sizeof(float));
        for (int y = 1; y <= height; y++) {
            origin[(size_t)y * wp + wp - 1] = 0;   // right pad of row y
            origin[(size_t)(y + 1) * wp] = 0;      // left pad of row y+1 (row H+1's first element too)
        }
        // row H+1 and the guard after
        float *after = origin + (size_t)(height + 1) * wp;
        memset(after, 0, (stride - CK_GUARD - (size_t)(height + 1) * wp) * sizeof(float));
    }
}

size_t ck_packed_count(int outChannels, int inChannels) {
    return (size_t)((outChannels + 7) / 8) * (size_t)inChannels * 72;
}

void ck_pack_weights(const float *w, int O, int C, int flip, float *dst) {
    // Forward: a conv from C to O. Flipped: a conv from O to C with W'[c][o][k] = W[o][c][8−k].
    const int outs = flip ? C : O, ins = flip ? O : C;
    const size_t n = ck_packed_count(outs, ins);
    memset(dst, 0, n * sizeof(float));
    for (int o = 0; o < outs; o++) {
        for (int i = 0; i < ins; i++) {
            for (int k = 0; k < 9; k++) {
                float v = flip ? w[((size_t)i * C + o) * 9 + (8 - k)] : w[((size_t)o * C + i) * 9 + k];
                dst[(((size_t)(o / 8) * ins + i) * 9 + k) * 8 + (o % 8)] = v;
            }
        }
    }
}

// 8 output channels × 3 vectors of 16 positions per step: 24 accumulators, 3 loads and 8 broadcasts
// per tap and input channel.
__attribute__((target("avx512f")))
void ck_conv3x3_avx512(const float *in, int C, size_t inStride, int wp,
                       const float *packed, const float *bias, int O,
                       float *out, size_t outStride, long p0, long p1, int ob0, int ob1,
                       int relu, const float *addend, const float *maskref) {
    const long off[9] = {-wp - 1, -wp, -wp + 1, -1, 0, 1, wp - 1, wp, wp + 1};
    const __m512 zero = _mm512_setzero_ps();
    for (int ob = ob0; ob < ob1; ob++) {
        const float *wb = packed + (size_t)ob * C * 72;
        const int no = O - ob * 8 < 8 ? O - ob * 8 : 8;
        for (long p = p0; p < p1; p += 48) {
            __m512 acc[8][3];
            for (int o = 0; o < 8; o++)
                for (int j = 0; j < 3; j++) acc[o][j] = zero;
            for (int c = 0; c < C; c++) {
                const float *x = in + (size_t)c * inStride + p;
                const float *w = wb + (size_t)c * 72;
                for (int k = 0; k < 9; k++) {
                    const float *xk = x + off[k];
                    __m512 x0 = _mm512_loadu_ps(xk);
                    __m512 x1 = _mm512_loadu_ps(xk + 16);
                    __m512 x2 = _mm512_loadu_ps(xk + 32);
                    for (int o = 0; o < 8; o++) {
                        __m512 wv = _mm512_set1_ps(w[k * 8 + o]);
                        acc[o][0] = _mm512_fmadd_ps(wv, x0, acc[o][0]);
                        acc[o][1] = _mm512_fmadd_ps(wv, x1, acc[o][1]);
                        acc[o][2] = _mm512_fmadd_ps(wv, x2, acc[o][2]);
                    }
                }
            }
            for (int j = 0; j < 3; j++) {
                long q = p + 16 * j;
                if (q >= p1) break;
                __mmask16 m = (p1 - q >= 16) ? (__mmask16)0xFFFF : (__mmask16)((1u << (p1 - q)) - 1);
                for (int o = 0; o < no; o++) {
                    const size_t oc = (size_t)(ob * 8 + o) * outStride + q;
                    __m512 v = acc[o][j];
                    if (bias) v = _mm512_add_ps(v, _mm512_set1_ps(bias[ob * 8 + o]));
                    if (addend) v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(m, addend + oc));
                    if (relu) v = _mm512_max_ps(v, zero);
                    if (maskref) {
                        __mmask16 pos = _mm512_cmp_ps_mask(_mm512_maskz_loadu_ps(m, maskref + oc), zero, _CMP_GT_OQ);
                        v = _mm512_maskz_mov_ps(pos, v);
                    }
                    _mm512_mask_storeu_ps(out + oc, m, v);
                }
            }
        }
    }
}

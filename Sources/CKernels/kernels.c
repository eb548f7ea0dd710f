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

void ck_zero_edge_rows(float *t, int channels, size_t stride, int height, int width) {
    const size_t wp = (size_t)width + 2;
    for (int c = 0; c < channels; c++) {
        float *plane = t + (size_t)c * stride;
        // guard before + row 0 + column 0 of row 1
        memset(plane, 0, (CK_GUARD + wp + 1) * sizeof(float));
        // row H+1 and the guard after
        float *after = plane + CK_GUARD + (size_t)(height + 1) * wp;
        memset(after, 0, (stride - CK_GUARD - (size_t)(height + 1) * wp) * sizeof(float));
    }
}

void ck_zero_border(float *t, int channels, size_t stride, int height, int width) {
    const size_t wp = (size_t)width + 2;
    ck_zero_edge_rows(t, channels, stride, height, width);
    for (int c = 0; c < channels; c++) {
        float *origin = t + (size_t)c * stride + CK_GUARD;
        for (int y = 1; y <= height; y++) {
            origin[(size_t)y * wp + wp - 1] = 0;   // right pad of row y
            origin[(size_t)(y + 1) * wp] = 0;      // left pad of row y+1 (row H+1's first element too)
        }
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
            // The output lines two steps ahead, for writing: eight planes written in short runs are more
            // streams than the hardware prefetcher follows, and each store would otherwise wait for its line.
            if (p + 144 < p1)
                for (int o = 0; o < no; o++)
                    for (int k = 0; k < 3; k++) _m_prefetchw(out + (size_t)(ob * 8 + o) * outStride + p + 96 + 16 * k);
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

// Outputs o0 … o0 + no − 1 (no ≤ NO) over positions [p0, p1), in register blocks of NO outputs × NV vectors of
// 16 positions (NO · NV = 24 accumulators). Called with constants, so each shape is compiled apart. Loads
// past p1 are masked off.
__attribute__((target("avx512f"), always_inline))
static inline void narrow_block(const int NO, const int NV, const float *in, int C, size_t inStride, int wp,
                                const long *off, const float *wb, int lane0, const float *bias, int o0, int no,
                                float *out, size_t outStride, long p0, long p1) {
    for (long p = p0; p < p1; p += 16 * NV) {
        __mmask16 lanes[8];
        for (int j = 0; j < NV; j++) {
            const long n = p1 - (p + 16 * j);
            lanes[j] = n >= 16 ? (__mmask16)0xFFFF : n > 0 ? (__mmask16)((1u << n) - 1) : 0;
        }
        __m512 acc[4][8];
        for (int o = 0; o < NO; o++)
            for (int j = 0; j < NV; j++) acc[o][j] = _mm512_setzero_ps();
        for (int c = 0; c < C; c++) {
            const float *x = in + (size_t)c * inStride + p;
            const float *w = wb + (size_t)c * 72 + lane0;
            // The planes are far apart and each is read in short runs: fetch the rows two channels
            // ahead (the hardware prefetcher cannot follow 3·C streams).
            if (c + 2 < C) {
                const char *ahead = (const char *)(x + 2 * inStride - wp - 1);
                for (int r = 0; r < 3; r++)
                    for (int l = 0; l <= NV; l++) _mm_prefetch(ahead + (size_t)r * wp * 4 + 64 * l, _MM_HINT_T0);
            }
            for (int k = 0; k < 9; k++) {
                const float *xk = x + off[k];
                __m512 xv[8];
                for (int j = 0; j < NV; j++) xv[j] = _mm512_maskz_loadu_ps(lanes[j], xk + 16 * j);
                for (int o = 0; o < NO; o++) {
                    const __m512 wv = _mm512_set1_ps(w[k * 8 + o]);
                    for (int j = 0; j < NV; j++) acc[o][j] = _mm512_fmadd_ps(wv, xv[j], acc[o][j]);
                }
            }
        }
        for (int j = 0; j < NV; j++) {
            if (!lanes[j]) break;
            for (int o = 0; o < no; o++) {
                __m512 v = acc[o][j];
                if (bias) v = _mm512_add_ps(v, _mm512_set1_ps(bias[o0 + o]));
                _mm512_mask_storeu_ps(out + (size_t)(o0 + o) * outStride + p + 16 * j, lanes[j], v);
            }
        }
    }
}

// Few output channels (the backward of the first layer, 64 → 3): blocks of 4 outputs × 6 vectors of 16
// positions, so the 24 accumulators are all used (the 8-output kernel would waste 5 of 8 rows); exactly 3
// outputs, 3 × 8 (the 4-output block would leave a quarter of its products idle).
// Weights: ck_pack_weights' layout ([O/8][C][9][8]).
__attribute__((target("avx512f")))
void ck_conv3x3_narrow_avx512(const float *in, int C, size_t inStride, int wp,
                              const float *packed, const float *bias, int O,
                              float *out, size_t outStride, long p0, long p1) {
    const long off[9] = {-wp - 1, -wp, -wp + 1, -1, 0, 1, wp - 1, wp, wp + 1};
    if (O == 3) {
        narrow_block(3, 8, in, C, inStride, wp, off, packed, 0, bias, 0, 3, out, outStride, p0, p1);
        return;
    }
    for (int o0 = 0; o0 < O; o0 += 4) {
        const int no = O - o0 < 4 ? O - o0 : 4;
        narrow_block(4, 6, in, C, inStride, wp, off, packed + (size_t)(o0 / 8) * C * 72, o0 % 8, bias, o0, no,
                     out, outStride, p0, p1);
    }
}

// ---------------------------------------------------------------------------------------------------
// Max-pooling.

// 16 windows at a time: two rows of 32 columns, the larger of each column pair (even lanes after a swap),
// compacted into 16 results.
__attribute__((target("avx512f")))
static void maxpool_rows_avx512(const float *r0, const float *r1, float *d, int wo) {
    const __m512i even = _mm512_set_epi32(30, 28, 26, 24, 22, 20, 18, 16, 14, 12, 10, 8, 6, 4, 2, 0);
    int x = 0;
    for (; x + 16 <= wo; x += 16) {
        const __m512 a = _mm512_max_ps(_mm512_loadu_ps(r0 + 2 * x), _mm512_loadu_ps(r1 + 2 * x));
        const __m512 b = _mm512_max_ps(_mm512_loadu_ps(r0 + 2 * x + 16), _mm512_loadu_ps(r1 + 2 * x + 16));
        const __m512 as = _mm512_permute_ps(a, 0xB1), bs = _mm512_permute_ps(b, 0xB1);
        _mm512_storeu_ps(d + x, _mm512_permutex2var_ps(_mm512_max_ps(a, as), even, _mm512_max_ps(b, bs)));
    }
    for (; x < wo; x++) {
        const float a = r0[2 * x] > r0[2 * x + 1] ? r0[2 * x] : r0[2 * x + 1];
        const float b = r1[2 * x] > r1[2 * x + 1] ? r1[2 * x] : r1[2 * x + 1];
        d[x] = a > b ? a : b;
    }
}

void ck_maxpool2x2(const float *in, size_t inStride, int H, int W, float *out, size_t outStride, int c0, int c1) {
    const int ho = H / 2, wo = W / 2;
    const size_t wpi = (size_t)W + 2, wpo = (size_t)wo + 2;
    const int vector = ck_has_avx512();
    for (int c = c0; c < c1; c++) {
        for (int y = 0; y < ho; y++) {
            const float *r0 = in + (size_t)c * inStride + (size_t)(2 * y + 1) * wpi + 1, *r1 = r0 + wpi;
            float *d = out + (size_t)c * outStride + (size_t)(y + 1) * wpo + 1;
            if (vector) {
                maxpool_rows_avx512(r0, r1, d, wo);
                continue;
            }
            for (int x = 0; x < wo; x++) {
                const float a = r0[2 * x] > r0[2 * x + 1] ? r0[2 * x] : r0[2 * x + 1];
                const float b = r1[2 * x] > r1[2 * x + 1] ? r1[2 * x] : r1[2 * x + 1];
                d[x] = a > b ? a : b;
            }
        }
    }
}

// One 2x2 window of the backward (scalar): rows r0/r1 of the ReLU output, d0/d1 of the result, a0/a1 of
// the addend (or NULL), column x (even), incoming gradient gv.
static inline void maxpool_backward_window(const float *r0, const float *r1, const float *a0, const float *a1,
                                           float *d0, float *d1, int x, float gv) {
    const float p0 = r0[x], p1 = r0[x + 1], p2 = r1[x], p3 = r1[x + 1];
    const float m01 = p0 > p1 ? p0 : p1, m23 = p2 > p3 ? p2 : p3, m = m01 > m23 ? m01 : m23;
    // Row-major first maximum: index 0…3.
    const int first = p0 == m ? 0 : p1 == m ? 1 : p2 == m ? 2 : 3;
    const float v0 = (first == 0 ? gv : 0.0f) + (a0 ? a0[x] : 0.0f);
    const float v1 = (first == 1 ? gv : 0.0f) + (a0 ? a0[x + 1] : 0.0f);
    const float v2 = (first == 2 ? gv : 0.0f) + (a1 ? a1[x] : 0.0f);
    const float v3 = (first == 3 ? gv : 0.0f) + (a1 ? a1[x + 1] : 0.0f);
    d0[x] = p0 > 0 ? v0 : 0.0f;
    d0[x + 1] = p1 > 0 ? v1 : 0.0f;
    d1[x] = p2 > 0 ? v2 : 0.0f;
    d1[x + 1] = p3 > 0 ? v3 : 0.0f;
}

// 8 windows (16 columns of two rows) at column x with AVX-512, the same result as the scalar window.
__attribute__((target("avx512f")))
static inline void maxpool_backward_block16(const float *r0, const float *r1, const float *a0, const float *a1,
                                            float *d0, float *d1, const float *g, int x) {
    const __m512 a = _mm512_loadu_ps(r0 + x), b = _mm512_loadu_ps(r1 + x);
    // Swap neighbours: lane 2k ↔ 2k+1 (the other column of the window).
    const __m512 as = _mm512_permute_ps(a, 0xB1), bs = _mm512_permute_ps(b, 0xB1);
    const __m512 ma = _mm512_max_ps(a, as), m = _mm512_max_ps(ma, _mm512_max_ps(b, bs));
    const __mmask16 even = 0x5555;
    // Row 0: p0 wins if it is the max; p1 if it is and p0 is not.
    const __mmask16 sel0 = _mm512_cmp_ps_mask(a, m, _CMP_EQ_OQ) & (even | _mm512_cmp_ps_mask(as, m, _CMP_NEQ_UQ));
    // Row 1: only if neither of row 0 is the max; p2 before p3.
    const __mmask16 sel1 = _mm512_cmp_ps_mask(b, m, _CMP_EQ_OQ) & _mm512_cmp_ps_mask(ma, m, _CMP_NEQ_UQ)
        & (even | _mm512_cmp_ps_mask(bs, m, _CMP_NEQ_UQ));
    // g[x/2 … x/2+8) each twice.
    const __m512i dup = _mm512_set_epi32(7, 7, 6, 6, 5, 5, 4, 4, 3, 3, 2, 2, 1, 1, 0, 0);
    const __m512 gv = _mm512_permutexvar_ps(dup, _mm512_castps256_ps512(_mm256_loadu_ps(g + x / 2)));
    __m512 v0 = _mm512_maskz_mov_ps(sel0, gv), v1 = _mm512_maskz_mov_ps(sel1, gv);
    if (a0) {
        v0 = _mm512_add_ps(v0, _mm512_loadu_ps(a0 + x));
        v1 = _mm512_add_ps(v1, _mm512_loadu_ps(a1 + x));
    }
    const __m512 zero = _mm512_setzero_ps();
    _mm512_storeu_ps(d0 + x, _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(a, zero, _CMP_GT_OQ), v0));
    _mm512_storeu_ps(d1 + x, _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(b, zero, _CMP_GT_OQ), v1));
}

__attribute__((target("avx512f")))
static void maxpool_backward_rows_avx512(const float *r0, const float *r1, const float *a0, const float *a1,
                                         float *d0, float *d1, const float *g, int wo) {
    int x = 0;
    for (; x + 16 <= 2 * wo; x += 16) maxpool_backward_block16(r0, r1, a0, a1, d0, d1, g, x);
    for (; x < 2 * wo; x += 2) maxpool_backward_window(r0, r1, a0, a1, d0, d1, x, g[x / 2]);
}

void ck_maxpool2x2_backward(const float *grad, size_t gradStride, const float *ref, size_t refStride,
                            int H, int W, const float *addend, float *dst, size_t dstStride, int c0, int c1) {
    const int ho = H / 2, wo = W / 2;
    const size_t wp = (size_t)W + 2, wpg = (size_t)wo + 2;
    const int vector = ck_has_avx512();
    for (int c = c0; c < c1; c++) {
        const float *rc = ref + (size_t)c * refStride;
        float *dc = dst + (size_t)c * dstStride;
        const float *ac = addend ? addend + (size_t)c * H * W : NULL;
        for (int yo = 0; yo < ho; yo++) {
            const int y = 2 * yo;
            const float *r0 = rc + (size_t)(y + 1) * wp + 1, *r1 = r0 + wp;
            float *d0 = dc + (size_t)(y + 1) * wp + 1, *d1 = d0 + wp;
            const float *a0 = ac ? ac + (size_t)y * W : NULL, *a1 = ac ? a0 + W : NULL;
            const float *g = grad + (size_t)c * gradStride + (size_t)(yo + 1) * wpg + 1;
            if (vector) {
                maxpool_backward_rows_avx512(r0, r1, a0, a1, d0, d1, g, wo);
            } else {
                for (int x = 0; x < 2 * wo; x += 2) maxpool_backward_window(r0, r1, a0, a1, d0, d1, x, g[x / 2]);
            }
            // An odd last column is outside every window: only the addend through the ReLU.
            if (W % 2) {
                d0[W - 1] = (a0 && r0[W - 1] > 0) ? a0[W - 1] : 0.0f;
                d1[W - 1] = (a1 && r1[W - 1] > 0) ? a1[W - 1] : 0.0f;
            }
        }
        // An odd last row likewise.
        if (H % 2) {
            const int y = H - 1;
            const float *r = rc + (size_t)(y + 1) * wp + 1;
            float *d = dc + (size_t)(y + 1) * wp + 1;
            const float *a = ac ? ac + (size_t)y * W : NULL;
            for (int x = 0; x < W; x++) d[x] = (a && r[x] > 0) ? a[x] : 0.0f;
        }
    }
}

// 16 windows of the code-driven backward: rows d0, d1 at columns 2x … 2x+31 from g[x … x+16), codes k.
__attribute__((target("avx512f")))
static void unpool_rows_avx512(const float *g, const uint8_t *k, float *d0, float *d1, int wo) {
    // Interleave: lane 2l ← a[l], lane 2l+1 ← b[l] (lo: l = 0…7, hi: l = 8…15).
    const __m512i lo = _mm512_set_epi32(23, 7, 22, 6, 21, 5, 20, 4, 19, 3, 18, 2, 17, 1, 16, 0);
    const __m512i hi = _mm512_set_epi32(31, 15, 30, 14, 29, 13, 28, 12, 27, 11, 26, 10, 25, 9, 24, 8);
    int x = 0;
    for (; x + 16 <= wo; x += 16) {
        const __m512 gv = _mm512_loadu_ps(g + x);
        const __m512i kv = _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)(k + x)));
        __m512 e[4];
        for (int j = 0; j < 4; j++) e[j] = _mm512_maskz_mov_ps(_mm512_cmpeq_epi32_mask(kv, _mm512_set1_epi32(j)), gv);
        _mm512_storeu_ps(d0 + 2 * x, _mm512_permutex2var_ps(e[0], lo, e[1]));
        _mm512_storeu_ps(d0 + 2 * x + 16, _mm512_permutex2var_ps(e[0], hi, e[1]));
        _mm512_storeu_ps(d1 + 2 * x, _mm512_permutex2var_ps(e[2], lo, e[3]));
        _mm512_storeu_ps(d1 + 2 * x + 16, _mm512_permutex2var_ps(e[2], hi, e[3]));
    }
    for (; x < wo; x++) {
        d0[2 * x] = k[x] == 0 ? g[x] : 0.0f;
        d0[2 * x + 1] = k[x] == 1 ? g[x] : 0.0f;
        d1[2 * x] = k[x] == 2 ? g[x] : 0.0f;
        d1[2 * x + 1] = k[x] == 3 ? g[x] : 0.0f;
    }
}

void ck_unpool2x2(const float *grad, size_t gradStride, const uint8_t *codes, int H, int W,
                  float *dst, size_t dstStride, int c0, int c1) {
    const int ho = H / 2, wo = W / 2;
    const size_t wp = (size_t)W + 2, wpg = (size_t)wo + 2;
    const int vector = ck_has_avx512();
    for (int c = c0; c < c1; c++) {
        float *dc = dst + (size_t)c * dstStride;
        for (int yo = 0; yo < ho; yo++) {
            const float *g = grad + (size_t)c * gradStride + (size_t)(yo + 1) * wpg + 1;
            const uint8_t *k = codes + ((size_t)c * ho + yo) * wo;
            float *d0 = dc + (size_t)(2 * yo + 1) * wp + 1, *d1 = d0 + wp;
            if (vector) {
                unpool_rows_avx512(g, k, d0, d1, wo);
            } else {
                for (int x = 0; x < wo; x++) {
                    d0[2 * x] = k[x] == 0 ? g[x] : 0.0f;
                    d0[2 * x + 1] = k[x] == 1 ? g[x] : 0.0f;
                    d1[2 * x] = k[x] == 2 ? g[x] : 0.0f;
                    d1[2 * x + 1] = k[x] == 3 ? g[x] : 0.0f;
                }
            }
            // An odd last column is outside every window.
            if (W % 2) d0[W - 1] = d1[W - 1] = 0.0f;
        }
        if (H % 2) memset(dc + (size_t)H * wp + 1, 0, (size_t)W * sizeof(float));
    }
}

__attribute__((target("avx512f")))
static void masked_copy_row_avx512(const float *src, const float *ref, float *dst, int W) {
    const __m512 zero = _mm512_setzero_ps();
    for (int x = 0; x < W; x += 16) {
        const __mmask16 m = W - x >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (W - x)) - 1);
        const __mmask16 pos = _mm512_mask_cmp_ps_mask(m, _mm512_maskz_loadu_ps(m, ref + x), zero, _CMP_GT_OQ);
        _mm512_mask_storeu_ps(dst + x, m, _mm512_maskz_loadu_ps(pos, src + x));
    }
}

void ck_masked_copy(const float *src, const float *ref, size_t refStride, int H, int W, float *dst, size_t dstStride,
                    int c0, int c1) {
    const size_t wp = (size_t)W + 2;
    const int vector = ck_has_avx512();
    for (int c = c0; c < c1; c++) {
        for (int y = 0; y < H; y++) {
            const float *s = src + ((size_t)c * H + y) * W;
            const float *r = ref + (size_t)c * refStride + (size_t)(y + 1) * wp + 1;
            float *d = dst + (size_t)c * dstStride + (size_t)(y + 1) * wp + 1;
            if (vector) {
                masked_copy_row_avx512(s, r, d, W);
            } else {
                for (int x = 0; x < W; x++) d[x] = r[x] > 0 ? s[x] : 0.0f;
            }
        }
    }
}

double ck_squared_difference(const float *a, const float *b, size_t n, float k, float *g) {
    // Eight independent sums: one running sum is bound by the add's latency (4 cycles an element), eight
    // keep up with memory. Differences in double (exact unless the two exponents are far apart).
    double acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    size_t i = 0;
    if (g) {
        for (; i + 8 <= n; i += 8)
            for (int j = 0; j < 8; j++) {
                const double d = (double)a[i + j] - (double)b[i + j];
                acc[j] += d * d;
                g[i + j] = k * (a[i + j] - b[i + j]);
            }
        for (; i < n; i++) {
            const double d = (double)a[i] - (double)b[i];
            acc[i % 8] += d * d;
            g[i] = k * (a[i] - b[i]);
        }
    } else {
        for (; i + 8 <= n; i += 8)
            for (int j = 0; j < 8; j++) {
                const double d = (double)a[i + j] - (double)b[i + j];
                acc[j] += d * d;
            }
        for (; i < n; i++) {
            const double d = (double)a[i] - (double)b[i];
            acc[i % 8] += d * d;
        }
    }
    return ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
}

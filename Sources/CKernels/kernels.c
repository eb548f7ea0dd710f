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

// Few output channels (the backward of the first layer, 64 → 3): blocks of 4 outputs × 6 vectors of 16
// positions, so the 24 accumulators are all used (the 8-output kernel would waste 5 of 8 rows).
// Weights: ck_pack_weights' layout ([O/8][C][9][8]).
__attribute__((target("avx512f")))
void ck_conv3x3_narrow_avx512(const float *in, int C, size_t inStride, int wp,
                              const float *packed, const float *bias, int O,
                              float *out, size_t outStride, long p0, long p1) {
    const long off[9] = {-wp - 1, -wp, -wp + 1, -1, 0, 1, wp - 1, wp, wp + 1};
    for (int o0 = 0; o0 < O; o0 += 4) {
        const int no = O - o0 < 4 ? O - o0 : 4;
        const float *wb = packed + (size_t)(o0 / 8) * C * 72;
        const int lane0 = o0 % 8;
        for (long p = p0; p < p1; p += 96) {
            __m512 acc[4][6];
            for (int o = 0; o < 4; o++)
                for (int j = 0; j < 6; j++) acc[o][j] = _mm512_setzero_ps();
            for (int c = 0; c < C; c++) {
                const float *x = in + (size_t)c * inStride + p;
                const float *w = wb + (size_t)c * 72 + lane0;
                // The planes are far apart and each is read in short runs: fetch the rows two channels
                // ahead (the hardware prefetcher cannot follow 3·C streams).
                if (c + 2 < C) {
                    const char *ahead = (const char *)(x + 2 * inStride - wp - 1);
                    for (int r = 0; r < 3; r++)
                        for (int l = 0; l < 7; l++) _mm_prefetch(ahead + (size_t)r * wp * 4 + 64 * l, _MM_HINT_T0);
                }
                for (int k = 0; k < 9; k++) {
                    const float *xk = x + off[k];
                    __m512 xv[6];
                    for (int j = 0; j < 6; j++) xv[j] = _mm512_loadu_ps(xk + 16 * j);
                    for (int o = 0; o < 4; o++) {
                        const __m512 wv = _mm512_set1_ps(w[k * 8 + o]);
                        for (int j = 0; j < 6; j++) acc[o][j] = _mm512_fmadd_ps(wv, xv[j], acc[o][j]);
                    }
                }
            }
            for (int j = 0; j < 6; j++) {
                const long q = p + 16 * j;
                if (q >= p1) break;
                const __mmask16 m = (p1 - q >= 16) ? (__mmask16)0xFFFF : (__mmask16)((1u << (p1 - q)) - 1);
                for (int o = 0; o < no; o++) {
                    __m512 v = acc[o][j];
                    if (bias) v = _mm512_add_ps(v, _mm512_set1_ps(bias[o0 + o]));
                    _mm512_mask_storeu_ps(out + (size_t)(o0 + o) * outStride + q, m, v);
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------------
// Winograd F(2×2, 3×3). U = G g Gᵀ (weights), V = Bᵀ d B (4×4 input patch), Y = Aᵀ (U ⊙ V) A, with
//   G = [1 0 0; ½ ½ ½; ½ −½ ½; 0 0 1],  Bᵀ = [1 0 −1 0; 0 1 1 0; 0 −1 1 0; 0 1 0 −1],  Aᵀ = [1 1 1 0; 0 1 −1 −1].
// Per task: a band of tile rows, its tiles flattened (t = r·TW + tx) so narrow layers still fill vectors.
//   1. V[ξ][c][t] for the band (input transform, 16 tiles per vector along a row),
//   2. per output block of 8 and per ξ: M[ξ][o][t] = Σ_c U[ξ][o][c] V[ξ][c][t] (the direct kernel's
//      8 × 48 register block, with C instead of 9·C terms),
//   3. output transform of the block, epilogue, masked stores.

size_t ck_winograd_packed_count(int outChannels, int inChannels) {
    return 16 * (size_t)((outChannels + 7) / 8) * (size_t)inChannels * 8;
}

void ck_winograd_pack_weights(const float *w, int O, int C, int flip, float *dst) {
    const int outs = flip ? C : O, ins = flip ? O : C, nb = (outs + 7) / 8;
    memset(dst, 0, ck_winograd_packed_count(outs, ins) * sizeof(float));
    for (int o = 0; o < outs; o++) {
        for (int i = 0; i < ins; i++) {
            float g[3][3], t[4][3];
            for (int k = 0; k < 9; k++)
                g[k / 3][k % 3] = flip ? w[((size_t)i * C + o) * 9 + (8 - k)] : w[((size_t)o * C + i) * 9 + k];
            for (int j = 0; j < 3; j++) {  // t = G g
                t[0][j] = g[0][j];
                t[1][j] = 0.5f * (g[0][j] + g[1][j] + g[2][j]);
                t[2][j] = 0.5f * (g[0][j] - g[1][j] + g[2][j]);
                t[3][j] = g[2][j];
            }
            for (int a = 0; a < 4; a++) {  // U = t Gᵀ
                float u[4] = {t[a][0], 0.5f * (t[a][0] + t[a][1] + t[a][2]), 0.5f * (t[a][0] - t[a][1] + t[a][2]), t[a][2]};
                for (int b = 0; b < 4; b++) {
                    const int xi = a * 4 + b;
                    dst[(((size_t)xi * nb + o / 8) * ins + i) * 8 + (o % 8)] = u[b];
                }
            }
        }
    }
}

int ck_winograd_rows_per_task(int C, int W) {
    const int tw = (W + 1) / 2;
    if (tw < 1) return 1;  // a layer of width 0 (input under 16 px after four pools): nothing to tile
    int target = 32768 / (C > 0 ? C : 1);  // tiles per task: more for thin layers
    if (target < 48) target = 48;
    if (target > 256) target = 256;
    // Among band heights giving target/2 … 2·target tiles, the one wasting the fewest vector lanes
    // (tiles are processed 16 at a time), then the one closest to the target.
    int lo = target / 2 / tw, hi = 2 * target / tw;
    if (lo < 1) lo = 1;
    if (hi < lo) hi = lo;
    int best = lo;
    double bestWaste = 2, bestDistance = 1e9;
    for (int r = lo; r <= hi; r++) {
        const int tiles = r * tw, padded = (tiles + 15) / 16 * 16;
        const double waste = (double)(padded - tiles) / padded;
        const double distance = tiles > target ? tiles - target : target - tiles;
        if (waste < bestWaste - 0.02 || (waste < bestWaste + 0.02 && distance < bestDistance)) {
            best = r;
            bestWaste = waste < bestWaste ? waste : bestWaste;
            bestDistance = distance;
        }
    }
    return best;
}

static size_t winograd_tiles_padded(int C, int W) {
    const size_t tiles = (size_t)ck_winograd_rows_per_task(C, W) * (size_t)((W + 1) / 2);
    return (tiles + 15) / 16 * 16;
}

size_t ck_winograd_scratch_count(int C, int O, int W) {
    const size_t tp = winograd_tiles_padded(C, W);
    return 16 * (size_t)C * tp + 16 * (size_t)((O + 7) / 8 * 8) * tp + 64;
}

// M[o][0 … 16·nv) = Σ_c U[c][o] V[c][0 … 16·nv) for 8 outputs: the 8 × nv register block.
__attribute__((target("avx512f"), always_inline))
static inline void winograd_block(const float *v, const float *u, int C, size_t tp, float *m, const int nv) {
    __m512 acc[8][3];
    for (int o = 0; o < 8; o++)
        for (int j = 0; j < nv; j++) acc[o][j] = _mm512_setzero_ps();
    for (int c = 0; c < C; c++) {
        const float *x = v + (size_t)c * tp;
        __m512 xv[3];
        for (int j = 0; j < nv; j++) xv[j] = _mm512_loadu_ps(x + 16 * j);
        const float *w = u + (size_t)c * 8;
        for (int o = 0; o < 8; o++) {
            const __m512 wv = _mm512_set1_ps(w[o]);
            for (int j = 0; j < nv; j++) acc[o][j] = _mm512_fmadd_ps(wv, xv[j], acc[o][j]);
        }
    }
    for (int o = 0; o < 8; o++)
        for (int j = 0; j < nv; j++) _mm512_storeu_ps(m + (size_t)o * tp + 16 * j, acc[o][j]);
}

__attribute__((target("avx512f")))
void ck_conv3x3_winograd_avx512(const float *in, int C, size_t inStride, int H, int W,
                                const float *packed, const float *bias, int O,
                                float *out, size_t outStride, int ty0, int ty1, float *scratch,
                                int relu, const float *addend, const float *maskref) {
    const int wp = W + 2, tw = (W + 1) / 2, rows = ty1 - ty0, nb = (O + 7) / 8;
    const size_t tp = winograd_tiles_padded(C, W);
    const long tiles = (long)rows * tw;
    float *V = scratch, *M = scratch + 16 * (size_t)C * tp;
    const __m512 zero = _mm512_setzero_ps();
    // Lane l of "even" takes element 2l of a 32-float pair (a, b); "odd" takes 2l+1.
    const __m512i even = _mm512_set_epi32(30, 28, 26, 24, 22, 20, 18, 16, 14, 12, 10, 8, 6, 4, 2, 0);
    const __m512i odd = _mm512_set_epi32(31, 29, 27, 25, 23, 21, 19, 17, 15, 13, 11, 9, 7, 5, 3, 1);

    // 1. Input transform.
    for (int c = 0; c < C; c++) {
        const float *plane = in + (size_t)c * inStride;
        for (int r = 0; r < rows; r++) {
            const int ty = ty0 + r;
            for (int tx0 = 0; tx0 < tw; tx0 += 16) {
                const int n = tw - tx0 < 16 ? tw - tx0 : 16;
                const __mmask16 m = (__mmask16)((1u << n) - 1);
                __m512 t[4][4];
                for (int i = 0; i < 4; i++) {
                    // Padded row 2·ty + i, columns 2·tx0 … : d_j = column 2(tx0+l) + j.
                    const float *row = plane + (size_t)(2 * ty + i) * wp + 2 * tx0;
                    const __m512 a = _mm512_loadu_ps(row), b = _mm512_loadu_ps(row + 16);
                    const __m512 a2 = _mm512_loadu_ps(row + 2), b2 = _mm512_loadu_ps(row + 18);
                    const __m512 d0 = _mm512_permutex2var_ps(a, even, b), d1 = _mm512_permutex2var_ps(a, odd, b);
                    const __m512 d2 = _mm512_permutex2var_ps(a2, even, b2), d3 = _mm512_permutex2var_ps(a2, odd, b2);
                    t[i][0] = _mm512_sub_ps(d0, d2);
                    t[i][1] = _mm512_add_ps(d1, d2);
                    t[i][2] = _mm512_sub_ps(d2, d1);
                    t[i][3] = _mm512_sub_ps(d1, d3);
                }
                float *v = V + (size_t)c * tp + (size_t)r * tw + tx0;
                const size_t xs = (size_t)C * tp;  // stride between ξ
                for (int j = 0; j < 4; j++) {
                    _mm512_mask_storeu_ps(v + (0 * 4 + j) * xs, m, _mm512_sub_ps(t[0][j], t[2][j]));
                    _mm512_mask_storeu_ps(v + (1 * 4 + j) * xs, m, _mm512_add_ps(t[1][j], t[2][j]));
                    _mm512_mask_storeu_ps(v + (2 * 4 + j) * xs, m, _mm512_sub_ps(t[2][j], t[1][j]));
                    _mm512_mask_storeu_ps(v + (3 * 4 + j) * xs, m, _mm512_sub_ps(t[1][j], t[3][j]));
                }
            }
        }
    }

    // Interleave y_a0 (even output columns) and y_a1 (odd) of 16 tiles into 32 consecutive columns.
    const __m512i lo = _mm512_set_epi32(23, 7, 22, 6, 21, 5, 20, 4, 19, 3, 18, 2, 17, 1, 16, 0);
    const __m512i hi = _mm512_set_epi32(31, 15, 30, 14, 29, 13, 28, 12, 27, 11, 26, 10, 25, 9, 24, 8);

    // 2. M[ξ][o][t], ξ outermost: V[ξ] (C × tp) stays in L2 while every output block reuses it.
    for (int xi = 0; xi < 16; xi++) {
        const float *vx = V + (size_t)xi * C * tp;
        for (int ob = 0; ob < nb; ob++) {
            const float *u = packed + ((size_t)xi * nb + ob) * (size_t)C * 8;
            float *mx = M + ((size_t)xi * nb * 8 + (size_t)ob * 8) * tp;
            long t = 0;
            for (; t + 32 < tiles; t += 48) winograd_block(vx + t, u, C, tp, mx + t, 3);
            if (tiles - t > 16) winograd_block(vx + t, u, C, tp, mx + t, 2);
            else if (tiles - t > 0) winograd_block(vx + t, u, C, tp, mx + t, 1);
        }
    }

    for (int ob = 0; ob < nb; ob++) {
        const int no = O - ob * 8 < 8 ? O - ob * 8 : 8;
        // 3. Output transform and epilogue.
        for (int o = 0; o < no; o++) {
            const int oc = ob * 8 + o;
            const __m512 bv = _mm512_set1_ps(bias ? bias[oc] : 0.0f);
            for (int r = 0; r < rows; r++) {
                const int ty = ty0 + r;
                for (int tx0 = 0; tx0 < tw; tx0 += 16) {
                    __m512 mm[16];
                    const float *src = M + (size_t)oc * tp + (size_t)r * tw + tx0;
                    for (int xi = 0; xi < 16; xi++) mm[xi] = _mm512_loadu_ps(src + (size_t)xi * nb * 8 * tp);
                    __m512 s[4][2];
                    for (int i = 0; i < 4; i++) {  // rows of (U ⊙ V) A
                        s[i][0] = _mm512_add_ps(_mm512_add_ps(mm[i * 4 + 0], mm[i * 4 + 1]), mm[i * 4 + 2]);
                        s[i][1] = _mm512_sub_ps(_mm512_sub_ps(mm[i * 4 + 1], mm[i * 4 + 2]), mm[i * 4 + 3]);
                    }
                    for (int a = 0; a < 2; a++) {
                        const int y = 2 * ty + a;
                        if (y >= H) break;
                        __m512 y0, y1;
                        if (a == 0) {
                            y0 = _mm512_add_ps(_mm512_add_ps(s[0][0], s[1][0]), s[2][0]);
                            y1 = _mm512_add_ps(_mm512_add_ps(s[0][1], s[1][1]), s[2][1]);
                        } else {
                            y0 = _mm512_sub_ps(_mm512_sub_ps(s[1][0], s[2][0]), s[3][0]);
                            y1 = _mm512_sub_ps(_mm512_sub_ps(s[1][1], s[2][1]), s[3][1]);
                        }
                        const __m512 halves[2] = {_mm512_permutex2var_ps(y0, lo, y1), _mm512_permutex2var_ps(y0, hi, y1)};
                        for (int hlf = 0; hlf < 2; hlf++) {
                            const int x = 2 * tx0 + 16 * hlf;  // first interior column of this vector
                            if (x >= W) break;
                            const int valid = W - x < 16 ? W - x : 16;
                            const __mmask16 m = (__mmask16)((1u << valid) - 1);
                            const size_t at = (size_t)oc * outStride + (size_t)(y + 1) * wp + 1 + x;
                            __m512 v = _mm512_add_ps(halves[hlf], bv);
                            if (addend) v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(m, addend + at));
                            if (relu) v = _mm512_max_ps(v, zero);
                            if (maskref) {
                                const __mmask16 pos = _mm512_cmp_ps_mask(_mm512_maskz_loadu_ps(m, maskref + at), zero, _CMP_GT_OQ);
                                v = _mm512_maskz_mov_ps(pos, v);
                            }
                            _mm512_mask_storeu_ps(out + at, m, v);
                        }
                    }
                }
            }
        }
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

// Winograd convolution body, included twice by winograd.c: WBF 0 (fp32 multiplies, FMA) and WBF 1 (bf16
// multiplies with fp32 accumulation, vdpbf16ps), each inside a `#pragma clang attribute` region giving its
// functions their target. WNAME(x) names this instance's functions. `m` (2 or 4) is a parameter of
// always-inline functions called with constants, so each (m, WBF) pair is compiled separately.
//
// One task: tile rows [ty0, ty1) of the output (a band, its tiles flattened t = r·tw + tx so narrow layers
// still fill vectors) and output blocks of 8 [ob0, ob1):
//   1. V[ξ][c][t] = Bᵀ d B of each (m+2)×(m+2) input patch (fp32; stored as bf16 channel pairs for WBF),
//   2. per ξ and output block: M[ξ][o][t] = Σ_c U[ξ][o][c] V[ξ][c][t] (8 outputs × 48 tiles in registers),
//   3. Y = Aᵀ M A per tile, then the epilogue (bias, addend, ReLU, mask) and masked stores.

// Prefetch distances, in channels: the input transform's reads (WINO_PF channels ahead), the output
// transform's stores and epilogue reads (WINO_PFO output channels ahead; 0: none).
#ifndef WINO_PF
#define WINO_PF 2
#endif
#ifndef WINO_PFO
#define WINO_PFO 1
#endif

// V's layout: WINO_V_BY_XI 1 keeps each ξ's C × tiles slice contiguous ([ξ][c][t]: the products stream
// it), 0 keeps each channel's 36 rows together ([c][ξ][t]: the input transform writes one region per
// channel). (bf16: c counts channel pairs, t pairs of elements.)
#ifndef WINO_V_BY_XI
#define WINO_V_BY_XI 1
#endif

// WXG: a gap of one cache line (in elements) between V's ξ slices. Each slice is C · tp elements, tp a
// multiple of 16 and VGG's C multiples of 64, so without it the slices start a multiple of 4 KiB (fp32) or
// 2 KiB (bf16) apart, and the input transform's 36 stores per patch group fall into one or two L1 sets
// (12 ways each). With the gap, one thread, 64 → 64 at 300×400: fp32 input transform 7.6 → 6.2 ms, the
// layer 31.1 → 29.5 ms (second session's host); bf16 the layer 11.2 → 9.0 ms, and the six forward shapes
// of 400×300 42.8 → 33.4 ms in all (eleventh session's host, scripts/wino-phases).
#if WBF
typedef uint16_t WNAME(elem);
#define WE 2  // bytes per V / U element
#define WXG 32
#else
typedef float WNAME(elem);
#define WE 4
#define WXG 16
#endif

// ---- 1D transforms (the 2D ones are these along rows, then along columns) -------------------------

// Input: Bᵀ d for a = m + 2 values.
static inline __attribute__((always_inline)) void WNAME(in1d)(const int m, const __m512 *d, __m512 *t) {
    if (m == 2) {
        t[0] = _mm512_sub_ps(d[0], d[2]);
        t[1] = _mm512_add_ps(d[1], d[2]);
        t[2] = _mm512_sub_ps(d[2], d[1]);
        t[3] = _mm512_sub_ps(d[1], d[3]);
    } else {
        // Bᵀ = [4 0 −5 0 1 0; 0 −4 −4 1 1 0; 0 4 −4 −1 1 0; 0 −2 −1 2 1 0; 0 2 −1 −2 1 0; 0 4 0 −5 0 1]
        const __m512 m4 = _mm512_set1_ps(-4.0f), m5 = _mm512_set1_ps(-5.0f), p4 = _mm512_set1_ps(4.0f);
        const __m512 a = _mm512_fmadd_ps(m4, d[2], d[4]);   // d4 − 4 d2
        const __m512 b = _mm512_fmadd_ps(m4, d[1], d[3]);   // d3 − 4 d1
        const __m512 c = _mm512_sub_ps(d[4], d[2]);
        const __m512 e = _mm512_sub_ps(d[3], d[1]);
        t[0] = _mm512_fmadd_ps(m5, d[2], _mm512_fmadd_ps(p4, d[0], d[4]));
        t[1] = _mm512_add_ps(a, b);
        t[2] = _mm512_sub_ps(a, b);
        t[3] = _mm512_add_ps(c, _mm512_add_ps(e, e));
        t[4] = _mm512_sub_ps(c, _mm512_add_ps(e, e));
        t[5] = _mm512_fmadd_ps(m5, d[3], _mm512_fmadd_ps(p4, d[1], d[5]));
    }
}

// Output: Aᵀ x for a values → m values.
static inline __attribute__((always_inline)) void WNAME(out1d)(const int m, const __m512 *x, __m512 *y) {
    if (m == 2) {
        y[0] = _mm512_add_ps(_mm512_add_ps(x[0], x[1]), x[2]);
        y[1] = _mm512_sub_ps(_mm512_sub_ps(x[1], x[2]), x[3]);
    } else {
        // Aᵀ = [1 1 1 1 1 0; 0 1 −1 2 −2 0; 0 1 1 4 4 0; 0 1 −1 8 −8 1]
        const __m512 s12 = _mm512_add_ps(x[1], x[2]), d12 = _mm512_sub_ps(x[1], x[2]);
        const __m512 s34 = _mm512_add_ps(x[3], x[4]), d34 = _mm512_sub_ps(x[3], x[4]);
        y[0] = _mm512_add_ps(_mm512_add_ps(x[0], s12), s34);
        y[1] = _mm512_fmadd_ps(_mm512_set1_ps(2.0f), d34, d12);
        y[2] = _mm512_fmadd_ps(_mm512_set1_ps(4.0f), s34, s12);
        y[3] = _mm512_add_ps(_mm512_fmadd_ps(_mm512_set1_ps(8.0f), d34, d12), x[5]);
    }
}

// The a columns of 16 consecutive patches along a padded row: d[j][l] = row[m·l + j].
static inline __attribute__((always_inline)) void WNAME(patch_row)(const int m, const float *row, __m512 *d) {
    if (m == 2) {
        const __m512i even = _mm512_set_epi32(30, 28, 26, 24, 22, 20, 18, 16, 14, 12, 10, 8, 6, 4, 2, 0);
        const __m512i odd = _mm512_set_epi32(31, 29, 27, 25, 23, 21, 19, 17, 15, 13, 11, 9, 7, 5, 3, 1);
        const __m512 a = _mm512_loadu_ps(row), b = _mm512_loadu_ps(row + 16);
        const __m512 a2 = _mm512_loadu_ps(row + 2), b2 = _mm512_loadu_ps(row + 18);
        d[0] = _mm512_permutex2var_ps(a, even, b);
        d[1] = _mm512_permutex2var_ps(a, odd, b);
        d[2] = _mm512_permutex2var_ps(a2, even, b2);
        d[3] = _mm512_permutex2var_ps(a2, odd, b2);
    } else {
        // Elements 4l + j of two 16-float vectors land in lanes 0…7; two such halves make the vector.
        const __m512 v0 = _mm512_loadu_ps(row), v1 = _mm512_loadu_ps(row + 16);
        const __m512 v2 = _mm512_loadu_ps(row + 32), v3 = _mm512_loadu_ps(row + 48);
        for (int j = 0; j < 4; j++) {
            const __m512i idx = _mm512_set_epi32(0, 0, 0, 0, 0, 0, 0, 0, 28 + j, 24 + j, 20 + j, 16 + j, 12 + j, 8 + j, 4 + j, j);
            const __m512 p = _mm512_permutex2var_ps(v0, idx, v1), q = _mm512_permutex2var_ps(v2, idx, v3);
            d[j] = _mm512_shuffle_f32x4(p, q, 0x44);
        }
        // Columns 4 and 5: columns 0 and 1 one patch further (lane 15 takes row[64], row[65]).
        d[4] = _mm512_castsi512_ps(_mm512_alignr_epi32(_mm512_castps_si512(_mm512_loadu_ps(row + 64)), _mm512_castps_si512(d[0]), 1));
        d[5] = _mm512_castsi512_ps(_mm512_alignr_epi32(_mm512_castps_si512(_mm512_loadu_ps(row + 65)), _mm512_castps_si512(d[1]), 1));
    }
}

// Brings the rows input_tile will read for the same patches of another channel into L1: the planes are
// far apart, so each (channel, tile row) would otherwise start cold, its short runs too short for the
// hardware prefetcher.
static inline __attribute__((always_inline)) void WNAME(prefetch_tile)(const int m, const float *plane, int wp, int ty, int tx0) {
    for (int i = 0; i < m + 2; i++) {
        const char *row = (const char *)(plane + (size_t)(m * ty + i) * wp + m * tx0);
        for (int k = 0; k < (m == 4 ? 5 : 3); k++) _mm_prefetch(row + 64 * k, _MM_HINT_T0);
    }
}

// The same 6 columns (F(4×4)) of a row of an unpooled gradient that is never stored: the value at interior
// (y, x) is the pooled gradient of window (y/2, x/2) where that window's code names (y mod 2, x mod 2), else
// 0 (outside every window too). grow, crow: the pooled gradient's and the codes' row y/2 (interior column 0);
// odd: y mod 2. Patch l's column j is interior column x = 4(tx0 + l) + j − 1, window column b + 2l − 1 …
// b + 2l + 2 with b = 2·tx0.
static inline __attribute__((always_inline)) void WNAME(unpool_patch_row)(const float *grow, const uint8_t *crow, int wo, int tx0,
                                                                             int odd, __m512 *d) {
    const __m512i even = _mm512_set_epi32(30, 28, 26, 24, 22, 20, 18, 16, 14, 12, 10, 8, 6, 4, 2, 0);
    const __m512i oddIdx = _mm512_set_epi32(31, 29, 27, 25, 23, 21, 19, 17, 15, 13, 11, 9, 7, 5, 3, 1);
    const int b = 2 * tx0;
    // Windows b … b+15 and b+16 … b+31 (masked to those that exist), b − 1 and b + 32.
    const int n0 = wo - b, n1 = wo - b - 16;
    const __mmask16 k0 = n0 >= 16 ? (__mmask16)0xFFFF : n0 > 0 ? (__mmask16)((1u << n0) - 1) : 0;
    const __mmask16 k1 = n1 >= 16 ? (__mmask16)0xFFFF : n1 > 0 ? (__mmask16)((1u << n1) - 1) : 0;
    const __m512 ga = _mm512_maskz_loadu_ps(k0, grow + b), gb = _mm512_maskz_loadu_ps(k1, grow + b + 16);
    const __m512i ca = _mm512_cvtepu8_epi32(_mm_maskz_loadu_epi8(k0, crow + b));
    const __m512i cb = _mm512_cvtepu8_epi32(_mm_maskz_loadu_epi8(k1, crow + b + 16));
    const int left = b >= 1 && b - 1 < wo, right = b + 32 < wo;
    const __m512 gl = _mm512_set1_ps(left ? grow[b - 1] : 0.0f), gr = _mm512_set1_ps(right ? grow[b + 32] : 0.0f);
    const __m512i cl = _mm512_set1_epi32(left ? crow[b - 1] : 0), cr = _mm512_set1_epi32(right ? crow[b + 32] : 0);
    // E[l] = window b + 2l, O[l] = b + 2l + 1, Ol[l] = b + 2l − 1, Er[l] = b + 2l + 2.
    const __m512 ge = _mm512_permutex2var_ps(ga, even, gb), go = _mm512_permutex2var_ps(ga, oddIdx, gb);
    const __m512i ce = _mm512_permutex2var_epi32(ca, even, cb), co = _mm512_permutex2var_epi32(ca, oddIdx, cb);
    const __m512 gol = _mm512_castsi512_ps(_mm512_alignr_epi32(_mm512_castps_si512(go), _mm512_castps_si512(gl), 15));
    const __m512i col = _mm512_alignr_epi32(co, cl, 15);
    const __m512 ger = _mm512_castsi512_ps(_mm512_alignr_epi32(_mm512_castps_si512(gr), _mm512_castps_si512(ge), 1));
    const __m512i cer = _mm512_alignr_epi32(cr, ce, 1);
    const __m512i left0 = _mm512_set1_epi32(2 * odd), right1 = _mm512_set1_epi32(2 * odd + 1);
    d[0] = _mm512_maskz_mov_ps(_mm512_cmpeq_epi32_mask(col, right1), gol);
    d[1] = _mm512_maskz_mov_ps(_mm512_cmpeq_epi32_mask(ce, left0), ge);
    d[2] = _mm512_maskz_mov_ps(_mm512_cmpeq_epi32_mask(ce, right1), ge);
    d[3] = _mm512_maskz_mov_ps(_mm512_cmpeq_epi32_mask(co, left0), go);
    d[4] = _mm512_maskz_mov_ps(_mm512_cmpeq_epi32_mask(co, right1), go);
    d[5] = _mm512_maskz_mov_ps(_mm512_cmpeq_epi32_mask(cer, left0), ger);
}

// The column half of a tile's input transform: v[i·a + j] = Bᵀ of column j of h.
static inline __attribute__((always_inline)) void WNAME(input_columns)(const int m, __m512 (*h)[6], __m512 *v) {
    const int a = m + 2;
    for (int j = 0; j < a; j++) {
        __m512 col[6], t[6];
        for (int i = 0; i < a; i++) col[i] = h[i][j];
        WNAME(in1d)(m, col, t);
        for (int i = 0; i < a; i++) v[i * a + j] = t[i];
    }
}

// input_tile for an unpooled input (F(4×4) only): channel c of the pooled gradient `u`, full size H × W.
static inline __attribute__((always_inline)) void WNAME(input_tile_unpool)(const ck_unpool_source *u, int c, int H, int W,
                                                                              int ty, int tx0, __m512 *v) {
    const int ho = H / 2, wo = W / 2;
    const float *gplane = u->grad + (size_t)c * u->gradStride;
    const uint8_t *cplane = u->codes + (size_t)c * ho * wo;
    __m512 h[6][6];
    for (int i = 0; i < 6; i++) {
        const int y = 4 * ty + i - 1;  // interior row of padded row 4·ty + i
        __m512 d[6];
        if (y < 0 || y >= 2 * ho) {
            for (int j = 0; j < 6; j++) d[j] = _mm512_setzero_ps();
        } else {
            WNAME(unpool_patch_row)(gplane + (size_t)(y / 2 + 1) * (wo + 2) + 1, cplane + (size_t)(y / 2) * wo, wo, tx0, y % 2, d);
        }
        WNAME(in1d)(4, d, h[i]);
    }
    WNAME(input_columns)(4, h, v);
}

// The rows input_tile_unpool will read for channel c: 4 pooled rows of the gradient and of the codes.
static inline __attribute__((always_inline)) void WNAME(prefetch_unpool)(const ck_unpool_source *u, int c, int H, int W, int ty, int tx0) {
    const int ho = H / 2, wo = W / 2;
    for (int py = 2 * ty - 1; py <= 2 * ty + 2; py++) {
        if (py < 0 || py >= ho) continue;
        const char *g = (const char *)(u->grad + (size_t)c * u->gradStride + (size_t)(py + 1) * (wo + 2) + 2 * tx0);
        for (int k = 0; k < 3; k++) _mm_prefetch(g + 64 * k, _MM_HINT_T0);
        _mm_prefetch((const char *)(u->codes + ((size_t)c * ho + py) * wo + 2 * tx0), _MM_HINT_T0);
    }
}

// V of one channel for 16 patches of band row r: v[ξ] (ξ = i·a + j).
static inline __attribute__((always_inline)) void WNAME(input_tile)(const int m, const float *plane, int wp, int ty, int tx0,
                                                                       __m512 *v) {
    const int a = m + 2;
    __m512 h[6][6];
    for (int i = 0; i < a; i++) {
        __m512 d[6];
        WNAME(patch_row)(m, plane + (size_t)(m * ty + i) * wp + m * tx0, d);
        WNAME(in1d)(m, d, h[i]);
    }
    WNAME(input_columns)(m, h, v);
}

static inline __attribute__((always_inline)) void WNAME(input_transform)(const int m, const float *in, int C, size_t inStride,
                                                                            int wp, int tw, int ty0, int rows,
                                                                            WNAME(elem) *V, size_t tp,
                                                                            const ck_unpool_source *u, int H, int W) {
    const int a = m + 2, nx = a * a;
#if WBF
    const int cp = (C + 1) / 2;
    const size_t xs = WINO_V_BY_XI ? (size_t)cp * tp * 2 + WXG : tp * 2;  // elements between ξ
    const size_t ps = WINO_V_BY_XI ? tp * 2 : (size_t)nx * tp * 2;  // elements between channel pairs
    // [c0 lanes 0…15 | c1 lanes 0…15] → (c0, c1) pairs per lane.
    const __m512i pairs = _mm512_set_epi16(31, 15, 30, 14, 29, 13, 28, 12, 27, 11, 26, 10, 25, 9, 24, 8,
                                           23, 7, 22, 6, 21, 5, 20, 4, 19, 3, 18, 2, 17, 1, 16, 0);
    for (int p = 0; p < cp; p++) {
        const float *p0 = in ? in + (size_t)(2 * p) * inStride : NULL;  // (NULL: the input is `u`)
        const float *p1 = in && 2 * p + 1 < C ? p0 + inStride : NULL;
        for (int r = 0; r < rows; r++) {
            for (int tx0 = 0; tx0 < tw; tx0 += 16) {
                const int n = tw - tx0 < 16 ? tw - tx0 : 16;
                const __mmask16 mask = (__mmask16)((1u << n) - 1);
                __m512 v0[36], v1[36];
                if (u) {
                    if (2 * p + 2 * WINO_PF < C) WNAME(prefetch_unpool)(u, 2 * p + 2 * WINO_PF, H, W, ty0 + r, tx0);
                    if (2 * p + 2 * WINO_PF + 1 < C) WNAME(prefetch_unpool)(u, 2 * p + 2 * WINO_PF + 1, H, W, ty0 + r, tx0);
                    WNAME(input_tile_unpool)(u, 2 * p, H, W, ty0 + r, tx0, v0);
                } else {
                    if (2 * p + 2 * WINO_PF < C) WNAME(prefetch_tile)(m, p0 + 2 * WINO_PF * inStride, wp, ty0 + r, tx0);
                    if (2 * p + 2 * WINO_PF + 1 < C) WNAME(prefetch_tile)(m, p0 + (2 * WINO_PF + 1) * inStride, wp, ty0 + r, tx0);
                    WNAME(input_tile)(m, p0, wp, ty0 + r, tx0, v0);
                }
                if (2 * p + 1 >= C) for (int x = 0; x < nx; x++) v1[x] = _mm512_setzero_ps();
                else if (u) WNAME(input_tile_unpool)(u, 2 * p + 1, H, W, ty0 + r, tx0, v1);
                else WNAME(input_tile)(m, p1, wp, ty0 + r, tx0, v1);
                uint16_t *dst = V + (size_t)p * ps + (size_t)(r * tw + tx0) * 2;
                for (int x = 0; x < nx; x++) {
                    const __m512i both = (__m512i)_mm512_cvtne2ps_pbh(v1[x], v0[x]);
                    _mm512_mask_storeu_epi32(dst + x * xs, mask, _mm512_permutexvar_epi16(pairs, both));
                }
            }
        }
    }
#else
    const size_t xs = WINO_V_BY_XI ? (size_t)C * tp + WXG : tp;  // floats between ξ
    const size_t cs = WINO_V_BY_XI ? tp : (size_t)nx * tp;  // floats between channels
    for (int c = 0; c < C; c++) {
        const float *plane = in ? in + (size_t)c * inStride : NULL;
        for (int r = 0; r < rows; r++) {
            for (int tx0 = 0; tx0 < tw; tx0 += 16) {
                const int n = tw - tx0 < 16 ? tw - tx0 : 16;
                const __mmask16 mask = (__mmask16)((1u << n) - 1);
                __m512 v[36];
                if (u) {
                    if (c + WINO_PF < C) WNAME(prefetch_unpool)(u, c + WINO_PF, H, W, ty0 + r, tx0);
                    WNAME(input_tile_unpool)(u, c, H, W, ty0 + r, tx0, v);
                } else {
                    if (c + WINO_PF < C) WNAME(prefetch_tile)(m, plane + WINO_PF * inStride, wp, ty0 + r, tx0);
                    WNAME(input_tile)(m, plane, wp, ty0 + r, tx0, v);
                }
                float *dst = V + (size_t)c * cs + (size_t)r * tw + tx0;
                for (int x = 0; x < nx; x++) _mm512_mask_storeu_ps(dst + x * xs, mask, v[x]);
            }
        }
    }
#endif
}

// ---- 2. the products ---------------------------------------------------------------------------------

// M[o][0 … 16·nv) = Σ_c U[c][o] V[c][0 … 16·nv) for 8 outputs.
// v: V[ξ] at the block's first tile, channels (bf16: pairs) cs elements apart; mo: M rows ms floats apart.
static inline __attribute__((always_inline)) void WNAME(block)(const WNAME(elem) *v, const WNAME(elem) *u, int C, size_t cs,
                                                                  float *mo, size_t ms, const int nv) {
    __m512 acc[8][3];
    for (int o = 0; o < 8; o++)
        for (int j = 0; j < nv; j++) acc[o][j] = _mm512_setzero_ps();
#if WBF
    const int cp = (C + 1) / 2;
    for (int p = 0; p < cp; p++) {
        const uint16_t *x = v + (size_t)p * cs;
        __m512bh xv[3];
        for (int j = 0; j < nv; j++) xv[j] = (__m512bh)_mm512_loadu_si512(x + 32 * j);
        const uint32_t *w = (const uint32_t *)(u + (size_t)p * 16);
        for (int o = 0; o < 8; o++) {
            const __m512bh wv = (__m512bh)_mm512_set1_epi32((int)w[o]);
            for (int j = 0; j < nv; j++) acc[o][j] = _mm512_dpbf16_ps(acc[o][j], wv, xv[j]);
        }
    }
#else
    for (int c = 0; c < C; c++) {
        const float *x = v + (size_t)c * cs;
        __m512 xv[3];
        for (int j = 0; j < nv; j++) xv[j] = _mm512_loadu_ps(x + 16 * j);
        const float *w = u + (size_t)c * 8;
        for (int o = 0; o < 8; o++) {
            const __m512 wv = _mm512_set1_ps(w[o]);
            for (int j = 0; j < nv; j++) acc[o][j] = _mm512_fmadd_ps(wv, xv[j], acc[o][j]);
        }
    }
#endif
    for (int o = 0; o < 8; o++)
        for (int j = 0; j < nv; j++) _mm512_storeu_ps(mo + (size_t)o * ms + 16 * j, acc[o][j]);
}

// ---- 3. output transform and epilogue -------------------------------------------------------------

// The epilogue of 16 output columns; returns the values stored (for the fused pool).
static inline __attribute__((always_inline)) __m512 WNAME(store_row)(const __m512 v, float *out, const ck_epilogue *e,
                                                                        size_t at, size_t plain, int valid, __m512 bv) {
    const __mmask16 mk = valid >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << valid) - 1);
    const __m512 zero = _mm512_setzero_ps();
    __m512 x = _mm512_add_ps(v, bv);
    if (e->addend) x = _mm512_add_ps(x, _mm512_maskz_loadu_ps(mk, e->addend + at));
    if (e->addendPlain) x = _mm512_add_ps(x, _mm512_maskz_loadu_ps(mk, e->addendPlain + plain));
    if (e->relu) x = _mm512_max_ps(x, zero);
    if (e->maskref) {
        const __mmask16 pos = _mm512_cmp_ps_mask(_mm512_maskz_loadu_ps(mk, e->maskref + at), zero, _CMP_GT_OQ);
        x = _mm512_maskz_mov_ps(pos, x);
    }
    if (!e->poolOnly) _mm512_mask_storeu_ps(out + at, mk, x);
    if (e->copyPlain) _mm512_mask_storeu_ps(e->copyPlain + plain, mk, x);
    return x;
}

// The fused 2×2 max-pool of two output rows of 32 columns (row 0: r0a columns 0…15, r0b 16…31; row 1: r1a,
// r1b) into 16 windows: their maxima stored at `pool` (the first `valid` lanes), their codes at `codes`.
static inline __attribute__((always_inline)) void WNAME(pool_rows)(__m512 r0a, __m512 r0b, __m512 r1a, __m512 r1b,
                                                                      float *pool, uint8_t *codes, int valid) {
    const __m512i even = _mm512_set_epi32(30, 28, 26, 24, 22, 20, 18, 16, 14, 12, 10, 8, 6, 4, 2, 0);
    const __m512i odd = _mm512_set_epi32(31, 29, 27, 25, 23, 21, 19, 17, 15, 13, 11, 9, 7, 5, 3, 1);
    // Window w's four values, row-major: p0 = (row 0, column 2w), p1 = (row 0, 2w+1), p2, p3 likewise in row 1.
    const __m512 p0 = _mm512_permutex2var_ps(r0a, even, r0b), p1 = _mm512_permutex2var_ps(r0a, odd, r0b);
    const __m512 p2 = _mm512_permutex2var_ps(r1a, even, r1b), p3 = _mm512_permutex2var_ps(r1a, odd, r1b);
    const __m512 mx = _mm512_max_ps(_mm512_max_ps(p0, p1), _mm512_max_ps(p2, p3));
    const __mmask16 mk = valid >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << valid) - 1);
    _mm512_mask_storeu_ps(pool, mk, mx);
    if (!codes) return;
    // The first maximum wins: assign from the last candidate to the first.
    __m512i code = _mm512_set1_epi32(3);
    code = _mm512_mask_mov_epi32(code, _mm512_cmp_ps_mask(p2, mx, _CMP_EQ_OQ), _mm512_set1_epi32(2));
    code = _mm512_mask_mov_epi32(code, _mm512_cmp_ps_mask(p1, mx, _CMP_EQ_OQ), _mm512_set1_epi32(1));
    code = _mm512_mask_mov_epi32(code, _mm512_cmp_ps_mask(p0, mx, _CMP_EQ_OQ), _mm512_setzero_si512());
    const __mmask16 live = _mm512_cmp_ps_mask(mx, _mm512_setzero_ps(), _CMP_GT_OQ);
    code = _mm512_mask_mov_epi32(code, (__mmask16)~live, _mm512_set1_epi32(CK_POOL_NONE));
    _mm512_mask_cvtepi32_storeu_epi8(codes, mk, code);
}

static inline __attribute__((always_inline)) void WNAME(output_transform)(const int m, const float *M, size_t xs, size_t tp,
                                                                             int ol, int oc, int ty0, int rows, int tw,
                                                                             int H, int W, float *out, size_t outStride,
                                                                             const ck_epilogue *e, int pfo) {
    const int a = m + 2, wp = W + 2, ho = H / 2, wo = W / 2;
    const __m512 bv = _mm512_set1_ps(e->bias ? e->bias[oc] : 0.0f);
    float *poolPlane = e->pool ? e->pool + (size_t)oc * e->poolStride : NULL;
    uint8_t *codePlane = e->poolCodes ? e->poolCodes + (size_t)oc * ho * wo : NULL;
    for (int r = 0; r < rows; r++) {
        const int ty = ty0 + r;
        for (int tx0 = 0; tx0 < tw; tx0 += 16) {
            const float *src = M + (size_t)ol * xs * (m + 2) * (m + 2) + (size_t)r * tw + tx0;
            __m512 s[4][6];
            for (int j = 0; j < a; j++) {  // columns: Aᵀ along i
                __m512 col[6], y[4];
                for (int i = 0; i < a; i++) col[i] = _mm512_loadu_ps(src + (size_t)(i * a + j) * xs);
                WNAME(out1d)(m, col, y);
                for (int i = 0; i < m; i++) s[i][j] = y[i];
            }
            __m512 above[4];  // the values of the row above (an even row), for the fused pool
            for (int i = 0; i < m; i++) {
                const int yy = m * ty + i;
                if (yy >= H) break;
                if (WINO_PFO > 0 && pfo && poolPlane && i % 2 == 1) {  // the pooled row of a later output channel
                    float *q = poolPlane + (size_t)WINO_PFO * e->poolStride + (size_t)(yy / 2 + 1) * (wo + 2) + 1 + (size_t)m * tx0 / 2;
                    for (int k = 0; k <= m / 2; k++) _m_prefetchw(q + 16 * k);
                    if (codePlane) _m_prefetchw(codePlane + (size_t)WINO_PFO * ho * wo + (size_t)(yy / 2) * wo + (size_t)m * tx0 / 2);
                }
                if (WINO_PFO > 0 && pfo) {  // the same rows of a later output channel: its lines arrive in time
                    const size_t ahead = (size_t)WINO_PFO * outStride + (size_t)oc * outStride + (size_t)(yy + 1) * wp + 1 + (size_t)m * tx0;
                    for (int k = 0; k < m; k++) {
                        if (!e->poolOnly) _m_prefetchw(out + ahead + 16 * k);
                        if (e->maskref) _mm_prefetch((const char *)(e->maskref + ahead + 16 * k), _MM_HINT_T0);
                        if (e->addend) _mm_prefetch((const char *)(e->addend + ahead + 16 * k), _MM_HINT_T0);
                    }
                    // The unpadded planes' rows are not aligned to lines: one line more.
                    const size_t plainAhead = ((size_t)(oc + WINO_PFO) * H + yy) * W + (size_t)m * tx0;
                    if (e->addendPlain)
                        for (int k = 0; k <= m; k++) _mm_prefetch((const char *)(e->addendPlain + plainAhead + 16 * k), _MM_HINT_T0);
                    if (e->copyPlain)
                        for (int k = 0; k <= m; k++) _m_prefetchw(e->copyPlain + plainAhead + 16 * k);
                }
                __m512 y[4];
                WNAME(out1d)(m, s[i], y);
                // y[j][l] is output column m·(tx0 + l) + j: interleave into m vectors of 16 columns.
                __m512 o[4];
                if (m == 2) {
                    const __m512i lo = _mm512_set_epi32(23, 7, 22, 6, 21, 5, 20, 4, 19, 3, 18, 2, 17, 1, 16, 0);
                    const __m512i hi = _mm512_set_epi32(31, 15, 30, 14, 29, 13, 28, 12, 27, 11, 26, 10, 25, 9, 24, 8);
                    o[0] = _mm512_permutex2var_ps(y[0], lo, y[1]);
                    o[1] = _mm512_permutex2var_ps(y[0], hi, y[1]);
                } else {
                    const __m512i lo = _mm512_set_epi32(23, 7, 22, 6, 21, 5, 20, 4, 19, 3, 18, 2, 17, 1, 16, 0);
                    const __m512i hi = _mm512_set_epi32(31, 15, 30, 14, 29, 13, 28, 12, 27, 11, 26, 10, 25, 9, 24, 8);
                    const __m512i lo2 = _mm512_set_epi64(11, 3, 10, 2, 9, 1, 8, 0);
                    const __m512i hi2 = _mm512_set_epi64(15, 7, 14, 6, 13, 5, 12, 4);
                    const __m512d a01l = _mm512_castps_pd(_mm512_permutex2var_ps(y[0], lo, y[1]));
                    const __m512d a01h = _mm512_castps_pd(_mm512_permutex2var_ps(y[0], hi, y[1]));
                    const __m512d a23l = _mm512_castps_pd(_mm512_permutex2var_ps(y[2], lo, y[3]));
                    const __m512d a23h = _mm512_castps_pd(_mm512_permutex2var_ps(y[2], hi, y[3]));
                    o[0] = _mm512_castpd_ps(_mm512_permutex2var_pd(a01l, lo2, a23l));
                    o[1] = _mm512_castpd_ps(_mm512_permutex2var_pd(a01l, hi2, a23l));
                    o[2] = _mm512_castpd_ps(_mm512_permutex2var_pd(a01h, lo2, a23h));
                    o[3] = _mm512_castpd_ps(_mm512_permutex2var_pd(a01h, hi2, a23h));
                }
                __m512 v[4] = {_mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps()};
                for (int k = 0; k < m; k++) {
                    const int x = m * tx0 + 16 * k;
                    if (x >= W) break;
                    const size_t at = (size_t)oc * outStride + (size_t)(yy + 1) * wp + 1 + x;
                    const size_t plain = ((size_t)oc * H + yy) * W + x;
                    v[k] = WNAME(store_row)(o[k], out, e, at, plain, W - x, bv);
                }
                // The row's right pad and the next row's left pad (adjacent): zero, so that only the rows
                // above and below the image are left for the caller (ck_zero_edge_rows).
                if (!e->poolOnly && tx0 + 16 >= tw) {
                    float *end = out + (size_t)oc * outStride + (size_t)(yy + 1) * wp + 1 + W;
                    end[0] = 0.0f;
                    end[1] = 0.0f;
                }
                if (!poolPlane) continue;
                if (i % 2 == 0) {
                    for (int k = 0; k < m; k++) above[k] = v[k];
                    continue;
                }
                // Rows yy − 1 and yy (tiles start at even rows and columns, so a window never straddles two).
                const int py = yy / 2;
                for (int k = 0; k < m; k += 2) {
                    const int px = (m * tx0 + 16 * k) / 2;
                    if (px >= wo) break;
                    WNAME(pool_rows)(above[k], above[k + 1], v[k], v[k + 1], poolPlane + (size_t)(py + 1) * (wo + 2) + 1 + px,
                                     codePlane ? codePlane + (size_t)py * wo + px : NULL, wo - px);
                }
            }
        }
    }
}

// ---- the whole task --------------------------------------------------------------------------------

static inline __attribute__((always_inline)) void WNAME(conv)(const int m, const float *in, int C, size_t inStride, int H, int W,
                                                                 const WNAME(elem) *packed, int O, float *out, size_t outStride,
                                                                 int ty0, int ty1, int ob0, int ob1, void *scratch,
                                                                 const ck_epilogue *e, const ck_unpool_source *u) {
    const int a = m + 2, nx = a * a, wp = W + 2, tw = (W + m - 1) / m, rows = ty1 - ty0, nb = (O + 7) / 8;
    if (rows <= 0 || tw <= 0 || ob1 <= ob0) return;
    const long tiles = (long)rows * tw;
    const size_t tp = (size_t)(tiles + 15) / 16 * 16;
#if WBF
    const size_t cpad = (size_t)(C + 1) / 2 * 2;
#else
    const size_t cpad = (size_t)C;
#endif
    WNAME(elem) *V = (WNAME(elem) *)scratch;
    float *M = (float *)((char *)scratch + ((size_t)nx * (cpad * tp + WXG) * WE + 63) / 64 * 64);
    const int nbl = ob1 - ob0;
    const size_t xs = tp;  // floats between ξ in M ([o][ξ][t])

    WINO_PROF_START();
    WNAME(input_transform)(m, in, C, inStride, wp, tw, ty0, rows, V, tp, u, H, W);
    WINO_PROF_LAP(0);

    // ξ outermost: V[ξ] (C × tp, strided) stays in L2 while every output block reuses it.
    for (int x = 0; x < nx; x++) {
        const WNAME(elem) *vx = V + (size_t)x * (WINO_V_BY_XI ? cpad * tp + WXG : tp * (WBF ? 2 : 1));
        for (int ob = ob0; ob < ob1; ob++) {
            const WNAME(elem) *u = packed + ((size_t)x * nb + ob) * cpad * 8;
            float *mx = M + (size_t)x * tp + (size_t)(ob - ob0) * 8 * nx * tp;
            long t = 0;
#if WBF
            const size_t cs = WINO_V_BY_XI ? tp * 2 : (size_t)nx * tp * 2, ms = (size_t)nx * tp;
            for (; t + 32 < tiles; t += 48) WNAME(block)(vx + 2 * t, u, C, cs, mx + t, ms, 3);
            if (tiles - t > 16) WNAME(block)(vx + 2 * t, u, C, cs, mx + t, ms, 2);
            else if (tiles - t > 0) WNAME(block)(vx + 2 * t, u, C, cs, mx + t, ms, 1);
#else
            const size_t cs = WINO_V_BY_XI ? tp : (size_t)nx * tp, ms = (size_t)nx * tp;
            for (; t + 32 < tiles; t += 48) WNAME(block)(vx + t, u, C, cs, mx + t, ms, 3);
            if (tiles - t > 16) WNAME(block)(vx + t, u, C, cs, mx + t, ms, 2);
            else if (tiles - t > 0) WNAME(block)(vx + t, u, C, cs, mx + t, ms, 1);
#endif
        }
    }

    WINO_PROF_LAP(1);
    for (int ob = ob0; ob < ob1; ob++) {
        const int no = O - ob * 8 < 8 ? O - ob * 8 : 8;
        for (int o = 0; o < no; o++)
            WNAME(output_transform)(m, M, xs, tp, (ob - ob0) * 8 + o, ob * 8 + o, ty0, rows, tw, H, W, out, outStride, e,
                                    ob * 8 + o + WINO_PFO < ob1 * 8 && ob * 8 + o + WINO_PFO < O);
    }
    WINO_PROF_LAP(2);
}

static void WNAME(conv2)(const float *in, int C, size_t inStride, int H, int W, const void *packed, int O,
                         float *out, size_t outStride, int ty0, int ty1, int ob0, int ob1, void *scratch, const ck_epilogue *e) {
    WNAME(conv)(2, in, C, inStride, H, W, (const WNAME(elem) *)packed, O, out, outStride, ty0, ty1, ob0, ob1, scratch, e, NULL);
}

static void WNAME(conv4)(const float *in, int C, size_t inStride, int H, int W, const void *packed, int O,
                         float *out, size_t outStride, int ty0, int ty1, int ob0, int ob1, void *scratch, const ck_epilogue *e) {
    WNAME(conv)(4, in, C, inStride, H, W, (const WNAME(elem) *)packed, O, out, outStride, ty0, ty1, ob0, ob1, scratch, e, NULL);
}

static void WNAME(conv4_unpooled)(const ck_unpool_source *u, int C, int H, int W, const void *packed, int O,
                                  float *out, size_t outStride, int ty0, int ty1, int ob0, int ob1, void *scratch, const ck_epilogue *e) {
    WNAME(conv)(4, NULL, C, 0, H, W, (const WNAME(elem) *)packed, O, out, outStride, ty0, ty1, ob0, ob1, scratch, e, u);
}

#undef WE
#undef WXG

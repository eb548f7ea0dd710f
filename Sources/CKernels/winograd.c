// Winograd F(m×m, 3×3) convolutions, m = 2 or 4, with fp32 (FMA) or bf16 (vdpbf16ps, fp32 accumulation)
// products; the transforms are fp32 either way. The per-task body is winograd_impl.h, compiled once per
// precision. Matrices (Lavin & Gray; F(4×4) on the points 0, ±1, ±2, ∞):
//   F(2×2): Bᵀ = [1 0 −1 0; 0 1 1 0; 0 −1 1 0; 0 1 0 −1], G = [1 0 0; ½ ½ ½; ½ −½ ½; 0 0 1], Aᵀ = [1 1 1 0; 0 1 −1 −1]
//   F(4×4): Bᵀ = [4 0 −5 0 1 0; 0 −4 −4 1 1 0; 0 4 −4 −1 1 0; 0 −2 −1 2 1 0; 0 2 −1 −2 1 0; 0 4 0 −5 0 1],
//           G = [¼ 0 0; −⅙ −⅙ −⅙; −⅙ ⅙ −⅙; 1⁄24 1⁄12 ⅙; 1⁄24 −1⁄12 ⅙; 0 0 1],
//           Aᵀ = [1 1 1 1 1 0; 0 1 −1 2 −2 0; 0 1 1 4 4 0; 0 1 −1 8 −8 1]
#include "ckernels.h"
#include <immintrin.h>
#include <stdint.h>
#include <string.h>

int ck_has_avx512_bf16(void) {
    static int cached = -1;
    if (cached < 0) {
        __builtin_cpu_init();
        cached = (ck_has_avx512_wino() && __builtin_cpu_supports("avx512bf16")) ? 1 : 0;
    }
    return cached;
}

int ck_has_avx512_wino(void) {
    static int cached = -1;
    if (cached < 0) {
        __builtin_cpu_init();
        cached = (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                  __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl")) ? 1 : 0;
    }
    return cached;
}

uint16_t ck_float_to_bf16(float f) {
    // Round to nearest even (finite inputs; the weights are checked finite when loaded).
    uint32_t u;
    memcpy(&u, &f, 4);
    u += 0x7FFF + ((u >> 16) & 1);
    return (uint16_t)(u >> 16);
}

float ck_bf16_to_float(uint16_t h) {
    const uint32_t u = (uint32_t)h << 16;
    float f;
    memcpy(&f, &u, 4);
    return f;
}

// ---------------------------------------------------------------------------------------------------
// Weights: U = G g Gᵀ in double, then rounded once to the product precision.

static size_t wino_cpad(int bf16, int ins) { return bf16 ? (size_t)(ins + 1) / 2 * 2 : (size_t)ins; }

size_t ck_wino_packed_bytes(int m, int bf16, int outChannels, int inChannels) {
    const size_t a = (size_t)m + 2;
    return a * a * (size_t)((outChannels + 7) / 8) * 8 * wino_cpad(bf16, inChannels) * (bf16 ? 2 : 4);
}

void ck_wino_pack(int m, int bf16, const float *w, int O, int C, int flip, void *dst) {
    static const double g2[4][3] = {{1, 0, 0}, {0.5, 0.5, 0.5}, {0.5, -0.5, 0.5}, {0, 0, 1}};
    static const double g4[6][3] = {{0.25, 0, 0}, {-1.0 / 6, -1.0 / 6, -1.0 / 6}, {-1.0 / 6, 1.0 / 6, -1.0 / 6},
                                    {1.0 / 24, 1.0 / 12, 1.0 / 6}, {1.0 / 24, -1.0 / 12, 1.0 / 6}, {0, 0, 1}};
    const int a = m + 2;
    const int outs = flip ? C : O, ins = flip ? O : C, nb = (outs + 7) / 8;
    const size_t cpad = wino_cpad(bf16, ins);
    memset(dst, 0, ck_wino_packed_bytes(m, bf16, outs, ins));
    for (int o = 0; o < outs; o++) {
        for (int i = 0; i < ins; i++) {
            double g[3][3], t[6][3];
            for (int k = 0; k < 9; k++)
                g[k / 3][k % 3] = flip ? w[((size_t)i * C + o) * 9 + (8 - k)] : w[((size_t)o * C + i) * 9 + k];
            for (int r = 0; r < a; r++)  // t = G g
                for (int j = 0; j < 3; j++) {
                    double s = 0;
                    for (int k = 0; k < 3; k++) s += (m == 2 ? g2[r][k] : g4[r][k]) * g[k][j];
                    t[r][j] = s;
                }
            for (int r = 0; r < a; r++)
                for (int c = 0; c < a; c++) {  // U = t Gᵀ
                    double s = 0;
                    for (int k = 0; k < 3; k++) s += t[r][k] * (m == 2 ? g2[c][k] : g4[c][k]);
                    const size_t xi = (size_t)r * a + c;
                    // [ξ][o/8][c][8] (fp32) or [ξ][o/8][c/2][8][2] (bf16 channel pairs)
                    const size_t base = (xi * nb + (size_t)(o / 8)) * cpad * 8;
                    if (bf16) {
                        ((uint16_t *)dst)[base + (size_t)(i / 2) * 16 + (size_t)(o % 8) * 2 + (size_t)(i % 2)] = ck_float_to_bf16((float)s);
                    } else {
                        ((float *)dst)[base + (size_t)i * 8 + (size_t)(o % 8)] = (float)s;
                    }
                }
        }
    }
}

// ---------------------------------------------------------------------------------------------------
// Planning: how a layer's output is split into tasks (bands of tile rows × groups of output blocks).

// Cost of one task in cycles, for comparing splits. The products: one vector instruction per 16 tiles,
// channel and output (they run at the FMA / vdpbf16ps peak: 113 and 221 GFLOP/s against 115 and 230 in
// `bench peak`). The transforms, timed by phase (-DWINO_PROFILE) at the VGG layers of 400×300 on one
// thread: the input one ≈ 25 cycles per ξ and channel (≈ 900 per channel and 16 tiles: it reads input
// planes that the previous layer left in L3 or memory and writes 36 far-apart rows of V), the output one
// ≈ 32 per output value; 14–34 % of a layer together, so a split that transforms the same input once per
// output group pays for it (the cost model of the first engine counted 2.5 and 5, and split 256 → 256 at
// 75×100 into 4 output groups: 20.2 ms on 2 threads where one or two groups per band take 15.1). U read once per
// task from memory (≈ 0.3 cycles a byte: fewer, larger tasks win for wide layers: 256 → 256 took 41 ms in
// tasks of 25 tiles, 29 ms in tasks of 200); V and M beyond what L2 holds written out and read back
// (≈ 0.15 cycles a byte: 64 → 64 took 37 ms in tasks of 100 tiles, 47 ms in tasks of 800; noisy).
static double wino_task_cost(int m, int bf16, int C, int Og, long tiles) {
    const double a2 = (double)(m + 2) * (m + 2), groups16 = (double)((tiles + 15) / 16), eb = bf16 ? 2 : 4;
    const double gemm = a2 * C * Og / (bf16 ? 2.0 : 1.0);
    const double input = 25.0 * a2 * C, output = 32.0 * m * m * Og;
    const double uBytes = a2 * C * Og * eb;
    const double vmBytes = a2 * groups16 * 16 * (C * eb + Og * 4.0), l2 = 768.0 * 1024;
    return groups16 * (gemm + input + output) + 0.3 * uBytes + (vmBytes > l2 ? 0.15 * (vmBytes - l2) : 0) + 2000.0;
}

// Largest scratch a plan may ask for, per worker.
#define WINO_MAX_SCRATCH ((size_t)8 << 20)

void ck_wino_plan(int m, int bf16, int C, int O, int H, int W, int threads, int *rowsPerTask, int *blocksPerGroup) {
    const int th = H > 0 ? (H + m - 1) / m : 0, tw = W > 0 ? (W + m - 1) / m : 0, nb = (O + 7) / 8;
    *rowsPerTask = 1;
    *blocksPerGroup = nb > 0 ? nb : 1;
    if (th <= 0 || tw <= 0 || nb <= 0 || C <= 0) return;
    if (threads < 1) threads = 1;
    double best = 1e300;
    for (int rows = 1; rows <= th; rows++) {
        const int bands = (th + rows - 1) / rows;
        if (rows > 1 && bands == (th + rows - 2) / (rows - 1)) continue;  // same bands as rows − 1, larger tasks
        for (int bpg = nb; bpg >= 1; bpg--) {
            const int groups = (nb + bpg - 1) / bpg;
            if (bpg < nb && (nb + groups - 1) / groups != bpg) continue;  // same split as a larger bpg
            if ((long)bands * groups > 64L * threads) break;
            if (ck_wino_scratch_bytes(m, bf16, C, O, W, rows, bpg) > WINO_MAX_SCRATCH && !(rows == 1 && bpg == 1)) continue;
            // Greedy list scheduling of the tasks (groups in order, bands inside, as Convolution hands them
            // out) on `threads` workers.
            // Plus a quarter of the largest task: on a shared machine a worker may be paused, and the last
            // task then runs alone (smaller tasks let the other worker take over). With the transform costs
            // above, a half or none gave the same layer times within the noise (quiet machine).
            double load[64] = {0}, largest = 0;
            const int nt = threads < 64 ? threads : 64;
            for (int g = 0; g < groups; g++) {
                const int og = (g + 1) * bpg <= nb ? bpg : nb - g * bpg;
                for (int b = 0; b < bands; b++) {
                    const int r = (b + 1) * rows <= th ? rows : th - b * rows;
                    int k = 0;
                    for (int q = 1; q < nt; q++) if (load[q] < load[k]) k = q;
                    const double cost = wino_task_cost(m, bf16, C, og * 8, (long)r * tw);
                    load[k] += cost;
                    if (cost > largest) largest = cost;
                }
            }
            double span = 0;
            for (int q = 0; q < nt; q++) if (load[q] > span) span = load[q];
            if (threads > 1) span += 0.25 * largest;
            if (span < best * 0.995) {
                best = span;
                *rowsPerTask = rows;
                *blocksPerGroup = bpg;
            }
        }
    }
}

size_t ck_wino_scratch_bytes(int m, int bf16, int C, int O, int W, int rowsPerTask, int blocksPerGroup) {
    const int tw = W > 0 ? (W + m - 1) / m : 0;
    if (tw <= 0 || C <= 0 || O <= 0) return 64;
    const size_t a2 = (size_t)(m + 2) * (m + 2);
    const size_t tp = ((size_t)rowsPerTask * tw + 15) / 16 * 16;
    // One cache line between ξ slices (winograd_impl.h, WXG).
    const size_t v = (a2 * (wino_cpad(bf16, C) * tp + (bf16 ? 32 : 16)) * (bf16 ? 2 : 4) + 63) / 64 * 64;
    return v + a2 * (size_t)blocksPerGroup * 8 * tp * 4 + 64;
}

// Phase timing for tuning (-DWINO_PROFILE): cycles in the input transform, products, output transform.
#ifdef WINO_PROFILE
#include <x86intrin.h>
unsigned long long ck_wino_profile[3];
#define WINO_PROF_START() unsigned long long prof_t = __rdtsc()
#define WINO_PROF_LAP(k) do { unsigned long long n_ = __rdtsc(); __atomic_fetch_add(&ck_wino_profile[k], n_ - prof_t, __ATOMIC_RELAXED); prof_t = n_; } while (0)
#else
#define WINO_PROF_START() do {} while (0)
#define WINO_PROF_LAP(k) do {} while (0)
#endif

// ---------------------------------------------------------------------------------------------------
// The two instances of the per-task body.

#pragma clang attribute push(__attribute__((target("avx512f,avx512bw,avx512dq,avx512vl"))), apply_to = function)
#define WBF 0
#define WNAME(x) wf32_##x
#include "winograd_impl.h"
#undef WNAME
#undef WBF
#pragma clang attribute pop

#pragma clang attribute push(__attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,avx512bf16"))), apply_to = function)
#define WBF 1
#define WNAME(x) wbf16_##x
#include "winograd_impl.h"
#undef WNAME
#undef WBF
#pragma clang attribute pop

void ck_wino_conv(int m, int bf16, const float *in, int C, size_t inStride, int H, int W,
                  const void *packed, int O, float *out, size_t outStride,
                  int ty0, int ty1, int ob0, int ob1, void *scratch, const ck_epilogue *e) {
    if (bf16) {
        (m == 2 ? wbf16_conv2 : wbf16_conv4)(in, C, inStride, H, W, packed, O, out, outStride, ty0, ty1, ob0, ob1, scratch, e);
    } else {
        (m == 2 ? wf32_conv2 : wf32_conv4)(in, C, inStride, H, W, packed, O, out, outStride, ty0, ty1, ob0, ob1, scratch, e);
    }
}

void ck_wino_conv_unpooled(int bf16, const ck_unpool_source *u, int C, int H, int W,
                           const void *packed, int O, float *out, size_t outStride,
                           int ty0, int ty1, int ob0, int ob1, void *scratch, const ck_epilogue *e) {
    (bf16 ? wbf16_conv4_unpooled : wf32_conv4_unpooled)(u, C, H, W, packed, O, out, outStride, ty0, ty1, ob0, ob1, scratch, e);
}

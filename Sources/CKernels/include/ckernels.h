#ifndef CKERNELS_H
#define CKERNELS_H
// Hand-written compute kernels for the engine. AVX-512 code is compiled per function
// (__attribute__((target))) and must only be called when ck_has_avx512() is true.
//
// "Padded planes": an activation of C channels, H rows, W columns is stored per channel as a plane of
// (H+2) rows × Wp = W+2 columns (a zero border of one pixel), the plane's origin (row 0, column 0)
// CK_GUARD floats after the plane's start, planes `stride` floats apart; the guard zones before and after
// are zero. A 3×3 tap of flattened position p is then p + (dy−1)·Wp + (dx−1), with no bounds checks.
#include <stddef.h>
#include <stdint.h>

#define CK_GUARD 16
/// Floats after the last position a kernel may read past a plane's last row (vector overrun).
#define CK_TAIL 96

int ckernels_version(void);

/// 1 when the CPU runs AVX-512F code (checked once at run time).
int ck_has_avx512(void);

/// Sets FTZ and DAZ in this thread's MXCSR (denormals flushed; the backward pass produces them).
void ck_flush_denormals(void);

/// Zeroes a padded tensor's border: guard zones, rows 0 and H+1, columns 0 and Wp−1.
/// `t` points at the first plane's start (not its origin).
void ck_zero_border(float *t, int channels, size_t stride, int height, int width);

/// The part of ck_zero_border a Winograd convolution leaves: guard zones, rows 0 and H+1 … (the pad
/// columns of rows 1 … H are its own).
void ck_zero_edge_rows(float *t, int channels, size_t stride, int height, int width);

/// Packs weights [O][C][3][3] (OIHW) for ck_conv3x3_avx512: [ceil(O/8)][C][9][8], zero-filled past O.
/// `flip` packs the backward-to-input convolution instead: W'[c][o][ky][kx] = W[o][c][2−ky][2−kx],
/// i.e. a convolution from O channels to C channels. `dst` must hold ck_packed_count(...) floats.
size_t ck_packed_count(int outChannels, int inChannels);
void ck_pack_weights(const float *oihw, int O, int C, int flip, float *dst);

/// 3×3 convolution, padding 1, on padded planes (see above), positions [p0, p1) of the flattened plane
/// (p0, p1 within [Wp, (H+1)·Wp)), output-channel blocks of 8 [ob0, ob1).
/// out = acc (+ bias[o]) (+ addend); then ReLU if `relu`; then 0 where maskref ≤ 0 if `maskref`.
/// addend and maskref share `out`'s layout. `in`, `out`, `addend`, `maskref` point at plane 0's origin.
/// Pad columns of `out` receive garbage unless masked: zero them (ck_zero_border) when needed.
void ck_conv3x3_avx512(const float *in, int inChannels, size_t inStride, int wp,
                       const float *packed, const float *bias, int outChannels,
                       float *out, size_t outStride, long p0, long p1, int ob0, int ob1,
                       int relu, const float *addend, const float *maskref);


/// The same for a few output channels (O ≤ 8 pays off; any O works), without addend, ReLU or mask: blocks
/// of 4 outputs × 96 positions (3 outputs: 3 × 128). Loads past p1 are masked off: reads no further than
/// the rows around [p0, p1). Weights as above.
void ck_conv3x3_narrow_avx512(const float *in, int inChannels, size_t inStride, int wp,
                              const float *packed, const float *bias, int outChannels,
                              float *out, size_t outStride, long p0, long p1);

/// 2×2/2 max-pooling of channels [c0, c1) between padded planes (pointers at plane 0's origin): out
/// (⌊H/2⌋ × ⌊W/2⌋) from in (H × W). Borders are not touched.
void ck_maxpool2x2(const float *in, size_t inStride, int height, int width,
                   float *out, size_t outStride, int c0, int c1);

/// Backward of ck_maxpool2x2 into the pool's input, fused with what precedes the pool (a ReLU whose
/// output is `ref`): dst = (routed gradient + addend) where ref > 0, else 0, over the whole H × W interior.
/// Each window's gradient goes to its first maximum in row-major order. `addend` is a plain C×H×W tensor
/// (a gradient injected at that ReLU) or NULL. Borders are not touched.
void ck_maxpool2x2_backward(const float *grad, size_t gradStride, const float *ref, size_t refStride,
                            int height, int width, const float *addend,
                            float *dst, size_t dstStride, int c0, int c1);

/// dst = src where ref > 0, else 0, over the interior of channels [c0, c1): src a plain [C][H][W] tensor
/// (a gradient injected at a ReLU's output), ref that ReLU's output and dst padded planes (pointers at
/// plane 0's origin). Borders are not touched.
void ck_masked_copy(const float *src, const float *ref, size_t refStride, int height, int width,
                    float *dst, size_t dstStride, int c0, int c1);

// Σ (a − b)² over n elements, the differences and the sum in double (the deep objective's L_rec); when g
// is given, also g = k (a − b) in float.
double ck_squared_difference(const float *a, const float *b, size_t n, float k, float *g);

// ---------------------------------------------------------------------------------------------------
// Winograd F(m×m, 3×3), m = 2 or 4, with fp32 products (FMA) or bf16 products accumulated in fp32
// (vdpbf16ps); the input and output transforms are fp32 either way (winograd.c). Same padded-plane
// contract as ck_conv3x3_avx512, except that the planes must be readable (finite, zero below the image)
// for m + 1 rows below row H and 80 floats past the last of them (PaddedGeometry's stride).

/// 1 when the CPU runs the fp32 Winograd kernels (AVX-512 F, BW, DQ, VL).
int ck_has_avx512_wino(void);
/// 1 when it also runs the bf16 ones (AVX512_BF16).
int ck_has_avx512_bf16(void);
/// Round to nearest even, and back.
uint16_t ck_float_to_bf16(float f);
float ck_bf16_to_float(uint16_t h);

/// Bytes of U = G g Gᵀ for all (m+2)² points ξ: fp32 [ξ][⌈O/8⌉][C][8], bf16 [ξ][⌈O/8⌉][⌈C/2⌉][8][2].
size_t ck_wino_packed_bytes(int m, int bf16, int outChannels, int inChannels);
/// Packs OIHW weights of a conv C→O (flip: the backward-to-input conv O→C, as ck_pack_weights).
void ck_wino_pack(int m, int bf16, const float *oihw, int O, int C, int flip, void *dst);
/// Splits a layer into tasks: bands of `rowsPerTask` tile rows × groups of `blocksPerGroup` output blocks
/// of 8, chosen by a cost model for `threads` workers. Safe for H, W, C or O of 0 (gives 1 and 1).
void ck_wino_plan(int m, int bf16, int inChannels, int outChannels, int height, int width, int threads,
                  int *rowsPerTask, int *blocksPerGroup);
/// Scratch bytes one task of that plan needs (64-byte aligned, private to the worker).
size_t ck_wino_scratch_bytes(int m, int bf16, int inChannels, int outChannels, int width, int rowsPerTask,
                             int blocksPerGroup);
/// What a convolution does after the sums, per output value: v = acc (+ bias[o]) (+ addend) (+ addendPlain),
/// then max(v, 0) if relu, then 0 where maskref ≤ 0; v is stored into the output and, if copyPlain, also
/// there. addend and maskref share the output's padded layout (they may alias it: each value is read
/// before it is written); addendPlain and copyPlain are plain [O][H][W] tensors.
///
/// pool (optional): the 2×2/2 max-pool of the values v (floor sizes ⌊H/2⌋ × ⌊W/2⌋, as ck_maxpool2x2) is
/// written into the interior of the padded tensor `pool` (planes poolStride floats apart; its border is not
/// touched) and, if poolCodes, each window's code into the plain [O][⌊H/2⌋][⌊W/2⌋] bytes there: 0…3, the
/// first maximum in row-major order, or CK_POOL_NONE when the maximum is not > 0 (no gradient passes:
/// the ReLU below is dead there). poolOnly: the full-size output is not stored at all (out may be NULL).
typedef struct {
    const float *bias;
    int relu;
    const float *addend;
    const float *addendPlain;
    const float *maskref;
    float *copyPlain;
    float *pool;
    size_t poolStride;
    uint8_t *poolCodes;
    int poolOnly;
} ck_epilogue;

#define CK_POOL_NONE 4

/// The input of a convolution that is the backward of a fused max-pool, never stored: the pooled gradient
/// (padded planes of ⌊H/2⌋ × ⌊W/2⌋, pointer at plane 0's origin, planes gradStride floats apart) and the
/// forward's codes (ck_epilogue.pool). Value at (c, y, x): the gradient of window (y/2, x/2) where its
/// code names (y mod 2, x mod 2), else 0 — what ck_unpool2x2 would store.
typedef struct {
    const float *grad;
    size_t gradStride;
    const uint8_t *codes;
} ck_unpool_source;

/// ck_wino_conv with F(4×4) on the input `u` describes (H × W, C channels) instead of stored planes: the
/// patches are built from the pooled gradient and the codes as they are read.
void ck_wino_conv_unpooled(int bf16, const ck_unpool_source *u, int inChannels, int height, int width,
                           const void *packed, int outChannels, float *out, size_t outStride,
                           int ty0, int ty1, int ob0, int ob1, void *scratch, const ck_epilogue *e);

/// Backward of a max-pool whose forward wrote codes (ck_epilogue.pool): into the pool's input (H × W,
/// padded planes), the gradient of each window at its code's position and 0 elsewhere, including an odd
/// last row and column; the same values as ck_maxpool2x2_backward without addend, without reading the
/// pool's input. Channels [c0, c1); borders are not touched.
void ck_unpool2x2(const float *grad, size_t gradStride, const uint8_t *codes, int height, int width,
                  float *dst, size_t dstStride, int c0, int c1);

/// Computes output tile rows [ty0, ty1) (rows m·ty0 … m·ty1−1 clipped to H) for output blocks [ob0, ob1),
/// writing the output's interior and the pad columns of those rows (zeros; not with poolOnly): of the
/// border only the rows above and below the image are left (ck_zero_edge_rows). Call only when ck_has_avx512_wino() (bf16: ck_has_avx512_bf16()).
void ck_wino_conv(int m, int bf16, const float *in, int inChannels, size_t inStride, int height, int width,
                  const void *packed, int outChannels, float *out, size_t outStride,
                  int ty0, int ty1, int ob0, int ob1, void *scratch, const ck_epilogue *epilogue);

// ---------------------------------------------------------------------------------------------------
// Peak loops (peak.c): `iterations` rounds of 16 independent 512-bit FMA (fp32) or vdpbf16ps chains;
// returns a checksum. FLOPs per round: ck_peak_flops_per_iteration (a vdpbf16ps lane: 2 products, 2 sums).
// ck_peak_bf16 needs ck_has_avx512_bf16().
float ck_peak_fma(long iterations);
float ck_peak_bf16(long iterations);
double ck_peak_flops_per_iteration(int bf16);

#endif

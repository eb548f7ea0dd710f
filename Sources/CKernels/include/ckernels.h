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

#define CK_GUARD 16
/// Floats after the last position a kernel may read past a plane's last row (vector overrun).
#define CK_TAIL 64

int ckernels_version(void);

/// 1 when the CPU runs AVX-512F code (checked once at run time).
int ck_has_avx512(void);

/// Sets FTZ and DAZ in this thread's MXCSR (denormals flushed; the backward pass produces them).
void ck_flush_denormals(void);

/// Zeroes a padded tensor's border: guard zones, rows 0 and H+1, columns 0 and Wp−1.
/// `t` points at the first plane's start (not its origin).
void ck_zero_border(float *t, int channels, size_t stride, int height, int width);

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


/// Winograd F(2×2, 3×3) convolution (same contract as ck_conv3x3_avx512): 2×2 output tiles from 4×4
/// input patches, 16 products per tile instead of 36. The padded planes need one extra zero row below
/// row H+1 (patches of an odd height reach it). Weights: ck_winograd_pack_weights, [16][ceil(O/8)][C][8].
size_t ck_winograd_packed_count(int outChannels, int inChannels);
void ck_winograd_pack_weights(const float *oihw, int O, int C, int flip, float *dst);
/// Tile rows per task for an input of C channels and width W, and the scratch floats one task needs.
int ck_winograd_rows_per_task(int inChannels, int width);
size_t ck_winograd_scratch_count(int inChannels, int outChannels, int width);
/// Computes the output rows of tile rows [ty0, ty1) (output rows 2·ty0 … 2·ty1−1 clipped to H), all
/// output channels. `scratch`: ck_winograd_scratch_count floats, 64-byte aligned, private to the caller.
void ck_conv3x3_winograd_avx512(const float *in, int inChannels, size_t inStride, int height, int width,
                                const float *packed, const float *bias, int outChannels,
                                float *out, size_t outStride, int ty0, int ty1, float *scratch,
                                int relu, const float *addend, const float *maskref);

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

#endif

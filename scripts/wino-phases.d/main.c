// Where a Winograd F(4×4) layer's time goes on this CPU: each VGG-16 layer shape of a 400×300 input,
// forward, one thread, the engine's own plan for one thread, best of 5; the input transform, the products
// and the output transform by rdtsc (winograd.c built with -DWINO_PROFILE), and the products' rate.
// Run by scripts/wino-phases.
#include "ckernels.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

extern unsigned long long ck_wino_profile[3];

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

static void *zeroed(size_t bytes) {
    void *p = aligned_alloc(64, (bytes + 63) / 64 * 64);
    memset(p, 0, (bytes + 63) / 64 * 64);
    return p;
}

int main(void) {
    // C → O at H × W: conv1_2, conv2_1, conv2_2, conv3_1, conv3_2 (and conv3_3), conv4_1.
    const int shapes[][4] = {{64, 64, 300, 400}, {64, 128, 150, 200}, {128, 128, 150, 200},
                             {128, 256, 75, 100}, {256, 256, 75, 100}, {256, 512, 37, 50}};
    if (!ck_has_avx512_wino()) { fprintf(stderr, "no AVX-512: the Winograd kernel does not run here\n"); return 1; }
    printf("precision  C -> O    H x W     plan (rows, blocks)   ms    input  products  output  products GFLOP/s\n");
    for (int bf = 0; bf < 2; bf++) {
        if (bf && !ck_has_avx512_bf16()) break;
        for (int s = 0; s < 6; s++) {
            const int C = shapes[s][0], O = shapes[s][1], H = shapes[s][2], W = shapes[s][3];
            const size_t wp = W + 2, stride = ((wp * (H + 2) + 15) / 16) * 16 + 64;
            float *in = zeroed((C * stride + 16) * 4), *out = zeroed((O * stride + 16) * 4);
            for (size_t c = 0; c < (size_t)C; c++)
                for (int y = 0; y < H; y++)
                    for (int x = 0; x < W; x++) in[c * stride + (y + 1) * wp + x + 1] = (float)(((c * 131 + y * 17 + x * 7) % 97)) / 97.0f;
            float *w = malloc((size_t)O * C * 9 * 4), *bias = calloc(O, 4);
            for (size_t i = 0; i < (size_t)O * C * 9; i++) w[i] = (float)((i * 40503u) % 1000) / 1000.0f - 0.5f;
            void *packed = zeroed(ck_wino_packed_bytes(4, bf, O, C));
            ck_wino_pack(4, bf, w, O, C, 0, packed);
            int rows, blocks;
            ck_wino_plan(4, bf, C, O, H, W, 1, &rows, &blocks);
            void *scratch = zeroed(ck_wino_scratch_bytes(4, bf, C, O, W, rows, blocks));
            ck_epilogue e;
            memset(&e, 0, sizeof e);
            e.bias = bias;
            e.relu = 1;
            const int th = (H + 3) / 4, nb = (O + 7) / 8;
            double best = 1e9;
            unsigned long long phase[3] = {0, 0, 0};
            for (int rep = 0; rep < 5; rep++) {
                memset(ck_wino_profile, 0, sizeof phase);
                const double t0 = now();
                for (int ob = 0; ob < nb; ob += blocks)
                    for (int ty = 0; ty < th; ty += rows)
                        ck_wino_conv(4, bf, in + wp + 1, C, stride, H, W, packed, O, out, stride, ty,
                                     ty + rows < th ? ty + rows : th, ob, ob + blocks < nb ? ob + blocks : nb, scratch, &e);
                const double t = now() - t0;
                if (t < best) { best = t; memcpy(phase, ck_wino_profile, sizeof phase); }
            }
            const double total = (double)(phase[0] + phase[1] + phase[2]);
            const double products = 36.0 * C * O * (double)((W + 3) / 4) * ((H + 3) / 4) * 2;
            printf("%-9s %3d -> %3d  %3d x %3d  %4d, %3d        %6.2f  %4.1f %%  %4.1f %%    %4.1f %%  %6.0f\n", bf ? "bf16" : "fp32",
                   C, O, H, W, rows, blocks, best * 1e3, 100 * phase[0] / total, 100 * phase[1] / total,
                   100 * phase[2] / total, products / (best * phase[1] / total) / 1e9);
            free(in); free(out); free(w); free(bias); free(packed); free(scratch);
        }
    }
    // The backward of a convolution after a max-pool reads the unpooled gradient as it goes
    // (ck_wino_conv_unpooled): conv1_2, conv2_2 and conv3_3's backward shapes.
    const int pooled[][2] = {{64, 300}, {128, 150}, {256, 75}};
    printf("\nunpooled input (backward after a max-pool), C -> C at H x W:\n");
    for (int bf = 0; bf < 2; bf++) {
        if (bf && !ck_has_avx512_bf16()) break;
        for (int s = 0; s < 3; s++) {
            const int C = pooled[s][0], O = C, H = pooled[s][1], W = H * 4 / 3, ho = H / 2, wo = W / 2;
            const size_t wp = W + 2, stride = ((wp * (H + 2) + 15) / 16) * 16 + 64;
            const size_t gstride = ((size_t)(wo + 2) * (ho + 2) + 15) / 16 * 16 + 64;
            float *grad = zeroed((C * gstride + 16) * 4), *out = zeroed((O * stride + 16) * 4);
            uint8_t *codes = zeroed((size_t)C * ho * wo);
            for (size_t c = 0; c < (size_t)C; c++)
                for (int y = 0; y < ho; y++)
                    for (int x = 0; x < wo; x++) {
                        grad[c * gstride + (y + 1) * (wo + 2) + x + 1] = (float)(((c * 131 + y * 17 + x * 7) % 97)) / 97.0f;
                        codes[(c * ho + y) * wo + x] = (uint8_t)((c + y * 3 + x * 5) % 4);
                    }
            const ck_unpool_source u = {grad + (wo + 2) + 1, gstride, codes};
            float *w = malloc((size_t)O * C * 9 * 4);
            for (size_t i = 0; i < (size_t)O * C * 9; i++) w[i] = (float)((i * 40503u) % 1000) / 1000.0f - 0.5f;
            void *packed = zeroed(ck_wino_packed_bytes(4, bf, O, C));
            ck_wino_pack(4, bf, w, O, C, 0, packed);
            int rows, blocks;
            ck_wino_plan(4, bf, C, O, H, W, 1, &rows, &blocks);
            void *scratch = zeroed(ck_wino_scratch_bytes(4, bf, C, O, W, rows, blocks));
            ck_epilogue e;
            memset(&e, 0, sizeof e);
            // As in the engine: + the gradient injected at the ReLU below (plain planes), then that ReLU's
            // derivative (its output, padded planes).
            float *ref = zeroed((O * stride + 16) * 4), *addend = zeroed(((size_t)O * H * W + 16) * 4);
            for (size_t i = 0; i < (size_t)O * stride; i++) ref[i] = (float)((i * 7) % 5) - 2.0f;
            for (size_t i = 0; i < (size_t)O * H * W; i++) addend[i] = (float)(i % 13) / 13.0f;
            if (getenv("WINO_EPILOGUE")) { e.maskref = getenv("WINO_NOMASK") ? NULL : ref + wp + 1; e.addendPlain = addend; }
            const int th = (H + 3) / 4, nb = (O + 7) / 8;
            double best = 1e9;
            unsigned long long phase[3] = {0, 0, 0};
            for (int rep = 0; rep < 5; rep++) {
                memset(ck_wino_profile, 0, sizeof phase);
                const double t0 = now();
                for (int ob = 0; ob < nb; ob += blocks)
                    for (int ty = 0; ty < th; ty += rows)
                        ck_wino_conv_unpooled(bf, &u, C, H, W, packed, O, out + wp + 1, stride, ty,
                                              ty + rows < th ? ty + rows : th, ob, ob + blocks < nb ? ob + blocks : nb, scratch, &e);
                const double t = now() - t0;
                if (t < best) { best = t; memcpy(phase, ck_wino_profile, sizeof phase); }
            }
            const double total = (double)(phase[0] + phase[1] + phase[2]);
            const double products = 36.0 * C * O * (double)((W + 3) / 4) * ((H + 3) / 4) * 2;
            printf("%-9s %3d -> %3d  %3d x %3d  %4d, %3d        %6.2f  %4.1f %%  %4.1f %%    %4.1f %%  %6.0f\n", bf ? "bf16" : "fp32",
                   C, O, H, W, rows, blocks, best * 1e3, 100 * phase[0] / total, 100 * phase[1] / total,
                   100 * phase[2] / total, products / (best * phase[1] / total) / 1e9);
            free(grad); free(codes); free(out); free(ref); free(addend); free(w); free(packed); free(scratch);
        }
    }
    return 0;
}

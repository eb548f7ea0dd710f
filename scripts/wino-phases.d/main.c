// Where a Winograd F(4×4) layer's time goes on this CPU: each VGG-16 layer shape of a 400×300 input,
// forward, one thread, the engine's own plan for one thread, best of 5; the input transform, the products
// and the output transform by rdtsc (winograd.c built with -DWINO_PROFILE), and the products' rate. Then
// the three backward shapes that read an unpooled gradient (WINO_EPILOGUE=1: with the engine's backward
// epilogue; WINO_NOMASK=1: without its ReLU mask). Run by scripts/wino-phases.
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

// One layer: packed weights, the one-thread plan and its scratch, and what a run reads and writes.
typedef struct {
    int bf, C, O, H, W, rows, blocks;
    size_t stride;
    void *packed, *scratch;
    const float *in;               // padded planes (plain layers), or NULL
    const ck_unpool_source *u;     // the unpooled gradient (backward after a pool), or NULL
    float *out;
    ck_epilogue e;
} layer;

static void prepare(layer *l) {
    float *w = malloc((size_t)l->O * l->C * 9 * 4);
    for (size_t i = 0; i < (size_t)l->O * l->C * 9; i++) w[i] = (float)((i * 40503u) % 1000) / 1000.0f - 0.5f;
    l->packed = zeroed(ck_wino_packed_bytes(4, l->bf, l->O, l->C));
    ck_wino_pack(4, l->bf, w, l->O, l->C, 0, l->packed);
    free(w);
    ck_wino_plan(4, l->bf, l->C, l->O, l->H, l->W, 1, &l->rows, &l->blocks);
    l->scratch = zeroed(ck_wino_scratch_bytes(4, l->bf, l->C, l->O, l->W, l->rows, l->blocks));
}

// Best of 5 runs over every task of the plan, and the phases of the best one.
static void measure_and_print(layer *l) {
    const int th = (l->H + 3) / 4, nb = (l->O + 7) / 8;
    const size_t wp = l->W + 2;
    double best = 1e9;
    unsigned long long phase[3] = {0, 0, 0};
    for (int rep = 0; rep < 5; rep++) {
        memset(ck_wino_profile, 0, sizeof phase);
        const double t0 = now();
        for (int ob = 0; ob < nb; ob += l->blocks)
            for (int ty = 0; ty < th; ty += l->rows) {
                const int ty1 = ty + l->rows < th ? ty + l->rows : th, ob1 = ob + l->blocks < nb ? ob + l->blocks : nb;
                if (l->u) ck_wino_conv_unpooled(l->bf, l->u, l->C, l->H, l->W, l->packed, l->O, l->out + wp + 1, l->stride,
                                                ty, ty1, ob, ob1, l->scratch, &l->e);
                else ck_wino_conv(4, l->bf, l->in + wp + 1, l->C, l->stride, l->H, l->W, l->packed, l->O, l->out, l->stride,
                                  ty, ty1, ob, ob1, l->scratch, &l->e);
            }
        const double t = now() - t0;
        if (t < best) { best = t; memcpy(phase, ck_wino_profile, sizeof phase); }
    }
    const double total = (double)(phase[0] + phase[1] + phase[2]);
    const double products = 36.0 * l->C * l->O * (double)((l->W + 3) / 4) * ((l->H + 3) / 4) * 2;
    printf("%-9s %3d -> %3d  %3d x %3d  %4d, %3d        %6.2f  %4.1f %%  %4.1f %%    %4.1f %%  %6.0f\n", l->bf ? "bf16" : "fp32",
           l->C, l->O, l->H, l->W, l->rows, l->blocks, best * 1e3, 100 * phase[0] / total, 100 * phase[1] / total,
           100 * phase[2] / total, products / (best * phase[1] / total) / 1e9);
    free(l->packed);
    free(l->scratch);
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
            layer l = {.bf = bf, .C = shapes[s][0], .O = shapes[s][1], .H = shapes[s][2], .W = shapes[s][3]};
            const size_t wp = l.W + 2;
            l.stride = ((wp * (l.H + 2) + 15) / 16) * 16 + 64;
            float *in = zeroed((l.C * l.stride + 16) * 4), *bias = calloc(l.O, 4);
            for (size_t c = 0; c < (size_t)l.C; c++)
                for (int y = 0; y < l.H; y++)
                    for (int x = 0; x < l.W; x++) in[c * l.stride + (y + 1) * wp + x + 1] = (float)(((c * 131 + y * 17 + x * 7) % 97)) / 97.0f;
            l.in = in;
            l.out = zeroed((l.O * l.stride + 16) * 4);
            l.e.bias = bias;
            l.e.relu = 1;
            prepare(&l);
            measure_and_print(&l);
            free(in); free(l.out); free(bias);
        }
    }
    // The backward of a convolution after a max-pool reads the unpooled gradient as it goes
    // (ck_wino_conv_unpooled): conv1_2, conv2_2 and conv3_3's backward shapes.
    const int pooled[][2] = {{64, 300}, {128, 150}, {256, 75}};
    printf("\nunpooled input (backward after a max-pool), C -> C at H x W:\n");
    for (int bf = 0; bf < 2; bf++) {
        if (bf && !ck_has_avx512_bf16()) break;
        for (int s = 0; s < 3; s++) {
            layer l = {.bf = bf, .C = pooled[s][0], .O = pooled[s][0], .H = pooled[s][1], .W = pooled[s][1] * 4 / 3};
            const int ho = l.H / 2, wo = l.W / 2;
            const size_t wp = l.W + 2, gstride = ((size_t)(wo + 2) * (ho + 2) + 15) / 16 * 16 + 64;
            l.stride = ((wp * (l.H + 2) + 15) / 16) * 16 + 64;
            float *grad = zeroed((l.C * gstride + 16) * 4);
            uint8_t *codes = zeroed((size_t)l.C * ho * wo);
            for (size_t c = 0; c < (size_t)l.C; c++)
                for (int y = 0; y < ho; y++)
                    for (int x = 0; x < wo; x++) {
                        grad[c * gstride + (y + 1) * (wo + 2) + x + 1] = (float)(((c * 131 + y * 17 + x * 7) % 97)) / 97.0f;
                        codes[(c * ho + y) * wo + x] = (uint8_t)((c + y * 3 + x * 5) % 4);
                    }
            const ck_unpool_source u = {grad + (wo + 2) + 1, gstride, codes};
            l.u = &u;
            l.out = zeroed((l.O * l.stride + 16) * 4);
            // As in the engine: + the gradient injected at the ReLU below (plain planes), then that ReLU's
            // derivative (its output, padded planes).
            float *ref = zeroed((l.O * l.stride + 16) * 4), *addend = zeroed(((size_t)l.O * l.H * l.W + 16) * 4);
            for (size_t i = 0; i < (size_t)l.O * l.stride; i++) ref[i] = (float)((i * 7) % 5) - 2.0f;
            for (size_t i = 0; i < (size_t)l.O * l.H * l.W; i++) addend[i] = (float)(i % 13) / 13.0f;
            if (getenv("WINO_EPILOGUE")) { l.e.maskref = getenv("WINO_NOMASK") ? NULL : ref + wp + 1; l.e.addendPlain = addend; }
            prepare(&l);
            measure_and_print(&l);
            free(grad); free(codes); free(l.out); free(ref); free(addend);
        }
    }
    return 0;
}

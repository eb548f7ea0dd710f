// The machine's arithmetic peak: a loop of independent FMA (fp32) or vdpbf16ps (bf16 pairs into fp32)
// chains with nothing else in it, for `deepresize bench peak`. 16 accumulators cover the latency (4–6
// cycles) at 2 issues per cycle; the asm barrier keeps the compiler from folding the chains.
#include "ckernels.h"
#include <immintrin.h>

#define PEAK_CHAINS 16

__attribute__((target("avx512f")))
float ck_peak_fma(long iterations) {
    __m512 a[PEAK_CHAINS];
    const __m512 x = _mm512_set1_ps(0.999999f), y = _mm512_set1_ps(1e-7f);
    for (int i = 0; i < PEAK_CHAINS; i++) a[i] = _mm512_set1_ps((float)i);
    for (long k = 0; k < iterations; k++) {
        for (int i = 0; i < PEAK_CHAINS; i++) a[i] = _mm512_fmadd_ps(a[i], x, y);
        __asm__ volatile("" : "+v"(a[0]), "+v"(a[1]), "+v"(a[2]), "+v"(a[3]), "+v"(a[4]), "+v"(a[5]), "+v"(a[6]), "+v"(a[7]));
    }
    __m512 s = a[0];
    for (int i = 1; i < PEAK_CHAINS; i++) s = _mm512_add_ps(s, a[i]);
    return _mm512_reduce_add_ps(s);
}

__attribute__((target("avx512f,avx512bf16")))
float ck_peak_bf16(long iterations) {
    __m512 a[PEAK_CHAINS];
    const __m512bh x = (__m512bh)_mm512_set1_epi16(0x3F80), y = (__m512bh)_mm512_set1_epi16(0x3380);  // 1, 6e-8
    for (int i = 0; i < PEAK_CHAINS; i++) a[i] = _mm512_set1_ps((float)i);
    for (long k = 0; k < iterations; k++) {
        for (int i = 0; i < PEAK_CHAINS; i++) a[i] = _mm512_dpbf16_ps(a[i], x, y);
        __asm__ volatile("" : "+v"(a[0]), "+v"(a[1]), "+v"(a[2]), "+v"(a[3]), "+v"(a[4]), "+v"(a[5]), "+v"(a[6]), "+v"(a[7]));
    }
    __m512 s = a[0];
    for (int i = 1; i < PEAK_CHAINS; i++) s = _mm512_add_ps(s, a[i]);
    return _mm512_reduce_add_ps(s);
}

double ck_peak_flops_per_iteration(int bf16) { return (double)PEAK_CHAINS * 16 * (bf16 ? 4 : 2); }

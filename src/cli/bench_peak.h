/* Measured arithmetic peak of this machine on N threads, for `libstyle bench`. */
#ifndef LIBSTYLE_CLI_BENCH_PEAK_H
#define LIBSTYLE_CLI_BENCH_PEAK_H

typedef struct bench_peak {
    double fp32;          /* GFLOP/s, FMA loop (AVX-512, else AVX2); 0 when neither */
    double bf16;          /* GFLOP/s, vdpbf16ps loop; 0 without AVX-512 BF16 */
    double int8;          /* GOP/s, vpdpbusd loop; 0 without AVX-512 VNNI */
    const char *fp32_isa; /* "AVX-512 FMA", "AVX2 FMA" or "none" */
} bench_peak;

/* Runs each loop on `threads` threads (best of three ~0.15 s runs). */
void bench_measure_peak(int threads, bench_peak *peak);

#endif

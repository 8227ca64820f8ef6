/* Measured arithmetic peak of this machine on N threads, for `libstyle bench`. */
#ifndef LIBSTYLE_CLI_BENCH_PEAK_H
#define LIBSTYLE_CLI_BENCH_PEAK_H

#include <stddef.h>

typedef struct bench_peak {
    double fp32;          /* GFLOP/s, FMA loop (AVX-512, else AVX2); 0 when neither */
    double bf16;          /* GFLOP/s, vdpbf16ps loop; 0 without AVX-512 BF16 */
    double int8;          /* GOP/s, vpdpbusd loop; 0 without AVX-512 VNNI */
    const char *fp32_isa; /* "AVX-512 FMA", "AVX2 FMA" or "none" */
} bench_peak;

/* The processor, for every bench report: its model name (/proc/cpuinfo; "unknown" elsewhere)
 * and whether it has the instruction sets oneDNN's fast paths use. */
typedef struct bench_cpu {
    char model[128];
    int avx2, avx512, avx512_bf16, avx512_vnni, avx_vnni, amx_bf16, amx_int8;
} bench_cpu;

void bench_describe_cpu(bench_cpu *cpu);
/* "AVX2 yes, AVX-512 no, ..." into text. */
void bench_cpu_flags_text(const bench_cpu *cpu, char *text, size_t size);

/* Runs each loop on `threads` threads (best of three ~0.15 s runs). */
void bench_measure_peak(int threads, bench_peak *peak);

#endif

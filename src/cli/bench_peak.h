/* Measured arithmetic peak of this machine on N threads, for `libstyle bench`. */
#ifndef LIBSTYLE_CLI_BENCH_PEAK_H
#define LIBSTYLE_CLI_BENCH_PEAK_H

#include <stddef.h>
#include <stdio.h>

typedef struct bench_peak {
    double fp32;          /* GFLOP/s, FMA loop (AVX-512, else AVX2); 0 when neither */
    double fp32_avx2;     /* GFLOP/s, the AVX2 FMA loop (ymm) even where AVX-512 is there: the
                             peak of oneDNN's avx2 kernels; 0 without AVX2 + FMA */
    double bf16;          /* GFLOP/s, vdpbf16ps loop; 0 without AVX-512 BF16 */
    double int8;          /* GOP/s, vpdpbusd loop; 0 without AVX-512 VNNI */
    double amx_bf16;      /* GFLOP/s, TDPBF16PS loop on AMX tiles; 0 without AMX-BF16 or
                             without the kernel's permission to use the tiles */
    double amx_int8;      /* GOP/s, TDPBUSD loop on AMX tiles; 0 likewise without AMX-INT8 */
    const char *fp32_isa; /* "AVX-512 FMA", "AVX2 FMA" or "none" */
} bench_peak;

/* Which of the measured peaks a piece of work is compared with. */
typedef enum bench_peak_kind {
    BENCH_PEAK_FP32,        /* the fp32 loop: AVX-512 FMA, else AVX2 FMA (fp32_isa) */
    BENCH_PEAK_AVX2_FMA,    /* the AVX2 FMA loop */
    BENCH_PEAK_AVX512_BF16, /* vdpbf16ps */
    BENCH_PEAK_AVX512_VNNI, /* vpdpbusd */
    BENCH_PEAK_AMX_BF16,    /* TDPBF16PS */
    BENCH_PEAK_AMX_INT8,    /* TDPBUSD */
} bench_peak_kind;

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

/* The peak a kernel is compared with, from the instruction set its implementation string
 * names (oneDNN's "brgconv:avx512_core_amx", libstyle's "libstyle:direct_avx512_bf16"):
 * "amx" -> the AMX loop of its data type ("amx_bf16" / "amx_int8" in the name, else int8 when
 * `int8_data`, else bf16); "avx512" with "bf16" -> vdpbf16ps; "vnni" -> vpdpbusd; "avx2" ->
 * the AVX2 FMA loop; anything else ("ref:any", "brgconv:avx512_core") -> the fp32 loop. */
bench_peak_kind bench_peak_kind_of(const char *impl, int int8_data);
/* The measured value of that peak (GFLOP/s or GOP/s; 0 when not measured). */
double bench_peak_value(const bench_peak *peak, bench_peak_kind kind);
/* Its name for reports: "AMX bf16", "AMX int8", "AVX-512 BF16", "AVX-512 VNNI", "AVX2 FMA" or
 * the fp32 loop's fp32_isa ("AVX-512 FMA", "AVX2 FMA", "none"). */
const char *bench_peak_label(const bench_peak *peak, bench_peak_kind kind);

/* The peak as text for a report: "fp32 228.3 GFLOP/s (AVX-512 FMA), ..." (measured ones). */
void bench_peak_text(const bench_peak *peak, char *text, size_t size);
/* CSV: the field names after the record and threads ("fp32_gflops,...") and one record. */
#define BENCH_PEAK_CSV_COLUMNS                                                                     \
    "fp32_gflops,bf16_gflops,int8_gops,amx_bf16_gflops,amx_int8_gops,avx2_fma_gflops,fp32_isa"
void bench_peak_csv(FILE *out, const char *record, int threads, const bench_peak *peak);

#endif

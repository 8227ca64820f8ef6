/* The machine's arithmetic peak for `libstyle bench`: independent multiply-add chains in
 * registers on N threads. The AVX-512 / AVX2 loops are compiled for those instruction sets
 * (target attributes: only these functions, nothing else in the tool) and chosen at run
 * time from CPUID. */
#include "bench_peak.h"

#include <immintrin.h>
#include <pthread.h>
#include <stdio.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

/*
 * Each loop body is 16 (AVX2: 12) independent register-to-register multiply-adds in inline
 * assembly, so that the compiler can neither merge the chains nor keep them in memory; 16
 * chains cover latency x throughput on every AVX-512 core (4 cycles x 2 per cycle). The
 * values stay finite and normal (x += 1e-7 * 0.5 per step).
 */
#define REP16(op)                                                                                  \
    op("0") op("1") op("2") op("3") op("4") op("5") op("6") op("7") op("8") op("9") op("10")      \
        op("11") op("12") op("13") op("14") op("15")
#define REP12(op)                                                                                  \
    op("0") op("1") op("2") op("3") op("4") op("5") op("6") op("7") op("8") op("9") op("10") op("11")

static const float k_mul[16] __attribute__((aligned(64))) = {
    0.5f, 0.5f, 0.5f, 0.5f, 0.5f, 0.5f, 0.5f, 0.5f, 0.5f, 0.5f, 0.5f, 0.5f, 0.5f, 0.5f, 0.5f, 0.5f};
static const float k_add[16] __attribute__((aligned(64))) = {
    1e-7f, 1e-7f, 1e-7f, 1e-7f, 1e-7f, 1e-7f, 1e-7f, 1e-7f,
    1e-7f, 1e-7f, 1e-7f, 1e-7f, 1e-7f, 1e-7f, 1e-7f, 1e-7f};
static const uint8_t k_bytes[64] __attribute__((aligned(64))) = {1, 2, 3, 4};

#define ZERO_Z(n) "vpxord %%zmm" n ", %%zmm" n ", %%zmm" n "\n\t"
#define FMA_Z(n) "vfmadd231ps %%zmm16, %%zmm17, %%zmm" n "\n\t"
#define BF16_Z(n) "vdpbf16ps %%zmm16, %%zmm17, %%zmm" n "\n\t"
#define VNNI_Z(n) "vpdpbusd %%zmm16, %%zmm17, %%zmm" n "\n\t"
#define ZERO_Y(n) "vxorps %%ymm" n ", %%ymm" n ", %%ymm" n "\n\t"
#define FMA_Y(n) "vfmadd231ps %%ymm12, %%ymm13, %%ymm" n "\n\t"
#define ZMM_CLOBBERS                                                                               \
    "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9", "xmm10",      \
        "xmm11", "xmm12", "xmm13", "xmm14", "xmm15", "xmm16", "xmm17"

__attribute__((target("avx512f"))) static void fma_avx512(long iterations)
{
    __asm__ volatile("vmovups %1, %%zmm16\n\t"
                     "vmovups %2, %%zmm17\n\t" REP16(ZERO_Z) "1:\n\t" REP16(FMA_Z)
                     "dec %0\n\t"
                     "jnz 1b\n\t"
                     "vzeroupper\n\t"
                     : "+r"(iterations)
                     : "m"(k_add), "m"(k_mul)
                     : ZMM_CLOBBERS, "cc");
}

__attribute__((target("avx2,fma"))) static void fma_avx2(long iterations)
{
    __asm__ volatile("vmovups %1, %%ymm12\n\t"
                     "vmovups %2, %%ymm13\n\t" REP12(ZERO_Y) "1:\n\t" REP12(FMA_Y)
                     "dec %0\n\t"
                     "jnz 1b\n\t"
                     "vzeroupper\n\t"
                     : "+r"(iterations)
                     : "m"(*(const float(*)[8])k_add), "m"(*(const float(*)[8])k_mul)
                     : "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8",
                       "xmm9", "xmm10", "xmm11", "xmm12", "xmm13", "cc");
}

/* bf16 pair dot products: 16 lanes x 2 products x 2 FLOP per instruction. */
__attribute__((target("avx512f,avx512bf16"))) static void dot_bf16(long iterations)
{
    __asm__ volatile("vmovups %1, %%zmm16\n\t"
                     "vmovups %2, %%zmm17\n\t" REP16(ZERO_Z) "1:\n\t" REP16(BF16_Z)
                     "dec %0\n\t"
                     "jnz 1b\n\t"
                     "vzeroupper\n\t"
                     : "+r"(iterations)
                     : "m"(k_add), "m"(k_mul)
                     : ZMM_CLOBBERS, "cc");
}

/* u8 x s8 quad dot products: 16 lanes x 4 products x 2 OP per instruction. */
__attribute__((target("avx512f,avx512vnni"))) static void dot_int8(long iterations)
{
    __asm__ volatile("vmovups %1, %%zmm16\n\t"
                     "vmovups %1, %%zmm17\n\t" REP16(ZERO_Z) "1:\n\t" REP16(VNNI_Z)
                     "dec %0\n\t"
                     "jnz 1b\n\t"
                     "vzeroupper\n\t"
                     : "+r"(iterations)
                     : "m"(k_bytes)
                     : ZMM_CLOBBERS, "cc");
}

typedef struct peak_job {
    void (*loop)(long);
    long iterations;
} peak_job;

static void *peak_thread(void *arg)
{
    peak_job *job = arg;
    job->loop(job->iterations);
    return NULL;
}

/* FLOP per loop iteration of each kernel (per thread). */
static double run_loop(void (*loop)(long), double flop_per_iteration, int threads)
{
    enum { MAX_THREADS = 256 };
    if (threads < 1) threads = 1;
    if (threads > MAX_THREADS) threads = MAX_THREADS;
    /* Calibrate on one thread to about 0.15 s, then the best of 3 timed runs. */
    long iterations = 1 << 12;
    for (;;) {
        double t0 = now_s();
        loop(iterations);
        double t = now_s() - t0;
        if (t > 0.02 || iterations > (1L << 40)) {
            iterations = (long)((double)iterations * 0.15 / (t > 0 ? t : 1e-3)) + 1;
            break;
        }
        iterations *= 4;
    }
    double best = 0.0;
    for (int trial = 0; trial < 3; trial++) {
        pthread_t ids[MAX_THREADS];
        peak_job jobs[MAX_THREADS];
        int started = 0;
        double t0 = now_s();
        for (int i = 0; i < threads; i++) {
            jobs[i] = (peak_job){loop, iterations};
            if (pthread_create(&ids[i], NULL, peak_thread, &jobs[i]) != 0) break;
            started++;
        }
        for (int i = 0; i < started; i++) pthread_join(ids[i], NULL);
        double t = now_s() - t0;
        double rate = flop_per_iteration * (double)iterations * started / t / 1e9;
        if (rate > best) best = rate;
    }
    return best;
}

void bench_measure_peak(int threads, bench_peak *peak)
{
    memset(peak, 0, sizeof *peak);
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f")) {
        peak->fp32 = run_loop(fma_avx512, 16.0 * 16 * 2, threads);
        peak->fp32_isa = "AVX-512 FMA";
    } else if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) {
        peak->fp32 = run_loop(fma_avx2, 12.0 * 8 * 2, threads);
        peak->fp32_isa = "AVX2 FMA";
    } else {
        peak->fp32_isa = "none";
    }
    if (__builtin_cpu_supports("avx512bf16") && __builtin_cpu_supports("avx512f"))
        peak->bf16 = run_loop(dot_bf16, 16.0 * 16 * 4, threads);
    if (__builtin_cpu_supports("avx512vnni") && __builtin_cpu_supports("avx512f"))
        peak->int8 = run_loop(dot_int8, 16.0 * 16 * 8, threads);
}

/* Whether the space-separated /proc/cpuinfo flag list has `flag`. */
static int has_flag(const char *flags, const char *flag)
{
    size_t n = strlen(flag);
    for (const char *p = flags; (p = strstr(p, flag)) != NULL; p += n)
        if ((p == flags || p[-1] == ' ' || p[-1] == '\t') &&
            (p[n] == ' ' || p[n] == '\n' || p[n] == '\0'))
            return 1;
    return 0;
}

void bench_describe_cpu(bench_cpu *cpu)
{
    memset(cpu, 0, sizeof *cpu);
    snprintf(cpu->model, sizeof cpu->model, "unknown");
    /* The kernel's flags also say whether it lets programs use AMX (it lists amx_* only then). */
    FILE *f = fopen("/proc/cpuinfo", "r");
    static char line[8192];
    int have_model = 0, have_flags = 0;
    while (f && (!have_model || !have_flags) && fgets(line, sizeof line, f)) {
        const char *colon = strchr(line, ':');
        if (!colon) continue;
        const char *value = colon + 1 + (colon[1] == ' ');
        if (!have_model && strncmp(line, "model name", 10) == 0) {
            snprintf(cpu->model, sizeof cpu->model, "%s", value);
            cpu->model[strcspn(cpu->model, "\n")] = '\0';
            have_model = 1;
        } else if (!have_flags && strncmp(line, "flags", 5) == 0) {
            cpu->avx2 = has_flag(value, "avx2");
            cpu->avx512 = has_flag(value, "avx512f");
            cpu->avx512_bf16 = has_flag(value, "avx512_bf16");
            cpu->avx512_vnni = has_flag(value, "avx512_vnni");
            cpu->avx_vnni = has_flag(value, "avx_vnni");
            cpu->amx_bf16 = has_flag(value, "amx_bf16") && has_flag(value, "amx_tile");
            cpu->amx_int8 = has_flag(value, "amx_int8") && has_flag(value, "amx_tile");
            have_flags = 1;
        }
    }
    if (f) fclose(f);
    if (!have_flags) { /* no /proc: what CPUID says (AMX not asked) */
        __builtin_cpu_init();
        cpu->avx2 = __builtin_cpu_supports("avx2");
        cpu->avx512 = __builtin_cpu_supports("avx512f");
        cpu->avx512_bf16 = __builtin_cpu_supports("avx512bf16");
        cpu->avx512_vnni = __builtin_cpu_supports("avx512vnni");
    }
}

void bench_cpu_flags_text(const bench_cpu *cpu, char *text, size_t size)
{
    snprintf(text, size, "AVX2 %s, AVX-512 %s, AVX512-BF16 %s, VNNI %s, AMX-BF16 %s, AMX-INT8 %s",
             cpu->avx2 ? "yes" : "no", cpu->avx512 ? "yes" : "no", cpu->avx512_bf16 ? "yes" : "no",
             cpu->avx512_vnni ? "AVX-512"
             : cpu->avx_vnni  ? "AVX"
                              : "no",
             cpu->amx_bf16 ? "yes" : "no", cpu->amx_int8 ? "yes" : "no");
}

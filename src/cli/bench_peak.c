/* The machine's arithmetic peak for `libstyle bench`: independent multiply-add chains in
 * registers (AMX: tiles) on N threads. The AVX-512 / AVX2 loops are compiled for those
 * instruction sets (target attributes: only these functions, nothing else in the tool), the
 * AMX loops are inline assembly; each runs only where CPUID (and for AMX the kernel) allows. */
#define _GNU_SOURCE /* syscall() */
#include "bench_peak.h"

#include <cpuid.h>
#include <immintrin.h>
#include <pthread.h>
#include <stdio.h>
#include <stdint.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

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
    op("0") op("1") op("2") op("3") op("4") op("5") op("6") op("7") op("8") op("9") op("10")       \
        op("11") op("12") op("13") op("14") op("15")
#define REP12(op)                                                                                  \
    op("0") op("1") op("2") op("3") op("4") op("5") op("6") op("7") op("8") op("9") op("10")       \
        op("11")

static const float k_mul[16] __attribute__((aligned(64))) = {
    0.5f, 0.5f, 0.5f, 0.5f, 0.5f, 0.5f, 0.5f, 0.5f, 0.5f, 0.5f, 0.5f, 0.5f, 0.5f, 0.5f, 0.5f, 0.5f};
static const float k_add[16]
    __attribute__((aligned(64))) = {1e-7f, 1e-7f, 1e-7f, 1e-7f, 1e-7f, 1e-7f, 1e-7f, 1e-7f,
                                    1e-7f, 1e-7f, 1e-7f, 1e-7f, 1e-7f, 1e-7f, 1e-7f, 1e-7f};
static const uint8_t k_bytes[64] __attribute__((aligned(64))) = {1, 2, 3, 4};

#define ZERO_Z(n) "vpxord %%zmm" n ", %%zmm" n ", %%zmm" n "\n\t"
#define FMA_Z(n) "vfmadd231ps %%zmm16, %%zmm17, %%zmm" n "\n\t"
#define BF16_Z(n) "vdpbf16ps %%zmm16, %%zmm17, %%zmm" n "\n\t"
#define VNNI_Z(n) "vpdpbusd %%zmm16, %%zmm17, %%zmm" n "\n\t"
#define ZERO_Y(n) "vxorps %%ymm" n ", %%ymm" n ", %%ymm" n "\n\t"
#define FMA_Y(n) "vfmadd231ps %%ymm12, %%ymm13, %%ymm" n "\n\t"
#define ZMM_CLOBBERS                                                                               \
    "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9", "xmm10",       \
        "xmm11", "xmm12", "xmm13", "xmm14", "xmm15", "xmm16", "xmm17"

__attribute__((target("avx512f"))) static void fma_avx512(long iterations)
{
    __asm__ volatile("vmovups %1, %%zmm16\n\t"
                     "vmovups %2, %%zmm17\n\t" REP16(ZERO_Z) "1:\n\t" REP16(FMA_Z) "dec %0\n\t"
                                                                                   "jnz 1b\n\t"
                                                                                   "vzeroupper\n\t"
                     : "+r"(iterations)
                     : "m"(k_add), "m"(k_mul)
                     : ZMM_CLOBBERS, "cc");
}

__attribute__((target("avx2,fma"))) static void fma_avx2(long iterations)
{
    __asm__ volatile("vmovups %1, %%ymm12\n\t"
                     "vmovups %2, %%ymm13\n\t" REP12(ZERO_Y) "1:\n\t" REP12(FMA_Y) "dec %0\n\t"
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
                     "vmovups %2, %%zmm17\n\t" REP16(ZERO_Z) "1:\n\t" REP16(BF16_Z) "dec %0\n\t"
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
                     "vmovups %1, %%zmm17\n\t" REP16(ZERO_Z) "1:\n\t" REP16(VNNI_Z) "dec %0\n\t"
                                                                                    "jnz 1b\n\t"
                                                                                    "vzeroupper\n\t"
                     : "+r"(iterations)
                     : "m"(k_bytes)
                     : ZMM_CLOBBERS, "cc");
}

/*
 * AMX (Sapphire Rapids and later). Eight tile registers of 16 rows x 64 bytes (palette 1);
 * TDPBF16PS C += A.B with A 16 x 32 bf16, B 16 pairs x 16 columns, C 16 x 16 fp32: 16 x 16 x 32
 * multiply-adds = 16384 FLOP per instruction; TDPBUSD with u8 x s8 quads into s32: 16 x 16 x 64
 * = 32768 OP. One core issues at most one tile multiply per 16 cycles, i.e. 1024 bf16 FLOP
 * or 2048 int8 OP per cycle: 2.1 TFLOP/s and 4.3 TOP/s per core at 2.1 GHz, 8x the AVX-512 dot
 * products (two ports x 16 lanes: vdpbf16ps 128 FLOP, vpdpbusd 256 OP per cycle). Measured on
 * one thread of the Xeon here (KVM, 2.1 GHz nominal, ~2.7 GHz by a dependent-imul loop, the
 * AVX-512 FMA loop at 64 FLOP/cycle of that): 2.23-2.37 TFLOP/s and 4.58-4.67 TOP/s, i.e. 1024
 * and 2048 per cycle at ~2.26 GHz, or 0.85 of that at 2.7 GHz (the VM shows no clock under
 * tile work, which these processors run at a lower clock). A tile product's result is not
 * ready for the next product on the same accumulator 16 cycles later: with one or two
 * accumulators the loop ran at about 0.7x of four here. So the loop keeps four independent
 * accumulators C0..C3 = tmm0..3 fed by two A tiles (tmm4, tmm5) and two B tiles (tmm6, tmm7)
 * loaded once, as a 2 x 2 block: no memory traffic inside the loop, like the vector loops.
 * Values stay finite: A = 1, B = 2^-20 (bf16), so C grows by 32 x 2^-20 per step; int8 sums
 * wrap harmlessly. The tile configuration is per thread: every thread loads it (ldtilecfg) and
 * releases the tiles at the end (tilerelease), all inside one asm statement.
 */
typedef struct amx_tile_config {
    uint8_t palette, start_row, reserved[14];
    uint16_t columns_bytes[16];
    uint8_t rows[16];
} amx_tile_config;

static const uint16_t k_amx_a[16 * 32] __attribute__((aligned(64))) = {
#define ONE8 0x3f80, 0x3f80, 0x3f80, 0x3f80, 0x3f80, 0x3f80, 0x3f80, 0x3f80
#define ONE64 ONE8, ONE8, ONE8, ONE8, ONE8, ONE8, ONE8, ONE8
    ONE64, ONE64, ONE64, ONE64, ONE64, ONE64, ONE64, ONE64};
#undef ONE64
#undef ONE8
static const uint16_t k_amx_b[16 * 32] __attribute__((aligned(64))) = {
#define TINY8 0x3580, 0x3580, 0x3580, 0x3580, 0x3580, 0x3580, 0x3580, 0x3580
#define TINY64 TINY8, TINY8, TINY8, TINY8, TINY8, TINY8, TINY8, TINY8
    TINY64, TINY64, TINY64, TINY64, TINY64, TINY64, TINY64, TINY64};
#undef TINY64
#undef TINY8

static amx_tile_config amx_config(void)
{
    amx_tile_config c;
    memset(&c, 0, sizeof c);
    c.palette = 1;
    for (int i = 0; i < 8; i++) {
        c.columns_bytes[i] = 64;
        c.rows[i] = 16;
    }
    return c;
}

#define AMX_SETUP                                                                                  \
    "ldtilecfg %[config]\n\t"                                                                      \
    "tilezero %%tmm0\n\t"                                                                          \
    "tilezero %%tmm1\n\t"                                                                          \
    "tilezero %%tmm2\n\t"                                                                          \
    "tilezero %%tmm3\n\t"                                                                          \
    "tileloadd (%[a],%[stride],1), %%tmm4\n\t"                                                     \
    "tileloadd (%[a],%[stride],1), %%tmm5\n\t"                                                     \
    "tileloadd (%[b],%[stride],1), %%tmm6\n\t"                                                     \
    "tileloadd (%[b],%[stride],1), %%tmm7\n\t"
/* AT&T order: op B, A, C (C += A.B). */
#define AMX_BLOCK(op)                                                                              \
    "1:\n\t" op " %%tmm6, %%tmm4, %%tmm0\n\t" op " %%tmm7, %%tmm4, %%tmm1\n\t" op                  \
    " %%tmm6, %%tmm5, %%tmm2\n\t" op " %%tmm7, %%tmm5, %%tmm3\n\t"                                 \
    "dec %[n]\n\t"                                                                                 \
    "jnz 1b\n\t"                                                                                   \
    "tilerelease\n\t"

/* 4 x TDPBF16PS per iteration: 4 x 16384 FLOP. */
static void amx_bf16_loop(long iterations)
{
    const amx_tile_config config = amx_config();
    __asm__ volatile(AMX_SETUP AMX_BLOCK("tdpbf16ps")
                     : [n] "+r"(iterations)
                     : [config] "m"(config), [a] "r"(k_amx_a), [b] "r"(k_amx_b), [stride] "r"(64L),
                       "m"(k_amx_a), "m"(k_amx_b)
                     : "cc");
}

/* 4 x TDPBUSD per iteration: 4 x 32768 OP (the bf16 bit patterns read as bytes: 0x80, 0x3f,
 * 0x35 as u8 and s8; the sums wrap). */
static void amx_int8_loop(long iterations)
{
    const amx_tile_config config = amx_config();
    __asm__ volatile(AMX_SETUP AMX_BLOCK("tdpbusd")
                     : [n] "+r"(iterations)
                     : [config] "m"(config), [a] "r"(k_amx_a), [b] "r"(k_amx_b), [stride] "r"(64L),
                       "m"(k_amx_a), "m"(k_amx_b)
                     : "cc");
}

/* CPUID.(7,0):EDX bit 22 AMX-BF16, 24 AMX-TILE, 25 AMX-INT8. */
static void amx_cpuid(int *bf16, int *int8)
{
    unsigned a, b, c, d;
    *bf16 = *int8 = 0;
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d) || !(d & (1u << 24))) return;
    *bf16 = (d >> 22) & 1;
    *int8 = (d >> 25) & 1;
}

/* Linux keeps the tile state (8 KiB) off until a process asks: arch_prctl(ARCH_REQ_XCOMP_PERM,
 * XFEATURE_XTILEDATA), for every thread of the process (oneDNN asks the same). 0 when granted;
 * without it the first tile instruction would kill the process (SIGILL). */
static int amx_request_permission(void)
{
#if defined(__linux__) && defined(SYS_arch_prctl)
    enum { ARCH_REQ_XCOMP_PERM = 0x1023, XFEATURE_XTILEDATA = 18 };
    return syscall(SYS_arch_prctl, ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA) == 0 ? 0 : -1;
#else
    return -1;
#endif
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
        for (int i = 0; i < started; i++)
            pthread_join(ids[i], NULL);
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
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
        peak->fp32_avx2 = peak->fp32 > 0 && strcmp(peak->fp32_isa, "AVX2 FMA") == 0
                              ? peak->fp32 /* measured just above */
                              : run_loop(fma_avx2, 12.0 * 8 * 2, threads);
    if (__builtin_cpu_supports("avx512bf16") && __builtin_cpu_supports("avx512f"))
        peak->bf16 = run_loop(dot_bf16, 16.0 * 16 * 4, threads);
    if (__builtin_cpu_supports("avx512vnni") && __builtin_cpu_supports("avx512f"))
        peak->int8 = run_loop(dot_int8, 16.0 * 16 * 8, threads);
    int amx_bf16, amx_int8;
    amx_cpuid(&amx_bf16, &amx_int8);
    if ((amx_bf16 || amx_int8) && amx_request_permission() == 0) {
        if (amx_bf16) peak->amx_bf16 = run_loop(amx_bf16_loop, 4.0 * 16 * 16 * 32 * 2, threads);
        if (amx_int8) peak->amx_int8 = run_loop(amx_int8_loop, 4.0 * 16 * 16 * 64 * 2, threads);
    }
}

bench_peak_kind bench_peak_kind_of(const char *impl, int int8_data)
{
    if (!impl) return BENCH_PEAK_FP32;
    if (strstr(impl, "amx")) {
        if (strstr(impl, "amx_bf16")) return BENCH_PEAK_AMX_BF16;
        if (strstr(impl, "amx_int8")) return BENCH_PEAK_AMX_INT8;
        return int8_data ? BENCH_PEAK_AMX_INT8 : BENCH_PEAK_AMX_BF16;
    }
    if (strstr(impl, "avx512") && strstr(impl, "bf16")) return BENCH_PEAK_AVX512_BF16;
    /* "avx512_core_vnni"; also avx2_vnni (ymm, at most half of it): no loop of its own */
    if (strstr(impl, "vnni")) return BENCH_PEAK_AVX512_VNNI;
    if (strstr(impl, "avx2")) return BENCH_PEAK_AVX2_FMA;
    return BENCH_PEAK_FP32;
}

double bench_peak_value(const bench_peak *peak, bench_peak_kind kind)
{
    switch (kind) {
    case BENCH_PEAK_FP32:
        return peak->fp32;
    case BENCH_PEAK_AVX2_FMA:
        return peak->fp32_avx2;
    case BENCH_PEAK_AVX512_BF16:
        return peak->bf16;
    case BENCH_PEAK_AVX512_VNNI:
        return peak->int8;
    case BENCH_PEAK_AMX_BF16:
        return peak->amx_bf16;
    case BENCH_PEAK_AMX_INT8:
        return peak->amx_int8;
    }
    return 0;
}

const char *bench_peak_label(const bench_peak *peak, bench_peak_kind kind)
{
    switch (kind) {
    case BENCH_PEAK_FP32:
        return peak->fp32_isa ? peak->fp32_isa : "none";
    case BENCH_PEAK_AVX2_FMA:
        return "AVX2 FMA";
    case BENCH_PEAK_AVX512_BF16:
        return "AVX-512 BF16";
    case BENCH_PEAK_AVX512_VNNI:
        return "AVX-512 VNNI";
    case BENCH_PEAK_AMX_BF16:
        return "AMX bf16";
    case BENCH_PEAK_AMX_INT8:
        return "AMX int8";
    }
    return "none";
}

void bench_peak_text(const bench_peak *peak, char *text, size_t size)
{
    size_t n = (size_t)snprintf(text, size, "fp32 %.1f GFLOP/s (%s)", peak->fp32,
                                peak->fp32_isa ? peak->fp32_isa : "none");
#define APPEND(...)                                                                                \
    if (n < size) n += (size_t)snprintf(text + n, size - n, __VA_ARGS__)
    if (peak->fp32_avx2 > 0 && peak->fp32_avx2 != peak->fp32)
        APPEND(", fp32 %.1f GFLOP/s (AVX2 FMA)", peak->fp32_avx2);
    if (peak->bf16 > 0) APPEND(", bf16 %.1f GFLOP/s (AVX-512 BF16)", peak->bf16);
    if (peak->int8 > 0) APPEND(", int8 %.1f GOP/s (AVX-512 VNNI)", peak->int8);
    if (peak->amx_bf16 > 0) APPEND(", bf16 %.1f GFLOP/s (AMX bf16)", peak->amx_bf16);
    if (peak->amx_int8 > 0) APPEND(", int8 %.1f GOP/s (AMX int8)", peak->amx_int8);
#undef APPEND
}

void bench_peak_csv(FILE *out, const char *record, int threads, const bench_peak *peak)
{
    fprintf(out, "%s,%d,%.2f,%.2f,%.2f,%.2f,%.2f,%.2f,%s\n", record, threads, peak->fp32,
            peak->bf16, peak->int8, peak->amx_bf16, peak->amx_int8, peak->fp32_avx2,
            peak->fp32_isa ? peak->fp32_isa : "none");
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

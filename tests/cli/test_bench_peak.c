/* `libstyle bench`'s peaks (src/cli/bench_peak.c): which peak a kernel is compared with, from
 * its implementation string, and the measured peaks against the processor's flags (issue 17). */
#include "testutil.h"

#include "bench_peak.h"

#include <string.h>

/* The instruction set an implementation string names picks the peak, not the precision. */
static void test_peak_kind_of_implementation(void **state)
{
    (void)state;
    /* AMX: the data type the name says, else the layer's */
    assert_int_equal(bench_peak_kind_of("brgconv:avx512_core_amx_bf16", 0), BENCH_PEAK_AMX_BF16);
    assert_int_equal(bench_peak_kind_of("brgconv:avx512_core_amx_bf16", 1), BENCH_PEAK_AMX_BF16);
    assert_int_equal(bench_peak_kind_of("jit:avx512_core_amx_int8", 1), BENCH_PEAK_AMX_INT8);
    assert_int_equal(bench_peak_kind_of("brgconv:avx512_core_amx", 1), BENCH_PEAK_AMX_INT8);
    assert_int_equal(bench_peak_kind_of("brgconv:avx512_core_amx", 0), BENCH_PEAK_AMX_BF16);
    /* AVX-512 dot products */
    assert_int_equal(bench_peak_kind_of("jit:avx512_core_bf16", 0), BENCH_PEAK_AVX512_BF16);
    assert_int_equal(bench_peak_kind_of("brgconv:avx512_core_bf16", 0), BENCH_PEAK_AVX512_BF16);
    assert_int_equal(bench_peak_kind_of("libstyle:direct_avx512_bf16", 0), BENCH_PEAK_AVX512_BF16);
    assert_int_equal(bench_peak_kind_of("brgconv:avx512_core_vnni", 1), BENCH_PEAK_AVX512_VNNI);
    assert_int_equal(bench_peak_kind_of("libstyle:direct_avx512_vnni", 1), BENCH_PEAK_AVX512_VNNI);
    /* fp32: AVX2 kernels against the AVX2 loop, the rest against the machine's fp32 loop */
    assert_int_equal(bench_peak_kind_of("jit:avx2", 0), BENCH_PEAK_AVX2_FMA);
    assert_int_equal(bench_peak_kind_of("brgconv:avx2", 0), BENCH_PEAK_AVX2_FMA);
    assert_int_equal(bench_peak_kind_of("brgconv:avx512_core", 0), BENCH_PEAK_FP32);
    assert_int_equal(bench_peak_kind_of("libstyle:direct_avx512", 0), BENCH_PEAK_FP32);
    assert_int_equal(bench_peak_kind_of("ref:any", 0), BENCH_PEAK_FP32);
    assert_int_equal(bench_peak_kind_of("", 1), BENCH_PEAK_FP32);
    assert_int_equal(bench_peak_kind_of(NULL, 0), BENCH_PEAK_FP32);
}

/* Each kind reads its own field and has its own name. */
static void test_peak_values_and_labels(void **state)
{
    (void)state;
    bench_peak p = {1, 2, 3, 4, 5, 6, "AVX-512 FMA"};
    assert_true(bench_peak_value(&p, BENCH_PEAK_FP32) == 1);
    assert_true(bench_peak_value(&p, BENCH_PEAK_AVX2_FMA) == 2);
    assert_true(bench_peak_value(&p, BENCH_PEAK_AVX512_BF16) == 3);
    assert_true(bench_peak_value(&p, BENCH_PEAK_AVX512_VNNI) == 4);
    assert_true(bench_peak_value(&p, BENCH_PEAK_AMX_BF16) == 5);
    assert_true(bench_peak_value(&p, BENCH_PEAK_AMX_INT8) == 6);
    assert_string_equal(bench_peak_label(&p, BENCH_PEAK_FP32), "AVX-512 FMA");
    assert_string_equal(bench_peak_label(&p, BENCH_PEAK_AVX2_FMA), "AVX2 FMA");
    assert_string_equal(bench_peak_label(&p, BENCH_PEAK_AVX512_BF16), "AVX-512 BF16");
    assert_string_equal(bench_peak_label(&p, BENCH_PEAK_AVX512_VNNI), "AVX-512 VNNI");
    assert_string_equal(bench_peak_label(&p, BENCH_PEAK_AMX_BF16), "AMX bf16");
    assert_string_equal(bench_peak_label(&p, BENCH_PEAK_AMX_INT8), "AMX int8");

    char text[320];
    bench_peak_text(&p, text, sizeof text);
    assert_non_null(strstr(text, "fp32 1.0 GFLOP/s (AVX-512 FMA)"));
    assert_non_null(strstr(text, "bf16 5.0 GFLOP/s (AMX bf16)"));
    assert_non_null(strstr(text, "int8 6.0 GOP/s (AMX int8)"));
    bench_peak none = {0, 0, 0, 0, 0, 0, "none"};
    bench_peak_text(&none, text, sizeof text);
    assert_string_equal(text, "fp32 0.0 GFLOP/s (none)"); /* unmeasured peaks left out */
}

/* A CSV record has one field per column the header names. */
static void test_peak_csv_fields(void **state)
{
    (void)state;
    bench_peak p = {1, 2, 3, 4, 5, 6, "AVX2 FMA"};
    char line[512] = "";
    FILE *f = tmpfile();
    assert_non_null(f);
    bench_peak_csv(f, "peak", 2, &p);
    rewind(f);
    assert_non_null(fgets(line, sizeof line, f));
    fclose(f);
    assert_string_equal(line, "peak,2,1.00,3.00,4.00,5.00,6.00,2.00,AVX2 FMA\n");
    int commas = 0;
    for (const char *c = "peak,threads," BENCH_PEAK_CSV_COLUMNS; *c; c++)
        commas += *c == ',';
    int record_commas = 0;
    for (const char *c = line; *c; c++)
        record_commas += *c == ',';
    assert_int_equal(commas, record_commas);
}

/* Measured on one thread: never negative; a loop the processor lacks the instructions for
 * reports 0 and one it has reports more. The flags come from /proc/cpuinfo, which lists AMX
 * only where the kernel enables it (then the tile permission is granted). ONEDNN_MAX_CPU_ISA
 * does not hide flags, so nothing here depends on it. */
static void test_measured_peaks_follow_flags(void **state)
{
    (void)state;
    bench_cpu cpu;
    bench_describe_cpu(&cpu);
    bench_peak p;
    bench_measure_peak(1, &p);
    print_message("  %s: fp32 %.1f (%s), avx2 %.1f, bf16 %.1f, int8 %.1f, AMX bf16 %.1f, AMX "
                  "int8 %.1f\n",
                  cpu.model, p.fp32, p.fp32_isa, p.fp32_avx2, p.bf16, p.int8, p.amx_bf16,
                  p.amx_int8);
    const double values[] = {p.fp32, p.fp32_avx2, p.bf16, p.int8, p.amx_bf16, p.amx_int8};
    for (size_t i = 0; i < sizeof values / sizeof *values; i++)
        assert_true(values[i] >= 0);
    assert_non_null(p.fp32_isa);
    const struct {
        int flag;
        double value;
    } loops[] = {{cpu.avx2, p.fp32_avx2},
                 {cpu.avx512_bf16, p.bf16},
                 {cpu.avx512_vnni, p.int8},
                 {cpu.amx_bf16, p.amx_bf16},
                 {cpu.amx_int8, p.amx_int8}};
    for (size_t i = 0; i < sizeof loops / sizeof *loops; i++) {
        if (loops[i].flag)
            assert_true(loops[i].value > 0);
        else
            assert_true(loops[i].value == 0);
    }
    assert_true(cpu.avx2 || cpu.avx512 ? p.fp32 > 0 : p.fp32 == 0);
    assert_string_equal(p.fp32_isa, cpu.avx512 ? "AVX-512 FMA" : cpu.avx2 ? "AVX2 FMA" : "none");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_peak_kind_of_implementation),
        cmocka_unit_test(test_peak_values_and_labels),
        cmocka_unit_test(test_peak_csv_fields),
        cmocka_unit_test(test_measured_peaks_follow_flags),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

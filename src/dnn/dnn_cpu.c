/* The instruction sets oneDNN and our kernels may use. */
#include "dnn/dnn_cpu.h"

#include <oneapi/dnnl/dnnl.h>

int dnn_cpu_kernel_isa(void)
{
    static int cached = -1;
    int isa = __atomic_load_n(&cached, __ATOMIC_RELAXED);
    if (isa >= 0) return isa;
    dnnl_cpu_isa_t effective = dnnl_get_effective_cpu_isa();
    __builtin_cpu_init();
    isa = 0;
    if ((effective & dnnl_cpu_isa_avx2) == dnnl_cpu_isa_avx2 && __builtin_cpu_supports("avx2") &&
        __builtin_cpu_supports("fma"))
        isa = 1;
    if (isa == 1 && (effective & dnnl_cpu_isa_avx512_core) == dnnl_cpu_isa_avx512_core &&
        __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl"))
        isa = 2;
    if (isa == 2 && (effective & dnnl_cpu_isa_avx512_core_bf16) == dnnl_cpu_isa_avx512_core_bf16 &&
        __builtin_cpu_supports("avx512bf16") && __builtin_cpu_supports("avx512vnni"))
        isa = 3;
    __atomic_store_n(&cached, isa, __ATOMIC_RELAXED);
    return isa;
}

bool dnn_cpu_has_int8_vnni(void)
{
    dnnl_cpu_isa_t isa = dnnl_get_effective_cpu_isa();
    return (isa & dnnl_cpu_isa_avx512_core_vnni) == dnnl_cpu_isa_avx512_core_vnni;
}

bool dnn_cpu_has_amx(void)
{
    const dnnl_cpu_isa_t amx = dnnl_cpu_isa_avx512_core_amx;
    return dnn_cpu_kernel_isa() >= 3 && (dnnl_get_effective_cpu_isa() & amx) == amx;
}

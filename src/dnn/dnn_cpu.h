/*
 * What the CPU offers, as oneDNN sees it: its effective ISA follows ONEDNN_MAX_CPU_ISA, so
 * that ONEDNN_MAX_CPU_ISA=AVX2 exercises every fallback, ours as well as oneDNN's.
 */
#ifndef STYLE_DNN_CPU_H
#define STYLE_DNN_CPU_H

#include "core/common.h"

/*
 * The instruction set our own kernels may use: 0 generic, 1 AVX2 + FMA, 2 AVX-512 (F, BW, DQ,
 * VL), 3 AVX-512 with BF16 and VNNI: the lower of oneDNN's effective ISA and the CPU's flags.
 */
int dnn_cpu_kernel_isa(void);

/* Whether oneDNN may use AVX-512 VNNI (its int8 convolutions run natively). */
bool dnn_cpu_has_int8_vnni(void);

/* Whether oneDNN runs bf16 convolutions on AMX here (its effective ISA allows it). */
bool dnn_cpu_has_amx(void);

#endif

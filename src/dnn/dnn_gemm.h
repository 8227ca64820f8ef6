/*
 * Single-precision matrix multiply through oneDNN's sgemm (the Gram matrices of the style
 * losses and their gradients): C = alpha op(A) op(B) + beta C, row-major, op(X) = X or X^T as
 * `trans_a` / `trans_b` is 'N' or 'T'. Arguments as dnnl_sgemm's; invalid ones leave C alone.
 */
#ifndef STYLE_DNN_GEMM_H
#define STYLE_DNN_GEMM_H

#include "core/common.h"

void dnn_gemm(char trans_a, char trans_b, int64_t m, int64_t n, int64_t k, float alpha,
              const float *a, int64_t lda, const float *b, int64_t ldb, float beta, float *c,
              int64_t ldc);

#endif

/* Row-major sgemm through oneDNN. */
#include "dnn/dnn_gemm.h"

#include <oneapi/dnnl/dnnl.h>

void dnn_gemm(char trans_a, char trans_b, int64_t m, int64_t n, int64_t k, float alpha,
              const float *a, int64_t lda, const float *b, int64_t ldb, float beta, float *c,
              int64_t ldc)
{
    dnnl_sgemm(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

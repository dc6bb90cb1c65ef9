#!/usr/bin/env bash
# Compiles (and links) every CUDA source of the repository on a machine with nvcc but no cuBLAS and no GPU: the
# engine (native/cuda/*.cu + the C++ core built with SQLFOCUS_WITH_CUDA, so native/core/train.cpp instantiates the
# CUDA step), its tests (native/tests/cuda_step_test.cu), the PEFT parity runner (test/parity/cuda_parity.cu) and
# the GPU benchmark (bench/cuda/bench_step.cu). cuBLAS is replaced by declarations of the six entry points the
# engine calls (written below from the cuBLAS API documentation) and a stub library whose functions fail at run
# time, so this proves the code compiles and links, nothing more. The real build is bench/cuda/build.sh or CMake
# with a toolkit that has cuBLAS (docs/cuda.md).
# Usage (repo root): bash bench/cuda/check-compile.sh [outdir=/tmp/sqlfocus-cuda-check]; SQLFOCUS_CUDA_ARCHS="80 90".
set -euo pipefail
out=${1:-/tmp/sqlfocus-cuda-check}
archs=${SQLFOCUS_CUDA_ARCHS:-"80 90"}
mkdir -p "$out/stub/include" "$out/stub/lib" "$out/obj"
cat > "$out/stub/include/cublas_v2.h" <<'EOF'
// Compile-only stand-in for cuBLAS: declarations of the entry points sqlfocus calls (cuBLAS API, v2).
#pragma once
#include <cuda_runtime.h>
#include <library_types.h>
typedef struct cublasContext* cublasHandle_t;
typedef enum { CUBLAS_STATUS_SUCCESS = 0, CUBLAS_STATUS_NOT_INITIALIZED = 1, CUBLAS_STATUS_ALLOC_FAILED = 3 } cublasStatus_t;
typedef enum { CUBLAS_OP_N = 0, CUBLAS_OP_T = 1, CUBLAS_OP_C = 2 } cublasOperation_t;
typedef enum { CUBLAS_DEFAULT_MATH = 0 } cublasMath_t;
typedef enum { CUBLAS_COMPUTE_32F = 68 } cublasComputeType_t;
typedef enum { CUBLAS_GEMM_DEFAULT = -1 } cublasGemmAlgo_t;
#ifdef __cplusplus
extern "C" {
#endif
cublasStatus_t cublasCreate_v2(cublasHandle_t* handle);
cublasStatus_t cublasDestroy_v2(cublasHandle_t handle);
cublasStatus_t cublasSetStream_v2(cublasHandle_t handle, cudaStream_t stream);
cublasStatus_t cublasSetMathMode(cublasHandle_t handle, cublasMath_t mode);
cublasStatus_t cublasSetWorkspace_v2(cublasHandle_t handle, void* workspace, size_t bytes);
cublasStatus_t cublasGemmEx(cublasHandle_t handle, cublasOperation_t transa, cublasOperation_t transb, int m, int n, int k, const void* alpha,
                            const void* A, cudaDataType_t Atype, int lda, const void* B, cudaDataType_t Btype, int ldb, const void* beta, void* C,
                            cudaDataType_t Ctype, int ldc, cublasComputeType_t computeType, cublasGemmAlgo_t algo);
#ifdef __cplusplus
}
#endif
#define cublasCreate cublasCreate_v2
#define cublasDestroy cublasDestroy_v2
#define cublasSetStream cublasSetStream_v2
#define cublasSetWorkspace cublasSetWorkspace_v2
EOF
cat > "$out/stub/stub.c" <<'EOF'
#include "cublas_v2.h"
cublasStatus_t cublasCreate_v2(cublasHandle_t* h) { *h = 0; return CUBLAS_STATUS_NOT_INITIALIZED; }
cublasStatus_t cublasDestroy_v2(cublasHandle_t h) { (void)h; return CUBLAS_STATUS_NOT_INITIALIZED; }
cublasStatus_t cublasSetStream_v2(cublasHandle_t h, cudaStream_t s) { (void)h; (void)s; return CUBLAS_STATUS_NOT_INITIALIZED; }
cublasStatus_t cublasSetMathMode(cublasHandle_t h, cublasMath_t m) { (void)h; (void)m; return CUBLAS_STATUS_NOT_INITIALIZED; }
cublasStatus_t cublasSetWorkspace_v2(cublasHandle_t h, void* w, size_t b) { (void)h; (void)w; (void)b; return CUBLAS_STATUS_NOT_INITIALIZED; }
cublasStatus_t cublasGemmEx(cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k, const void* al, const void* A,
                            cudaDataType_t at, int lda, const void* B, cudaDataType_t bt, int ldb, const void* be, void* C, cudaDataType_t ct,
                            int ldc, cublasComputeType_t cp, cublasGemmAlgo_t alg) {
  (void)h; (void)ta; (void)tb; (void)m; (void)n; (void)k; (void)al; (void)A; (void)at; (void)lda; (void)B; (void)bt; (void)ldb; (void)be;
  (void)C; (void)ct; (void)ldc; (void)cp; (void)alg;
  return CUBLAS_STATUS_NOT_INITIALIZED;
}
EOF
cuda_home=$(dirname "$(dirname "$(command -v nvcc)")")
[ -f "$cuda_home/include/cuda_runtime.h" ] || cuda_home=$(ls -d /usr/local/cuda* 2>/dev/null | head -1)
gcc -O1 -fPIC -shared -I"$out/stub/include" -I"$cuda_home/include" "$out/stub/stub.c" -o "$out/stub/lib/libcublas.so"
cp "$out/stub/lib/libcublas.so" "$out/stub/lib/libcublasLt.so"

gencode=""
for a in $archs; do gencode="$gencode -gencode arch=compute_$a,code=sm_$a"; done
nv="nvcc -O3 -std=c++17 $gencode -Inative/include -Inative -I$out/stub/include -Xcompiler -fopenmp"
cxx="g++ -O3 -std=c++17 -fopenmp -march=native -fno-math-errno -DSQLFOCUS_WITH_CUDA=1 -Inative/include -Inative -I$cuda_home/include"

objs=()
fail=0
jobs_max=${JOBS:-2}
run() {  # runs "$@" in the background, at most $jobs_max at a time; a failure sets fail=1
  while [ "$(jobs -rp | wc -l)" -ge "$jobs_max" ]; do wait -n || fail=1; done
  "$@" &
}
for f in native/core/*.cpp native/cpu/*.cpp; do
  o="$out/obj/$(basename "${f%.*}").o"; objs+=("$o"); run $cxx -c "$f" -o "$o"
done
for f in native/cuda/*.cu; do
  o="$out/obj/cuda_$(basename "${f%.*}").o"; objs+=("$o"); run $nv -c "$f" -o "$o"
done
run $nv -c native/tests/cuda_step_test.cu -o "$out/obj/cuda_step_test.o"
run $nv -c bench/cuda/bench_step.cu -o "$out/obj/bench_step.o"
run $nv -c test/parity/cuda_parity.cu -o "$out/obj/cuda_parity.o"
while [ "$(jobs -rp | wc -l)" -gt 0 ]; do wait -n || fail=1; done
[ $fail = 0 ] || { echo "compile failed" >&2; exit 1; }
link="-L$out/stub/lib -lcublas -lcublasLt -Xlinker -rpath,$out/stub/lib -Xcompiler -fopenmp"
$nv -o "$out/sqlfocus_cuda_tests" "$out/obj/cuda_step_test.o" "${objs[@]}" $link
$nv -o "$out/sqlfocus_cuda_bench" "$out/obj/bench_step.o" "${objs[@]}" $link
$nv -o "$out/sqlfocus_cuda_parity" "$out/obj/cuda_parity.o" "${objs[@]}" $link
echo "compiled and linked (stub cuBLAS, archs $archs): $out/sqlfocus_cuda_tests $out/sqlfocus_cuda_bench $out/sqlfocus_cuda_parity"

#!/usr/bin/env bash
# Builds the CUDA engine, its tests, the PEFT parity check and the benchmark with nvcc + g++ directly, for machines where CMake's
# FindCUDAToolkit does not see cuBLAS (e.g. cuBLAS only from the nvidia-cublas Python wheel next to PyTorch). The C++ core
# is compiled with SQLFOCUS_WITH_CUDA so that native/core/train.cpp instantiates the step for the CUDA device.
# Without cuBLAS (compile check only): bench/cuda/check-compile.sh.
# Usage (repo root): bash bench/cuda/build.sh [outdir=build-cuda]; archs with SQLFOCUS_CUDA_ARCHS="80 90".
set -euo pipefail
out=${1:-build-cuda}
archs=${SQLFOCUS_CUDA_ARCHS:-"80 90"}
mkdir -p "$out/obj" "$out/lib"

# cuBLAS headers and libraries: the toolkit first, then the Python wheels (nvidia/cu13, nvidia/cublas)
roots="${CUDA_HOME:-/usr/local/cuda}"
py_nvidia=$(python3 -c 'import nvidia, os; print(list(nvidia.__path__)[0])' 2>/dev/null || true)
[ -n "$py_nvidia" ] && roots="$roots $py_nvidia"
inc=$(find $roots -name cublas_v2.h 2>/dev/null | head -1 || true)
lib=$(find $roots \( -name 'libcublas.so' -o -name 'libcublas.so.[0-9]*' \) 2>/dev/null | head -1 || true)
lt=$(find $roots \( -name 'libcublasLt.so' -o -name 'libcublasLt.so.[0-9]*' \) 2>/dev/null | head -1 || true)
if [ -z "$inc" ] || [ -z "$lib" ] || [ -z "$lt" ]; then
  echo "cuBLAS not found under: $roots (header: ${inc:-none}, lib: ${lib:-none}, Lt: ${lt:-none})" >&2
  exit 1
fi
ln -sf "$lib" "$out/lib/libcublas.so"
ln -sf "$lt" "$out/lib/libcublasLt.so"
libdir=$(cd "$(dirname "$lib")" && pwd)
echo "cuBLAS: $(dirname "$inc") $lib $lt"

gencode=""
for a in $archs; do gencode="$gencode -gencode arch=compute_$a,code=sm_$a"; done
last=${archs##* }
gencode="$gencode -gencode arch=compute_$last,code=compute_$last"  # PTX for newer GPUs
nv="nvcc -O3 -std=c++17 $gencode -Inative/include -Inative -I$(dirname "$inc") -Xcompiler -fopenmp"

objs=()
for f in native/core/*.cpp native/cpu/*.cpp; do
  o="$out/obj/$(basename "${f%.*}").o"
  g++ -O3 -std=c++17 -fopenmp -march=native -fno-math-errno -DSQLFOCUS_WITH_CUDA=1 -Inative/include -Inative -c "$f" -o "$o" &
  objs+=("$o")
done
for f in native/cuda/*.cu; do
  o="$out/obj/cuda_$(basename "${f%.*}").o"
  $nv -c "$f" -o "$o" &
  objs+=("$o")
done
$nv -c native/tests/cuda_step_test.cu -o "$out/obj/cuda_step_test.o" &
$nv -c bench/cuda/bench_step.cu -o "$out/obj/bench_step.o" &
$nv -c test/parity/cuda_parity.cu -o "$out/obj/cuda_parity.o" &
wait
link="-L$out/lib -lcublas -lcublasLt -Xlinker -rpath,$libdir -Xcompiler -fopenmp"
$nv -o "$out/sqlfocus_cuda_tests" "$out/obj/cuda_step_test.o" "${objs[@]}" $link
$nv -o "$out/sqlfocus_cuda_bench" "$out/obj/bench_step.o" "${objs[@]}" $link
$nv -o "$out/sqlfocus_cuda_parity" "$out/obj/cuda_parity.o" "${objs[@]}" $link
echo "built $out/sqlfocus_cuda_tests $out/sqlfocus_cuda_bench $out/sqlfocus_cuda_parity"

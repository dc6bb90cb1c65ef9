#!/usr/bin/env bash
# The whole GPU session for issue 9, in one command (repo root, on the GPU machine):
#   1. build with bench/cuda/build.sh (nvcc + g++, finds cuBLAS in the toolkit or the Python wheels);
#      the CMake route (SQLFOCUS_CUDA=on) is tried too and its result logged (cmake.log)
#   2. the CUDA-vs-CPU tests (sqlfocus_cuda_tests) and the PyTorch + PEFT parity check
#      (test/parity/peft_reference.py, then sqlfocus_cuda_parity)
#   3. the benchmark, ours and PyTorch + PEFT in the same run: 7B shape, batch 4 x 1024, with and
#      without recomputation (PEFT script path as $1, e.g. a copy of ../shared/bench/hf_peft_lora.py
#      carried in an ignored folder; skipped when absent)
# Writes gpu.txt, cmake.log, build.log, tests.log, parity.log and bench.jsonl under ${OUT:-bench/cuda/out}.
set -uo pipefail
peft=${1:-}
out=${OUT:-bench/cuda/out}
mkdir -p "$out"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$out/gpu.txt"
( cmake -S . -B build-cuda -G Ninja -DCMAKE_BUILD_TYPE=Release -DSQLFOCUS_CUDA=on \
    -DCMAKE_CUDA_ARCHITECTURES="80;90" && cmake --build build-cuda && ctest --test-dir build-cuda ) >"$out/cmake.log" 2>&1 &
cmake_pid=$!
bin=build-cuda-nvcc
if ! bash bench/cuda/build.sh "$bin" >"$out/build.log" 2>&1; then
  echo "build failed; see $out/build.log"; tail -30 "$out/build.log"; exit 1
fi
echo "built in $bin"
"$bin/sqlfocus_cuda_tests" 2>&1 | tee "$out/tests.log"
PYTHONUNBUFFERED=1 python3 test/parity/peft_reference.py /tmp/sqlfocus-parity 2>&1 | tee "$out/parity.log"
"$bin/sqlfocus_cuda_parity" /tmp/sqlfocus-parity 2>&1 | tee -a "$out/parity.log"
wait $cmake_pid; echo "cmake route exit $? (see cmake.log)"
: >"$out/bench.jsonl"
"$bin/sqlfocus_cuda_bench" --attention --batch 4 --seq 1024 2>&1 | tee -a "$out/bench.jsonl"
for flag in "" "--recompute"; do
  "$bin/sqlfocus_cuda_bench" --shape 7b --batch 4 --seq 1024 --steps 8 $flag 2>&1 | tee -a "$out/bench.jsonl"
done
if [ -n "$peft" ] && [ -f "$peft" ]; then
  for flag in "" "--ckpt"; do
    PYTHONUNBUFFERED=1 python3 "$peft" --shape 7b --batch 4 --seq 1024 --steps 8 $flag 2>&1 | tail -1 | tee -a "$out/bench.jsonl"
  done
fi

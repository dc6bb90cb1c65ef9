# PyTorch's CPU GEMM rates on the engine's layer shapes (the peer of bench/train/gemm.cpp): x·Wᵀ (forward) and
# dout·W (input gradient) in F32 and in BF16 (oneDNN's BF16 GEMMs, what CPU autocast runs). One JSON line per
# GEMM with the best wall and process-CPU seconds. Debian's python3-torch: /usr/bin/python3 gemm_torch.py ...
# Usage: gemm_torch.py [--threads 2] [--m 512] [--hidden 3584] [--inter 18944] [--kv-dim 512] [--vocab 152064] [--reps 3]
import argparse, json, time, torch

p = argparse.ArgumentParser()
p.add_argument("--threads", type=int, default=2); p.add_argument("--m", type=int, default=512)
p.add_argument("--hidden", type=int, default=3584); p.add_argument("--inter", type=int, default=18944)
p.add_argument("--kv-dim", type=int, default=512); p.add_argument("--vocab", type=int, default=152064)
p.add_argument("--reps", type=int, default=3)
a = p.parse_args()
torch.set_num_threads(a.threads)
torch.manual_seed(0)
H, I = a.hidden, a.inter
shapes = [("q_proj/o_proj", H, H, a.m), ("k_proj/v_proj", a.kv_dim, H, a.m), ("gate_proj/up_proj", I, H, a.m),
          ("down_proj", H, I, a.m), ("lm_head", a.vocab, H, 128)]
for dtype, name in [(torch.float32, "f32"), (torch.bfloat16, "bf16")]:
    for shape, N, K, M in shapes:
        w = (torch.rand(N, K) * 2 - 1).to(dtype) / 64
        for kernel in ["matmul_forward", "matmul_backward_input"]:
            x = torch.rand(M, K if kernel == "matmul_forward" else N).to(dtype)
            f = (lambda: x @ w.t()) if kernel == "matmul_forward" else (lambda: x @ w)
            best_wall = best_cpu = 1e30
            for r in range(a.reps + 1):
                w0, c0 = time.perf_counter(), time.process_time()
                f()
                dw, dc = time.perf_counter() - w0, time.process_time() - c0
                if r > 0:
                    best_wall, best_cpu = min(best_wall, dw), min(best_cpu, dc)
            flop = 2.0 * M * N * K
            print(json.dumps({"engine": "torch", "dtype": name, "kernel": kernel, "shape": shape, "M": M, "N": N, "K": K,
                              "threads": a.threads, "wall_s": round(best_wall, 4), "cpu_s": round(best_cpu, 4),
                              "gflops_wall": round(flop / best_wall / 1e9, 1), "gflops_per_cpu_s": round(flop / best_cpu / 1e9, 1)}), flush=True)
        del w

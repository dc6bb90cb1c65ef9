#!/usr/bin/env bash
# The Qwen2.5-Coder-7B shape on this CPU (issue 14 §4): hidden 3584, inter 18944, 28 layers, 28/4 heads, vocab
# 152,064 untied, LoRA r16 on all seven projections, batch 1 × 512, recomputation on. Random base weights are made
# directly in the measured dtype by engine_step (never an F32 copy of the model).
#
#   bash bench/train/seven_b.sh ours <bf16|q8_0|q4_k> [threads=2] [steps=2] [layers=28] [answer=128]
#       our engine alone: one JSON line per step and a summary (peak RSS, tokens/s)
#   bash bench/train/seven_b.sh torch <layers> [threads=2] [steps=2]
#       side by side at the 7B width with <layers> layers, in one run: our engine (BF16 base) and
#       ../shared/bench/torch_cpu_lora.py --dtype bf16 (BF16 base + CPU autocast; TORCH_SCRIPT=<path> elsewhere), both
#       with the loss on the second half of the sequence (the PyTorch script's) and activations kept (no
#       recomputation, as PyTorch), then the ratio. PyTorch builds its model in F32 before casting, so it fits far
#       fewer layers than we do.
#
# Before each run the script checks that available memory exceeds the run's expected peak + 3 GB (the machine is
# shared) and waits for it (up to SEVEN_B_WAIT_S seconds, default 1800); every result line carries the load average.
# Needs build-tests/engine_step (bench/train/README.md) and, for `torch`, /usr/bin/python3 with torch.
set -euo pipefail
cd "$(dirname "$0")/../.."
mode=${1:?usage: seven_b.sh ours <dtype> [threads] [steps] [layers] [answer] | torch <layers> [threads] [steps]}
bin=build-tests/engine_step
[ -x "$bin" ] || { echo "build $bin first (bench/train/README.md)" >&2; exit 1; }
torch_script=${TORCH_SCRIPT:-../shared/bench/torch_cpu_lora.py}

load() { cut -d' ' -f1-3 /proc/loadavg | tr ' ' ','; }
avail_mb() { awk '/MemAvailable/ { print int($2 / 1024) }' /proc/meminfo; }
# wait_for_memory <expected peak MB>
wait_for_memory() {
  local need=$(($1 + 3072)) waited=0 limit=${SEVEN_B_WAIT_S:-1800}
  while [ "$(avail_mb)" -lt "$need" ]; do
    if [ "$waited" -ge "$limit" ]; then
      echo "{\"skipped\":\"only $(avail_mb) MB available, this run needs $1 MB + 3 GB\"}"
      exit 3
    fi
    sleep 60
    waited=$((waited + 60))
  done
}
# expected peak in MB for <dtype> <layers>: weights + ~1.5 GB (activations, LoRA, AdamW, logits chunk, process)
expected_mb() {
  local per_layer emb
  case $1 in
    bf16) per_layer=445 emb=2080 ;;   # 233.0 M params per layer; embeddings + lm_head 1.09 G params
    q8_0) per_layer=236 emb=1105 ;;   # 8.5 bits per weight
    q4_k) per_layer=125 emb=585 ;;    # 4.5 bits per weight
    *) echo "dtype must be bf16, q8_0 or q4_k" >&2; exit 2 ;;
  esac
  echo $((per_layer * $2 + emb + 1536))
}

if [ "$mode" = ours ]; then
  dtype=${2:?dtype}; threads=${3:-2}; steps=${4:-2}; layers=${5:-28}; answer=${6:-128}
  wait_for_memory "$(expected_mb "$dtype" "$layers")"
  echo "{\"load_before\":\"$(load)\",\"available_mb\":$(avail_mb)}"
  "$bin" --shape 7b --layers "$layers" --dtype "$dtype" --threads "$threads" --steps "$steps" --batch 1 --seq 512 --answer "$answer" --recompute 1
  echo "{\"load_after\":\"$(load)\"}"
elif [ "$mode" = torch ]; then
  layers=${2:?layers}; threads=${3:-2}; steps=${4:-2}
  # PyTorch: F32 model first (0.93 GB per layer, 4.4 GB embeddings + head), then BF16, autograd activations
  wait_for_memory $((930 * layers + 4400 + 2048))
  echo "{\"load_before\":\"$(load)\",\"available_mb\":$(avail_mb)}"
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  # like for like: PyTorch keeps its activations, so ours does too here
  "$bin" --shape 7b --layers "$layers" --dtype bf16 --threads "$threads" --steps "$steps" --batch 1 --seq 512 --answer 256 --recompute 0 | tee "$tmp/ours"
  echo "{\"load_between\":\"$(load)\"}"
  /usr/bin/python3 -c "import resource, runpy, sys, json
sys.argv = sys.argv[1:]
runpy.run_path(sys.argv[0], run_name='__main__')
print(json.dumps({'peak_rss_mb': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024}))" "$torch_script" \
    --hidden 3584 --inter 18944 --layers "$layers" --heads 28 --kv 4 --vocab 152064 --batch 1 --seq 512 \
    --threads "$threads" --steps "$steps" --dtype bf16 | tee "$tmp/torch"
  echo "{\"load_after\":\"$(load)\"}"
  python3 - "$tmp/ours" "$tmp/torch" <<'EOF'
import json, sys
ours = json.loads(open(sys.argv[1]).read().strip().splitlines()[-1])
torch, rss = [json.loads(l) for l in open(sys.argv[2]).read().strip().splitlines()[-2:]]
print(json.dumps({"layers": ours["layers"], "ours_tokens_per_s": ours["tokens_per_s"], "torch_tokens_per_s": torch["tokens_per_s"],
                  "ratio": round(ours["tokens_per_s"] / torch["tokens_per_s"], 2), "ours_peak_rss_mb": ours["peak_rss_mb"],
                  "torch_peak_rss_mb": rss["peak_rss_mb"]}))
EOF
else
  echo "mode must be ours or torch" >&2
  exit 2
fi

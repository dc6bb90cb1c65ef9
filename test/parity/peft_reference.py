# PyTorch + transformers + PEFT reference for the CUDA engine's parity check (issue 9), run on the GPU
# machine. Builds a small random Qwen2 (F32), wraps it in PEFT LoRA on all seven projections (dropout 0,
# B made non-zero so every path carries gradient), runs one batch forward/backward and three AdamW steps
# (grad clipping, weight decay), and dumps everything the C++ side needs into OUTDIR:
#   manifest.txt  one line per tensor: <name> <dims comma-separated> <file>.bin (raw little-endian F32)
#   meta.txt      key=value: model shape, LoRA/optimizer settings, batch, losses, grad norms
# Usage: python3 test/parity/peft_reference.py OUTDIR [--device cuda]
import argparse, os
import torch
from transformers import Qwen2Config, Qwen2ForCausalLM
from peft import LoraConfig, get_peft_model

ap = argparse.ArgumentParser()
ap.add_argument("outdir")
ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
ap.add_argument("--steps", type=int, default=3)
a = ap.parse_args()
os.makedirs(a.outdir, exist_ok=True)
torch.backends.cuda.matmul.allow_tf32 = False
torch.backends.cudnn.allow_tf32 = False

V, H, I, L, NH, KV, B, T = 512, 256, 704, 2, 4, 2, 2, 96   # head_dim 64
R, ALPHA, LR, WD, CLIP = 8, 16, 1e-3, 0.01, 1.0
TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
torch.manual_seed(0)
cfg = Qwen2Config(vocab_size=V, hidden_size=H, intermediate_size=I, num_hidden_layers=L, num_attention_heads=NH,
                  num_key_value_heads=KV, rope_theta=10000.0, rms_norm_eps=1e-6, tie_word_embeddings=False,
                  max_position_embeddings=T)
cfg._attn_implementation = "eager"
model = Qwen2ForCausalLM(cfg).float().to(a.device)
with torch.no_grad():
    for n, p in model.named_parameters():
        if n.endswith("bias"):
            p.normal_(0, 0.05)
        elif "norm" in n:
            p.add_(torch.randn_like(p) * 0.1)

manifest = []
def dump(name, t):
    t = t.detach().float().contiguous().cpu()
    fn = name.replace("/", "_") + ".bin"
    t.numpy().astype("<f4").tofile(os.path.join(a.outdir, fn))
    manifest.append(f"{name} {','.join(str(d) for d in t.shape) or '1'} {fn}")

for n, p in model.state_dict().items():
    dump(n, p)

peft = get_peft_model(model, LoraConfig(r=R, lora_alpha=ALPHA, lora_dropout=0.0, target_modules=TARGETS))
with torch.no_grad():
    for n, p in peft.named_parameters():
        if "lora_B" in n:
            p.normal_(0, 0.02)
lora = {n.replace(".default", ""): p for n, p in peft.named_parameters() if p.requires_grad}
for n, p in lora.items():
    dump("init:" + n, p)

g = torch.Generator().manual_seed(1)
ids = torch.randint(0, V, (B, T), generator=g)
labels = ids.clone()
labels[:, : T // 4] = -100        # prompt
labels[1, T - 5 :] = -100         # right padding of the second sequence
dump("input_ids", ids.float())
dump("labels", labels.float())
ids, labels = ids.to(a.device), labels.to(a.device)
tokens = int((labels[:, 1:] != -100).sum())

opt = torch.optim.AdamW(list(lora.values()), lr=LR, betas=(0.9, 0.999), eps=1e-8, weight_decay=WD)
losses, norms = [], []
for step in range(a.steps):
    out = peft(input_ids=ids, labels=labels)
    out.loss.backward()
    losses.append(out.loss.item())
    if step == 0:
        for n, p in lora.items():
            dump("grad:" + n, p.grad)
    norms.append(float(torch.nn.utils.clip_grad_norm_(list(lora.values()), CLIP)))
    opt.step()
    opt.zero_grad(set_to_none=True)
for n, p in lora.items():
    dump("final:" + n, p)

with open(os.path.join(a.outdir, "manifest.txt"), "w") as f:
    f.write("\n".join(manifest) + "\n")
meta = dict(vocab=V, hidden=H, inter=I, layers=L, heads=NH, kv_heads=KV, batch=B, seq=T, rank=R, alpha=ALPHA,
            lr=LR, weight_decay=WD, clip=CLIP, steps=a.steps, tokens=tokens, rope_theta=10000.0, eps=1e-6,
            losses=",".join(repr(x) for x in losses), norms=",".join(repr(x) for x in norms),
            torch=torch.__version__, device=a.device)
with open(os.path.join(a.outdir, "meta.txt"), "w") as f:
    f.write("\n".join(f"{k}={v}" for k, v in meta.items()) + "\n")
print(f"wrote {len(manifest)} tensors to {a.outdir}; losses {losses}; norms {norms}")

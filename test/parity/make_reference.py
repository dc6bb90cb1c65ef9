#!/usr/bin/env python3
"""PyTorch reference for the engine parity test.

Reads the folder written by `npx tsx test/parity/write-inputs.ts <dir>` (model.safetensors, adapter_model.safetensors,
batch.json), builds the same Qwen2 + LoRA in plain torch (float64: the exact math) and prints a JSON fixture:
mean loss and label-token count, all logits, and the LoRA gradients of the mean loss (PEFT names).
When transformers and PEFT are importable (the GPU machine), it also runs Qwen2ForCausalLM + PeftModel in float32
on the same weights and adds their loss/max logit difference under "hf" as a cross-check of the plain model.

Usage: /usr/bin/python3 test/parity/make_reference.py <dir> > test/parity/fixtures/tiny-qwen2.json
"""
import json
import math
import struct
import sys

import torch

DTYPES = {"F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16}


def read_safetensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        a, b = info["data_offsets"]
        t = torch.frombuffer(bytearray(data[a:b]), dtype=DTYPES[info["dtype"]]).reshape(info["shape"])
        out[name] = t.to(torch.float64)
    return out


def rms_norm(x, w, eps):
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * w


def rope(x, theta):
    # x: [B, heads, T, D], rotate-half form, positions 0..T-1
    d = x.shape[-1]
    inv = 1.0 / (theta ** (torch.arange(0, d, 2, dtype=torch.float64) / d))
    f = torch.arange(x.shape[2], dtype=torch.float64)[:, None] * inv[None]
    cos, sin = torch.cat([f.cos(), f.cos()], -1), torch.cat([f.sin(), f.sin()], -1)
    x1, x2 = x[..., : d // 2], x[..., d // 2 :]
    return x * cos + torch.cat([-x2, x1], -1) * sin


def forward(cfg, w, lora, scale, ids):
    H, NH, KV = cfg["hiddenSize"], cfg["numHeads"], cfg["numKvHeads"]
    D = H // NH
    B, T = ids.shape

    def proj(prefix, x, bias):
        y = x @ w[prefix + ".weight"].T
        if bias:
            y = y + w[prefix + ".bias"]
        a = lora.get("base_model.model." + prefix + ".lora_A.weight")
        b = lora.get("base_model.model." + prefix + ".lora_B.weight")
        if a is not None:
            y = y + scale * (x @ a.T @ b.T)
        return y

    x = w["model.embed_tokens.weight"][ids]
    mask = torch.triu(torch.ones(T, T, dtype=torch.bool), 1)
    for l in range(cfg["numLayers"]):
        p = f"model.layers.{l}."
        h = rms_norm(x, w[p + "input_layernorm.weight"], cfg["rmsNormEps"])
        q = proj(p + "self_attn.q_proj", h, True).view(B, T, NH, D).transpose(1, 2)
        k = proj(p + "self_attn.k_proj", h, True).view(B, T, KV, D).transpose(1, 2)
        v = proj(p + "self_attn.v_proj", h, True).view(B, T, KV, D).transpose(1, 2)
        q, k = rope(q, cfg["ropeTheta"]), rope(k, cfg["ropeTheta"])
        k, v = k.repeat_interleave(NH // KV, 1), v.repeat_interleave(NH // KV, 1)
        att = (q @ k.transpose(-1, -2)) / math.sqrt(D)
        att = att.masked_fill(mask, float("-inf")).softmax(-1)
        x = x + proj(p + "self_attn.o_proj", (att @ v).transpose(1, 2).reshape(B, T, H), False)
        h = rms_norm(x, w[p + "post_attention_layernorm.weight"], cfg["rmsNormEps"])
        g, u = proj(p + "mlp.gate_proj", h, False), proj(p + "mlp.up_proj", h, False)
        x = x + proj(p + "mlp.down_proj", torch.nn.functional.silu(g) * u, False)
    x = rms_norm(x, w["model.norm.weight"], cfg["rmsNormEps"])
    head = w["model.embed_tokens.weight"] if cfg["tieWordEmbeddings"] else w["lm_head.weight"]
    return x @ head.T


def hf_check(d, cfg, batch, rank, alpha, ref_loss, ref_logits):
    try:
        from transformers import Qwen2Config, Qwen2ForCausalLM
        from peft import LoraConfig, get_peft_model
    except Exception as e:  # not installed here: the plain model is the reference
        return {"skipped": f"transformers/peft not importable ({type(e).__name__})"}
    hc = Qwen2Config(vocab_size=cfg["vocabSize"], hidden_size=cfg["hiddenSize"], intermediate_size=cfg["intermediateSize"],
                     num_hidden_layers=cfg["numLayers"], num_attention_heads=cfg["numHeads"], num_key_value_heads=cfg["numKvHeads"],
                     rope_theta=cfg["ropeTheta"], rms_norm_eps=cfg["rmsNormEps"], tie_word_embeddings=cfg["tieWordEmbeddings"],
                     max_position_embeddings=512, attn_implementation="eager")
    model = Qwen2ForCausalLM(hc).float()
    base = read_safetensors(f"{d}/model.safetensors")
    model.load_state_dict({k: v.float() for k, v in base.items()}, strict=False)
    modules = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
    pm = get_peft_model(model, LoraConfig(r=rank, lora_alpha=alpha, lora_dropout=0.0, target_modules=modules))
    lora = read_safetensors(f"{d}/adapter_model.safetensors")
    sd = {k.replace(".lora_A.weight", ".lora_A.default.weight").replace(".lora_B.weight", ".lora_B.default.weight"): v.float() for k, v in lora.items()}
    missing = pm.load_state_dict(sd, strict=False)
    ids = torch.tensor(batch["inputIds"]).view(batch["batch"], batch["seqLen"])
    labels = torch.tensor(batch["labels"]).view(batch["batch"], batch["seqLen"])
    out = pm(input_ids=ids, labels=labels)
    diff = (out.logits.double() - ref_logits).abs().max().item()
    return {"loss": out.loss.item(), "loss_diff": abs(out.loss.item() - ref_loss), "max_logit_diff": diff,
            "unexpected_keys": len(missing.unexpected_keys)}


def main():
    d = sys.argv[1]
    batch = json.load(open(f"{d}/batch.json"))
    cfg = batch["config"]
    w = read_safetensors(f"{d}/model.safetensors")
    lora = {k: v.clone().requires_grad_(True) for k, v in read_safetensors(f"{d}/adapter_model.safetensors").items()}
    ids = torch.tensor(batch["inputIds"]).view(batch["batch"], batch["seqLen"])
    labels = torch.tensor(batch["labels"]).view(batch["batch"], batch["seqLen"])
    logits = forward(cfg, w, lora, batch["alpha"] / batch["rank"], ids)
    V = cfg["vocabSize"]
    loss = torch.nn.functional.cross_entropy(logits[:, :-1].reshape(-1, V), labels[:, 1:].reshape(-1), ignore_index=-100)
    loss.backward()
    tokens = int((labels[:, 1:] != -100).sum())
    fixture = {
        "note": "generated by test/parity/make_reference.py (plain torch, float64) from test/parity/write-inputs.ts",
        "torch": torch.__version__,
        "loss": loss.item(),
        "tokens": tokens,
        "logits": [round(x, 7) for x in logits.detach().reshape(-1).tolist()],
        "grads": {k: [float(f"{x:.8e}") for x in v.grad.reshape(-1).tolist()] for k, v in sorted(lora.items())},
        "hf": hf_check(d, cfg, batch, batch["rank"], batch["alpha"], loss.item(), logits.detach()),
    }
    json.dump(fixture, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()

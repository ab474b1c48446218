"""PyTorch peer of bench/peer/inference.ts: greedy generation with a KV cache on the same random Llama, timed as
bench/inference.ts's measureCell does (prefill = forward over the prompt + first token; decode = one token per row
per step). Variants: base, LoRA merged (the folded weights: the base model's cost), LoRA unmerged (q,v r=8 adapters
in the forward), prefix tuning (virtual key/value tokens prepended to every layer's cache). Prints one JSON line.

Usage: python3 bench/peer/infer.py '<json settings>'
"""
import json
import sys
import time

import torch

from llama import Llama
from threads import configure_threads

THREADS, THREADS_CHOICE = configure_threads()

def prefix_cache(model, batch, tokens, heads, dim):
    hd = dim // heads
    return [[torch.randn(batch, heads, tokens, hd) * 0.02, torch.randn(batch, heads, tokens, hd) * 0.02] for _ in model.layers]


def measure(model, s, variant):
    batch, prompt_len = s["batch"], s["prompt"]
    ids = torch.randint(3, s["vocab"], (batch, prompt_len), generator=torch.Generator().manual_seed(7))
    virtual = s["virtualTokens"] if variant == "prefix-tuning" else 0
    with torch.inference_mode():
        cache = prefix_cache(model, batch, virtual, s["heads"], s["hidden"]) if virtual else [[None, None] for _ in model.layers]
        start = time.perf_counter()
        logits = model(ids, cache, offset=virtual, last_only=True)
        token = logits[:, -1].argmax(-1, keepdim=True)
        prefill = time.perf_counter() - start
        position = virtual + prompt_len
        decode, steps = 0.0, 0
        deadline = time.perf_counter() + s["maxCellS"]
        while steps < s["newTokens"] - 1 and time.perf_counter() < deadline:
            start = time.perf_counter()
            logits = model(token, cache, offset=position, last_only=True)
            token = logits[:, -1].argmax(-1, keepdim=True)
            decode += time.perf_counter() - start
            position += 1
            steps += 1
    return {
        "variant": variant,
        "batch": batch,
        "prefillTokensPerSecond": batch * prompt_len / prefill,
        "decodeTokensPerSecond": batch * steps / decode if steps else 0,
        "decodeSteps": steps,
    }


s = json.loads(sys.argv[1])
torch.manual_seed(15)
base = Llama(s["vocab"], s["hidden"], s["layers"], s["heads"], s["intermediate"])
with_lora = Llama(s["vocab"], s["hidden"], s["layers"], s["heads"], s["intermediate"])
with_lora.load_state_dict(base.state_dict())
lora = s["lora"]
with_lora.add_lora(lora["target_modules"], lora["r"], lora["lora_alpha"])
measure(base, {**s, "batch": 1, "prompt": 8, "newTokens": 4}, "base")  # warm-up
# One untimed pass over every cell first, as peftkit's side does: first-use costs stay out of both sides' timing.
for batch in s["batches"]:
    for model, variant in ((base, "base"), (with_lora, "lora-unmerged"), (base, "prefix-tuning")):
        measure(model, {**s, "batch": batch}, variant)
cells = []
for batch in s["batches"]:
    cfg = {**s, "batch": batch}
    cells.append(measure(base, cfg, "base"))
    cells.append(measure(base, cfg, "lora-merged"))
    cells.append(measure(with_lora, cfg, "lora-unmerged"))
    cells.append(measure(base, cfg, "prefix-tuning"))
print(json.dumps({"threads": torch.get_num_threads(), "threadsChoice": THREADS_CHOICE, "cells": cells}))

"""PyTorch peer of bench/train-step.ts: the same model, data shape and step (forward, mean cross-entropy over
shifted tokens, backward, global-norm clip 1.0, AdamW lr 1e-4) for full fine-tuning or LoRA. Prints one JSON line.

Usage: python3 bench/peer/train_step.py '<json settings>'  (the settings bench/train.ts passes to its rows)
"""
import json
import resource
import sys
import time

import torch

import torch.nn.functional as F

from llama import Llama
from threads import configure_threads

THREADS, THREADS_CHOICE = configure_threads()

s = json.loads(sys.argv[1])
method = s["method"]
torch.manual_seed(15)
model = Llama(s["vocab"], s["hidden"], s["layers"], s["heads"], s["intermediate"])
total_params = sum(p.numel() for p in model.parameters())
if method == "lora":
    lora = s["lora"]
    model.add_lora(lora["target_modules"], lora["r"], lora["lora_alpha"])
elif method != "full":
    raise SystemExit(f"unknown peer method {method}")
params = [p for p in model.parameters() if p.requires_grad]
optimizer = torch.optim.AdamW(params, lr=1e-4, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0)
generator = torch.Generator().manual_seed(7)
batch, seq = s["batch"], s["seq"]
times, losses = [], []
for step in range(s["steps"] + 1):
    ids = torch.randint(3, s["vocab"], (batch, seq), generator=generator)
    start = time.perf_counter()
    logits = model(ids)
    loss = F.cross_entropy(logits[:, :-1].reshape(-1, s["vocab"]), ids[:, 1:].reshape(-1))
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(params, 1.0)
    optimizer.step()
    losses.append(loss.item())
    times.append(time.perf_counter() - start)
step_seconds = times[1:]
print(json.dumps({
    "method": method,
    "trainableParams": sum(p.numel() for p in params),
    "totalParams": total_params,
    "tokensPerStep": batch * seq,
    "warmupSeconds": times[0],
    "stepSeconds": step_seconds,
    "tokensPerSecond": batch * seq * len(step_seconds) / sum(step_seconds),
    "peakRssBytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
    "firstLoss": losses[0],
    "lastLoss": losses[-1],
    "threads": torch.get_num_threads(),
    "threadsChoice": THREADS_CHOICE,
}))

"""A plain Llama in PyTorch with the shapes bench/train-step.ts builds (the PyTorch peer of peftkit's LlamaModel).

RMSNorm, rotary embeddings (half rotation, as transformers), multi-head causal attention, SwiGLU MLP, tied
embeddings. Written here so the peer needs only torch (no transformers/peft install); LoRA is the standard
y = x W^T + (alpha / r) * (x A^T) B^T with A random and B zero, on the named projections.
"""
import math

import torch
from torch import nn
import torch.nn.functional as F


class LoraLinear(nn.Module):
    """A frozen linear plus a trainable low-rank update (PEFT's LoRA Linear without dropout)."""

    def __init__(self, base: nn.Linear, r: int, alpha: float):
        super().__init__()
        self.base = base
        self.base.weight.requires_grad_(False)
        self.lora_A = nn.Parameter(torch.empty(r, base.in_features))
        self.lora_B = nn.Parameter(torch.zeros(base.out_features, r))
        nn.init.kaiming_uniform_(self.lora_A, a=math.sqrt(5))
        self.scaling = alpha / r

    def forward(self, x):
        return self.base(x) + (x @ self.lora_A.t() @ self.lora_B.t()) * self.scaling


class RMSNorm(nn.Module):
    def __init__(self, dim: int, eps: float):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim))
        self.eps = eps

    def forward(self, x):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight


def rotate_half(x):
    a, b = x.chunk(2, dim=-1)
    return torch.cat((-b, a), dim=-1)


class Attention(nn.Module):
    def __init__(self, dim: int, heads: int):
        super().__init__()
        self.heads = heads
        self.q_proj = nn.Linear(dim, dim, bias=False)
        self.k_proj = nn.Linear(dim, dim, bias=False)
        self.v_proj = nn.Linear(dim, dim, bias=False)
        self.o_proj = nn.Linear(dim, dim, bias=False)

    def forward(self, x, cos, sin, cache=None):
        b, t, d = x.shape
        hd = d // self.heads
        q = self.q_proj(x).view(b, t, self.heads, hd).transpose(1, 2)
        k = self.k_proj(x).view(b, t, self.heads, hd).transpose(1, 2)
        v = self.v_proj(x).view(b, t, self.heads, hd).transpose(1, 2)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        past = 0
        if cache is not None:
            # cache: [keys, values] of earlier positions (and prefix-tuning's virtual tokens), extended in place.
            if cache[0] is not None:
                past = cache[0].shape[2]
                k = torch.cat((cache[0], k), dim=2)
                v = torch.cat((cache[1], v), dim=2)
            cache[0], cache[1] = k, v
        scores = (q @ k.transpose(-1, -2)) / math.sqrt(hd)
        if t > 1:
            scores = scores + torch.full((t, past + t), float("-inf")).triu(past + 1)
        out = F.softmax(scores, dim=-1) @ v
        return self.o_proj(out.transpose(1, 2).reshape(b, t, d))


class Mlp(nn.Module):
    def __init__(self, dim: int, hidden: int):
        super().__init__()
        self.gate_proj = nn.Linear(dim, hidden, bias=False)
        self.up_proj = nn.Linear(dim, hidden, bias=False)
        self.down_proj = nn.Linear(hidden, dim, bias=False)

    def forward(self, x):
        return self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x))


class Block(nn.Module):
    def __init__(self, dim, heads, hidden, eps):
        super().__init__()
        self.input_layernorm = RMSNorm(dim, eps)
        self.self_attn = Attention(dim, heads)
        self.post_attention_layernorm = RMSNorm(dim, eps)
        self.mlp = Mlp(dim, hidden)

    def forward(self, x, cos, sin, cache=None):
        x = x + self.self_attn(self.input_layernorm(x), cos, sin, cache)
        return x + self.mlp(self.post_attention_layernorm(x))


class Llama(nn.Module):
    def __init__(self, vocab, dim, layers, heads, hidden, eps=1e-5, theta=10000.0):
        super().__init__()
        self.heads = heads
        self.theta = theta
        self.embed_tokens = nn.Embedding(vocab, dim)
        self.layers = nn.ModuleList([Block(dim, heads, hidden, eps) for _ in range(layers)])
        self.norm = RMSNorm(dim, eps)
        for p in self.parameters():
            if p.dim() == 2:
                nn.init.normal_(p, std=0.02)

    def rope(self, t, hd, offset=0):
        inv = 1.0 / (self.theta ** (torch.arange(0, hd, 2).float() / hd))
        freqs = torch.outer(torch.arange(offset, offset + t).float(), inv)
        emb = torch.cat((freqs, freqs), dim=-1)
        return emb.cos(), emb.sin()

    def forward(self, ids, cache=None, offset=0, last_only=False):
        """cache: one [keys, values] list per layer (see Attention), or None for a plain forward. last_only: logits
        of the last position only (what peftkit's generator asks for; the head is most of a 32000-vocab step)."""
        x = self.embed_tokens(ids)
        cos, sin = self.rope(ids.shape[1], x.shape[-1] // self.heads, offset)
        for i, layer in enumerate(self.layers):
            x = layer(x, cos, sin, None if cache is None else cache[i])
        # Tied embeddings: the LM head is the embedding matrix.
        if last_only:
            x = x[:, -1:]
        return self.norm(x) @ self.embed_tokens.weight.t()

    def add_lora(self, targets, r, alpha):
        for p in self.parameters():
            p.requires_grad_(False)
        for layer in self.layers:
            for name in targets:
                owner = layer.self_attn if hasattr(layer.self_attn, name) else layer.mlp
                setattr(owner, name, LoraLinear(getattr(owner, name), r, alpha))

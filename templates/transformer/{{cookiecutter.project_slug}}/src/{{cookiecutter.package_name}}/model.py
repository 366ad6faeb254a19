"""A Transformer from scratch: a decoder-only GPT and the classic encoder-decoder.

Read top to bottom: attention, the MLP, the blocks, then the two models. Both use pre-norm
residual blocks (LayerNorm before each sub-layer, a final LayerNorm), which train stably without
the warm-up tricks post-norm needs, and route attention through
``F.scaled_dot_product_attention`` so PyTorch picks a fused kernel (FlashAttention on recent GPUs).

Each model's ``forward`` returns ``(logits, loss)``; ``loss`` is None without targets. Targets equal
to ``IGNORE_INDEX`` (padding) do not count. ``reduction="sum"`` lets the training loop normalise by
the number of tokens in a whole accumulation step, which is what makes gradient accumulation exact.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

IGNORE_INDEX = -100


def _split_heads(x: torch.Tensor, n_head: int) -> torch.Tensor:
    b, t, c = x.shape
    return x.view(b, t, n_head, c // n_head).transpose(1, 2)  # (B, heads, T, head_dim)


def _merge_heads(x: torch.Tensor) -> torch.Tensor:
    b, h, t, d = x.shape
    return x.transpose(1, 2).contiguous().view(b, t, h * d)


class SelfAttention(nn.Module):
    """Multi-head self-attention; one fused matmul makes q, k and v."""

    def __init__(self, d_model: int, n_head: int, dropout: float, bias: bool, causal: bool):
        super().__init__()
        assert d_model % n_head == 0, "d_model must be divisible by n_head"
        self.n_head, self.dropout, self.causal = n_head, dropout, causal
        self.qkv = nn.Linear(d_model, 3 * d_model, bias=bias)
        self.proj = nn.Linear(d_model, d_model, bias=bias)
        self.proj.residual = True  # scaled init, see _init_weights
        self.resid_dropout = nn.Dropout(dropout)

    def forward(
        self, x: torch.Tensor, attn_mask: torch.Tensor | None = None, cache: LayerCache | None = None
    ) -> torch.Tensor:
        q, k, v = (_split_heads(t, self.n_head) for t in self.qkv(x).chunk(3, dim=-1))
        if cache is not None:  # generation: the new positions attend to the cached ones and each other
            k, v, causal = cache.update(k, v)
            return self.proj(_merge_heads(F.scaled_dot_product_attention(q, k, v, attn_mask=causal)))
        if self.causal and attn_mask is not None:
            # SDPA ignores is_causal's meaning once a mask is given: combine the two, or the layer
            # would silently see the future.
            attn_mask = causal_mask(attn_mask, x.size(1))
        y = F.scaled_dot_product_attention(
            q,
            k,
            v,
            attn_mask=attn_mask,
            is_causal=self.causal and attn_mask is None,
            dropout_p=self.dropout if self.training else 0.0,
        )
        return self.resid_dropout(self.proj(_merge_heads(y)))


def causal_mask(attn_mask: torch.Tensor, t: int) -> torch.Tensor:
    """``attn_mask`` (boolean, True where attention is allowed, e.g. (B, 1, 1, T) for padding; or
    additive floats) restricted to the past. Each position may always attend to itself, so a padding
    query whose keys are all masked gets no NaN (which would reach real positions through V)."""
    past = torch.ones(t, t, dtype=torch.bool, device=attn_mask.device).tril()
    itself = torch.eye(t, dtype=torch.bool, device=attn_mask.device)
    if attn_mask.dtype == torch.bool:
        return (attn_mask & past) | itself
    return attn_mask.masked_fill(~past, float("-inf")).masked_fill(itself, 0.0)


class CrossAttention(nn.Module):
    """Decoder positions (queries) attend to the encoder's output (keys and values)."""

    def __init__(self, d_model: int, n_head: int, dropout: float, bias: bool):
        super().__init__()
        self.n_head, self.dropout = n_head, dropout
        self.q = nn.Linear(d_model, d_model, bias=bias)
        self.kv = nn.Linear(d_model, 2 * d_model, bias=bias)
        self.proj = nn.Linear(d_model, d_model, bias=bias)
        self.proj.residual = True
        self.resid_dropout = nn.Dropout(dropout)

    def forward(
        self, x: torch.Tensor, memory: torch.Tensor, memory_mask: torch.Tensor | None
    ) -> torch.Tensor:
        q = _split_heads(self.q(x), self.n_head)
        k, v = (_split_heads(t, self.n_head) for t in self.kv(memory).chunk(2, dim=-1))
        y = F.scaled_dot_product_attention(
            q, k, v, attn_mask=memory_mask, dropout_p=self.dropout if self.training else 0.0
        )
        return self.resid_dropout(self.proj(_merge_heads(y)))


class MLP(nn.Module):
    def __init__(self, d_model: int, d_ff: int, dropout: float, bias: bool):
        super().__init__()
        self.up = nn.Linear(d_model, d_ff, bias=bias)
        self.down = nn.Linear(d_ff, d_model, bias=bias)
        self.down.residual = True
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dropout(self.down(F.gelu(self.up(x), approximate="tanh")))


class EncoderBlock(nn.Module):
    def __init__(
        self, d_model: int, n_head: int, d_ff: int, dropout: float, bias: bool, causal: bool = False
    ):
        super().__init__()
        self.ln1 = nn.LayerNorm(d_model, bias=bias)
        self.attn = SelfAttention(d_model, n_head, dropout, bias, causal=causal)
        self.ln2 = nn.LayerNorm(d_model, bias=bias)
        self.mlp = MLP(d_model, d_ff, dropout, bias)

    def forward(
        self, x: torch.Tensor, attn_mask: torch.Tensor | None = None, cache: LayerCache | None = None
    ) -> torch.Tensor:
        x = x + self.attn(self.ln1(x), attn_mask, cache)
        return x + self.mlp(self.ln2(x))


class DecoderBlock(nn.Module):
    def __init__(self, d_model: int, n_head: int, d_ff: int, dropout: float, bias: bool):
        super().__init__()
        self.ln1 = nn.LayerNorm(d_model, bias=bias)
        self.self_attn = SelfAttention(d_model, n_head, dropout, bias, causal=True)
        self.ln2 = nn.LayerNorm(d_model, bias=bias)
        self.cross_attn = CrossAttention(d_model, n_head, dropout, bias)
        self.ln3 = nn.LayerNorm(d_model, bias=bias)
        self.mlp = MLP(d_model, d_ff, dropout, bias)

    def forward(
        self, x: torch.Tensor, memory: torch.Tensor, memory_mask: torch.Tensor | None
    ) -> torch.Tensor:
        x = x + self.self_attn(self.ln1(x))
        x = x + self.cross_attn(self.ln2(x), memory, memory_mask)
        return x + self.mlp(self.ln3(x))


def _init_weights(module: nn.Module, std: float, residual_std: float) -> None:
    """GPT-2 initialisation: N(0, 0.02), zero biases, and residual output projections scaled by
    1/sqrt(2 * layers) so the residual stream's variance does not grow with depth."""
    if isinstance(module, nn.Linear):
        nn.init.normal_(
            module.weight, mean=0.0, std=residual_std if getattr(module, "residual", False) else std
        )
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.Embedding):
        nn.init.normal_(module.weight, mean=0.0, std=std)


def _lm_loss(logits: torch.Tensor, targets: torch.Tensor, reduction: str) -> torch.Tensor:
    # fp32 log-softmax: under bf16/fp16 autocast the logits are half precision.
    return F.cross_entropy(
        logits.float().view(-1, logits.size(-1)),
        targets.reshape(-1),
        ignore_index=IGNORE_INDEX,
        reduction=reduction,
    )


# ----------------------------------------------------------------------------------------------------
# KV cache for generation: each new token's keys and values are computed once and kept, so a step
# costs one position's forward pass instead of the whole prefix's.


class KVCache:
    """Keys and values of every layer for the positions seen so far; ``pos`` is how many.

    Buffers are allocated at the first update, in the dtype attention produces (bf16 under autocast)."""

    def __init__(self, n_layer: int, max_len: int):
        self.max_len, self.pos = max_len, 0
        self.k: list[torch.Tensor | None] = [None] * n_layer
        self.v: list[torch.Tensor | None] = [None] * n_layer

    def layer(self, i: int) -> LayerCache:
        return LayerCache(self, i)

    def advance(self, n: int) -> None:
        self.pos += n


class LayerCache:
    """One layer's view of a KVCache: stores the new keys and values after the cached ones."""

    def __init__(self, cache: KVCache, i: int):
        self.cache, self.i = cache, i

    def update(
        self, k: torch.Tensor, v: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """(all keys, all values, mask): new position j attends to cached ones and to new ones <= j."""
        c, i = self.cache, self.i
        if c.k[i] is None:
            b, h, _, d = k.shape
            c.k[i] = k.new_zeros(b, h, c.max_len, d)
            c.v[i] = v.new_zeros(b, h, c.max_len, d)
        start, t = c.pos, k.size(2)
        end = start + t
        c.k[i][:, :, start:end] = k
        c.v[i][:, :, start:end] = v
        mask = None if t == 1 else torch.ones(t, end, dtype=torch.bool, device=k.device).tril(start)
        return c.k[i][:, :, :end], c.v[i][:, :, :end], mask


def sample_next(
    logits: torch.Tensor, temperature: float = 1.0, top_k: int | None = None, top_p: float | None = None
) -> torch.Tensor:
    """Next token ids (B, 1) from last-position logits (B, V): greedy at ``temperature=0``, else
    softmax sampling after temperature, then top-k, then top-p (nucleus) filtering."""
    if temperature == 0:
        return logits.argmax(dim=-1, keepdim=True)
    logits = logits.float() / temperature
    if top_k:
        kth = torch.topk(logits, min(top_k, logits.size(-1))).values[:, [-1]]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if top_p is not None and top_p < 1.0:
        sorted_logits, order = torch.sort(logits, descending=True)
        probs = F.softmax(sorted_logits, dim=-1)
        drop = probs.cumsum(dim=-1) - probs >= top_p  # keep the smallest set whose mass reaches top_p
        logits = logits.masked_fill(drop.scatter(1, order, drop), float("-inf"))
    return torch.multinomial(F.softmax(logits, dim=-1), num_samples=1)


# ----------------------------------------------------------------------------------------------------
# Decoder-only GPT


@dataclass
class GPTConfig:
    vocab_size: int = 50304  # GPT-2's 50257 padded up to a multiple of 64: faster matmuls
    block_size: int = 1024  # longest sequence (learned position embeddings)
    n_layer: int = 12
    n_head: int = 12
    d_model: int = 768
    d_ff: int = 0  # 0 means 4 * d_model
    dropout: float = 0.0
    bias: bool = False  # no biases in Linear/LayerNorm: a bit faster, no worse


class GPT(nn.Module):
    def __init__(self, config: GPTConfig):
        super().__init__()
        self.config = c = config
        d_ff = c.d_ff or 4 * c.d_model
        self.tok_emb = nn.Embedding(c.vocab_size, c.d_model)
        self.pos_emb = nn.Embedding(c.block_size, c.d_model)
        self.drop = nn.Dropout(c.dropout)
        self.blocks = nn.ModuleList(
            EncoderBlock(c.d_model, c.n_head, d_ff, c.dropout, c.bias, causal=True) for _ in range(c.n_layer)
        )
        self.ln_f = nn.LayerNorm(c.d_model, bias=c.bias)
        self.lm_head = nn.Linear(c.d_model, c.vocab_size, bias=False)
        self.lm_head.weight = self.tok_emb.weight  # weight tying: one matrix embeds and un-embeds
        self.apply(lambda m: _init_weights(m, 0.02, 0.02 / math.sqrt(2 * c.n_layer)))

    def forward(
        self,
        idx: torch.Tensor,
        targets: torch.Tensor | None = None,
        reduction: str = "mean",
        cache: KVCache | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        start = cache.pos if cache is not None else 0
        t = start + idx.size(1)
        if t > self.config.block_size:
            raise ValueError(f"sequence of length {t} exceeds block_size {self.config.block_size}")
        pos = torch.arange(start, t, device=idx.device)
        x = self.drop(self.tok_emb(idx) + self.pos_emb(pos))
        for i, block in enumerate(self.blocks):
            x = block(x, cache=None if cache is None else cache.layer(i))
        if cache is not None:
            cache.advance(idx.size(1))
        logits = self.lm_head(self.ln_f(x))
        loss = None if targets is None else _lm_loss(logits, targets, reduction)
        return logits, loss

    def num_params(self, non_embedding: bool = True) -> int:
        """Parameters, counting the tied embedding once; by default without position embeddings
        (they cost no FLOPs), as in the GPT-2 and Chinchilla papers."""
        n = sum(p.numel() for p in self.parameters())
        return n - self.pos_emb.weight.numel() if non_embedding else n

    def flops_per_token(self, seq_len: int) -> float:
        """Training FLOPs (forward + backward) per token: 6N for the matmuls with the weights, plus
        12 * layers * d_model * seq_len for attention scores and values (PaLM paper, appendix B).
        The causal half is counted too, the convention published MFU figures use."""
        c = self.config
        return 6 * self.num_params() + 12 * c.n_layer * c.d_model * seq_len

    @torch.no_grad()
    def generate(
        self,
        idx: torch.Tensor,
        max_new_tokens: int,
        temperature: float = 1.0,
        top_k: int | None = None,
        top_p: float | None = None,
        use_cache: bool = True,
        vocab_size: int | None = None,
    ) -> torch.Tensor:
        """Sample ``max_new_tokens`` tokens after ``idx`` (B, T); ``temperature=0`` is greedy. Ids at or
        above ``vocab_size`` (the tokenizer's; the embedding is padded past it) are never drawn.

        With ``use_cache`` each step feeds only the newest token (KV cache). Once the text outgrows
        ``block_size`` the window slides, positions shift, and every step recomputes the last
        ``block_size`` tokens, exactly as without the cache: both give the same tokens."""
        block = self.config.block_size
        cache = None
        for _ in range(max_new_tokens):
            if not use_cache or idx.size(1) > block:
                logits, _ = self(idx[:, -block:])
            elif cache is None:
                cache = KVCache(self.config.n_layer, block)
                logits, _ = self(idx, cache=cache)  # prefill: the whole prompt at once
            else:
                logits, _ = self(idx[:, cache.pos :], cache=cache)
            logits = logits[:, -1, :vocab_size] if vocab_size else logits[:, -1, :]
            nxt = sample_next(logits, temperature, top_k, top_p)
            idx = torch.cat((idx, nxt), dim=1)
        return idx


# ----------------------------------------------------------------------------------------------------
# Encoder-decoder ("Attention Is All You Need"); defaults are the paper's base model


@dataclass
class Seq2SeqConfig:
    vocab_size: int = 32000  # one vocabulary shared by source and target
    max_len: int = 512
    d_model: int = 512
    n_head: int = 8
    n_encoder_layer: int = 6
    n_decoder_layer: int = 6
    d_ff: int = 2048
    dropout: float = 0.1
    bias: bool = True
    pad_id: int = 0


def sinusoidal_positions(max_len: int, d_model: int) -> torch.Tensor:
    pos = torch.arange(max_len, dtype=torch.float32)[:, None]
    freq = torch.exp(torch.arange(0, d_model, 2, dtype=torch.float32) * (-math.log(10000.0) / d_model))
    table = torch.zeros(max_len, d_model)
    table[:, 0::2] = torch.sin(pos * freq)
    table[:, 1::2] = torch.cos(pos * freq)
    return table


class Seq2SeqTransformer(nn.Module):
    """Encoder reads ``src``; decoder predicts ``tgt`` one token ahead, attending to the encoder.

    As in the paper: sinusoidal positions, embeddings scaled by sqrt(d_model), and a single matrix
    shared by the source embedding, the target embedding and the output projection (whose input is
    scaled by 1/sqrt(d_model), as in T5, so initial predictions are near uniform)."""

    def __init__(self, config: Seq2SeqConfig):
        super().__init__()
        self.config = c = config
        self.emb = nn.Embedding(c.vocab_size, c.d_model)
        self.register_buffer("pos", sinusoidal_positions(c.max_len, c.d_model), persistent=False)
        self.drop = nn.Dropout(c.dropout)
        self.encoder = nn.ModuleList(
            EncoderBlock(c.d_model, c.n_head, c.d_ff, c.dropout, c.bias) for _ in range(c.n_encoder_layer)
        )
        self.ln_enc = nn.LayerNorm(c.d_model, bias=c.bias)
        self.decoder = nn.ModuleList(
            DecoderBlock(c.d_model, c.n_head, c.d_ff, c.dropout, c.bias) for _ in range(c.n_decoder_layer)
        )
        self.ln_dec = nn.LayerNorm(c.d_model, bias=c.bias)
        self.lm_head = nn.Linear(c.d_model, c.vocab_size, bias=False)
        self.lm_head.weight = self.emb.weight
        n_layer = c.n_encoder_layer + c.n_decoder_layer
        self.apply(lambda m: _init_weights(m, 0.02, 0.02 / math.sqrt(2 * n_layer)))
        # Embeddings ~ N(0, 1/d) times sqrt(d) give unit-scale inputs, matching the sinusoids.
        nn.init.normal_(self.emb.weight, mean=0.0, std=c.d_model**-0.5)

    def _embed(self, tokens: torch.Tensor) -> torch.Tensor:
        t = tokens.size(1)
        if t > self.config.max_len:
            raise ValueError(f"sequence of length {t} exceeds max_len {self.config.max_len}")
        return self.drop(self.emb(tokens) * math.sqrt(self.config.d_model) + self.pos[:t])

    def encode(self, src: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        # (B, 1, 1, S) boolean mask, True where attention is allowed: padding is never attended to.
        keep = (src != self.config.pad_id)[:, None, None, :]
        x = self._embed(src)
        for block in self.encoder:
            x = block(x, keep)
        return self.ln_enc(x), keep

    def decode(self, tgt_in: torch.Tensor, memory: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
        x = self._embed(tgt_in)
        for block in self.decoder:
            x = block(x, memory, keep)
        # The tied matrix also embeds the decoder's own input (times sqrt(d)); without the 1/sqrt(d)
        # here the logit of the input token dominates and the initial loss is far above ln(vocab).
        return self.lm_head(self.ln_dec(x) * self.config.d_model**-0.5)

    def forward(
        self,
        src: torch.Tensor,
        tgt_in: torch.Tensor,
        targets: torch.Tensor | None = None,
        reduction: str = "mean",
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        memory, keep = self.encode(src)
        logits = self.decode(tgt_in, memory, keep)
        loss = None if targets is None else _lm_loss(logits, targets, reduction)
        return logits, loss

    def num_params(self, non_embedding: bool = True) -> int:
        n = sum(p.numel() for p in self.parameters())
        return n - self.emb.weight.numel() if non_embedding else n

    def flops_per_token(self, src_len: int, tgt_len: int) -> float:
        """Training FLOPs per token, tokens counted on both sides (src_len + tgt_len per example)."""
        c = self.config
        enc = sum(p.numel() for p in self.encoder.parameters()) + sum(
            p.numel() for p in self.ln_enc.parameters()
        )
        dec = self.num_params() - enc  # decoder blocks and final norm (the tied head is not in num_params)
        per_example = 6 * (enc * src_len + (dec + c.vocab_size * c.d_model) * tgt_len)
        per_example += (
            12
            * c.d_model
            * (
                c.n_encoder_layer * src_len * src_len  # encoder self-attention
                + c.n_decoder_layer * tgt_len * tgt_len  # decoder self-attention
                + c.n_decoder_layer * tgt_len * src_len  # cross-attention
            )
        )
        return per_example / (src_len + tgt_len)

    @torch.no_grad()
    def generate(self, src: torch.Tensor, bos_id: int, eos_id: int, max_new_tokens: int) -> torch.Tensor:
        """Greedy decoding; returns (B, <= max_new_tokens) target tokens, ``pad_id`` after each EOS."""
        memory, keep = self.encode(src)
        out = torch.full((src.size(0), 1), bos_id, dtype=torch.long, device=src.device)
        done = torch.zeros(src.size(0), dtype=torch.bool, device=src.device)
        for _ in range(max_new_tokens):
            nxt = self.decode(out, memory, keep)[:, -1].argmax(dim=-1)
            nxt = nxt.masked_fill(done, self.config.pad_id)
            out = torch.cat((out, nxt[:, None]), dim=1)
            done |= nxt == eos_id
            if bool(done.all()):
                break
        return out[:, 1:]

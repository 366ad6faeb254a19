import math

import torch
import torch.nn.functional as F

from {{ cookiecutter.package_name }} import model as M

TINY_GPT = M.GPTConfig(vocab_size=64, block_size=16, n_layer=2, n_head=2, d_model=32)
TINY_S2S = M.Seq2SeqConfig(
    vocab_size=32, max_len=12, d_model=32, n_head=2, n_encoder_layer=2, n_decoder_layer=2, d_ff=64, dropout=0
)


def test_gpt2_small_config_has_124m_parameters_and_tied_weights():
    with torch.device("meta"):  # no memory, no init time
        gpt = M.GPT(M.GPTConfig())
    assert gpt.lm_head.weight is gpt.tok_emb.weight
    total = gpt.num_params(non_embedding=False)
    assert 124_000_000 < total < 125_000_000, total
    # 6N + 12 * layers * d_model * seq_len, N without position embeddings
    n = total - 1024 * 768
    assert gpt.num_params() == n
    assert gpt.flops_per_token(1024) == 6 * n + 12 * 12 * 768 * 1024


def test_encoder_decoder_defaults_are_the_paper_base_model():
    c = M.Seq2SeqConfig()
    assert (c.d_model, c.n_head, c.n_encoder_layer, c.n_decoder_layer, c.d_ff) == (512, 8, 6, 6, 2048)
    with torch.device("meta"):
        s2s = M.Seq2SeqTransformer(c)
    assert s2s.lm_head.weight is s2s.emb.weight  # source, target and output share one matrix
    assert 40e6 < s2s.num_params() < 50e6  # ~44M without the 16M shared embedding
    # Each token passes through one side: per token, half of 6 x (all weights + output head) at S == T.
    attention = 12 * 512 * 6 * (32 * 32 * 3) / 64
    expected = 3 * (s2s.num_params() + 32000 * 512) + attention
    assert math.isclose(s2s.flops_per_token(32, 32), expected, rel_tol=1e-9)


def test_initial_loss_is_near_uniform():
    x = torch.randint(3, 64, (8, 16))
    _, loss = M.GPT(TINY_GPT)(x, x.roll(-1, 1))
    assert abs(loss.item() - math.log(64)) < 0.3
    src = torch.randint(3, 32, (8, 10))
    _, loss = M.Seq2SeqTransformer(TINY_S2S)(src, src, src.roll(-1, 1))
    assert abs(loss.item() - math.log(32)) < 0.3


def test_gpt_is_causal():
    gpt = M.GPT(TINY_GPT).eval()
    x = torch.randint(0, 64, (2, 16))
    y = x.clone()
    y[:, 10] = (y[:, 10] + 1) % 64
    a, _ = gpt(x)
    b, _ = gpt(y)
    assert torch.allclose(a[:, :10], b[:, :10], atol=1e-6)
    assert not torch.allclose(a[:, 10:], b[:, 10:])


def test_encoder_ignores_source_padding():
    s2s = M.Seq2SeqTransformer(TINY_S2S).eval()
    src = torch.randint(3, 32, (2, 6))
    padded = torch.cat((src, torch.zeros(2, 4, dtype=torch.long)), dim=1)  # pad_id 0
    tgt = torch.randint(3, 32, (2, 5))
    a, _ = s2s(src, tgt)
    b, _ = s2s(padded, tgt)
    assert torch.allclose(a, b, atol=1e-5)


def test_attention_goes_through_sdpa(monkeypatch):
    calls = []
    real = F.scaled_dot_product_attention

    def counting(*args, **kwargs):
        calls.append(kwargs.get("is_causal", False))
        return real(*args, **kwargs)

    monkeypatch.setattr(F, "scaled_dot_product_attention", counting)
    M.GPT(TINY_GPT)(torch.randint(0, 64, (1, 8)))
    assert calls == [True, True]  # one causal call per layer
    calls.clear()
    M.Seq2SeqTransformer(TINY_S2S)(torch.randint(3, 32, (1, 8)), torch.randint(3, 32, (1, 5)))
    assert len(calls) == 2 + 2 * 2  # encoder self; decoder self + cross


def test_sum_reduction_ignores_padding_targets():
    gpt = M.GPT(TINY_GPT)
    x = torch.randint(0, 64, (2, 8))
    targets = x.roll(-1, 1)
    _, mean = gpt(x, targets)
    masked = targets.clone()
    masked[:, -3:] = M.IGNORE_INDEX
    _, total = gpt(x, masked, reduction="sum")
    logits, _ = gpt(x)
    expected = F.cross_entropy(logits[:, :-3].reshape(-1, 64), targets[:, :-3].reshape(-1), reduction="sum")
    assert torch.allclose(total, expected, rtol=1e-5)
    assert mean.ndim == 0


def test_generate():
    gpt = M.GPT(TINY_GPT).eval()
    out = gpt.generate(torch.zeros(2, 1, dtype=torch.long), max_new_tokens=20, temperature=0.8, top_k=5)
    assert out.shape == (2, 21)  # longer than block_size: the context window slides
    greedy = [gpt.generate(torch.zeros(1, 1, dtype=torch.long), 5, temperature=0) for _ in range(2)]
    assert torch.equal(*greedy)
    s2s = M.Seq2SeqTransformer(TINY_S2S).eval()
    answer = s2s.generate(torch.randint(3, 32, (3, 6)), bos_id=1, eos_id=2, max_new_tokens=7)
    assert answer.shape[0] == 3 and answer.shape[1] <= 7


def test_causal_layer_given_a_padding_mask_stays_causal():
    # A padding mask used to switch is_causal off: the layer then saw the future. It is combined now.
    torch.manual_seed(0)
    attn = M.SelfAttention(d_model=32, n_head=2, dropout=0.0, bias=False, causal=True).eval()
    x = torch.randn(2, 6, 32)
    keep = torch.ones(2, 1, 1, 6, dtype=torch.bool)
    assert torch.allclose(attn(x, keep), attn(x), atol=1e-6)  # no padding: plain causal attention
    keep[1, ..., :2] = False  # left padding on the second sequence
    changed = x.clone()
    changed[:, 4:] += 1.0  # the future
    a, b = attn(x, keep), attn(changed, keep)
    assert torch.allclose(a[:, :4], b[:, :4], atol=1e-6)
    assert torch.isfinite(a).all()  # padded queries attend to themselves, not to nothing
    # and padded keys are ignored by the real positions
    other = x.clone()
    other[1, :2] = torch.randn(2, 32)
    assert torch.allclose(attn(other, keep)[1, 2:], a[1, 2:], atol=1e-6)
    additive = torch.zeros(2, 1, 1, 6).masked_fill(~keep, float("-inf"))
    assert torch.allclose(attn(x, additive)[:, 2:], a[:, 2:], atol=1e-6)

import json

import pytest
import torch

from {{ cookiecutter.package_name }}.generate import main
from {{ cookiecutter.package_name }}.model import GPT, GPTConfig, KVCache, sample_next

TEXT = ["the cat sees the ball in the garden .", "a dog likes the moon at night .",
        "the old man finds a long letter by the sea ."] * 20  # fmt: skip


def tiny_gpt(block_size=24):
    torch.manual_seed(0)
    return GPT(GPTConfig(vocab_size=48, block_size=block_size, n_layer=2, n_head=2, d_model=32)).eval()


def test_cached_and_uncached_generation_give_identical_tokens():
    model = tiny_gpt(block_size=24)
    prompt = torch.randint(0, 48, (3, 7))
    # 40 new tokens: past block_size, where the window slides and the cache is rebuilt every step.
    greedy = model.generate(prompt, 40, temperature=0, use_cache=True)
    assert torch.equal(greedy, model.generate(prompt, 40, temperature=0, use_cache=False))
    torch.manual_seed(5)
    sampled = model.generate(prompt, 12, temperature=1.0, top_k=20, top_p=0.9, use_cache=True)
    torch.manual_seed(5)
    again = model.generate(prompt, 12, temperature=1.0, top_k=20, top_p=0.9, use_cache=False)
    assert torch.equal(sampled, again)
    # One cached step gives the logits of a full forward pass.
    cache = KVCache(2, 24)
    model(prompt, cache=cache)
    step, _ = model(prompt[:, :1], cache=cache)
    full, _ = model(torch.cat((prompt, prompt[:, :1]), dim=1))
    torch.testing.assert_close(step[:, -1], full[:, -1], rtol=1e-5, atol=1e-5)


def test_sampling_filters():
    logits = torch.log(torch.tensor([[0.5, 0.3, 0.15, 0.05]]))
    assert sample_next(logits, temperature=0).item() == 0
    torch.manual_seed(0)
    draws = {sample_next(logits, 1.0, top_k=2).item() for _ in range(200)}
    assert draws == {0, 1}
    draws = {sample_next(logits, 1.0, top_p=0.75).item() for _ in range(200)}
    assert draws == {0, 1}  # 0.5 < 0.75 <= 0.5 + 0.3: the nucleus is the two most likely tokens
    draws = {sample_next(logits, 1.0, top_p=0.5).item() for _ in range(50)}
    assert draws == {0}


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    from {{ cookiecutter.package_name }}.train import TrainConfig, train

    out = tmp_path_factory.mktemp("gpt-run")
    cfg = TrainConfig(d_model=32, n_head=2, n_layer=2, seq_len=32, batch_size=8, max_steps=5, eval_interval=0,
                      eval_batches=1, progress=False, tensorboard=False, device="cpu")  # fmt: skip
    assert train(cfg, out).exit_code == 0
    return out


def test_generate_from_a_trained_run(trained_run, tmp_path, capsys):
    argv = ["--model", str(trained_run), "--max_new_tokens", "30", "--seed", "3", "--num_samples", "2",
            "The cat", "A dog"]  # fmt: skip
    assert main([*argv, "--out", str(tmp_path / "a")]) == 0
    stats = json.loads(capsys.readouterr().err.strip().splitlines()[-1])
    assert stats["new_tokens"] == 4 * 30 and stats["tokens_per_s"] > 0 and stats["model"] == "gpt"
    rows = [json.loads(line) for line in (tmp_path / "a" / "samples.jsonl").read_text().splitlines()]
    assert [(r["prompt"], r["sample"]) for r in rows] == [("The cat", 0), ("The cat", 1), ("A dog", 0),
                                                          ("A dog", 1)]  # fmt: skip
    assert all(len(r["completion"]) == 30 for r in rows)  # char tokenizer: one character a token
    # The same seed gives the same text, with or without the cache; text format writes plain text.
    assert main([*argv, "--use_cache", "false", "--out", str(tmp_path / "b")]) == 0
    assert (tmp_path / "b" / "samples.jsonl").read_text() == (tmp_path / "a" / "samples.jsonl").read_text()
    assert main([*argv, "--format=text", "--out", str(tmp_path / "c")]) == 0
    text = (tmp_path / "c" / "samples.txt").read_text()
    assert text.startswith("The cat" + rows[0]["completion"])


@pytest.fixture(scope="module")
def tiny_causal_lm(tmp_path_factory):
    """A 2-layer GPT-2 (hidden 32) and a byte-level BPE tokenizer, built here and saved like a hub model."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=300, special_tokens=["<|endoftext|>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())  # fmt: skip
    tok.train_from_iterator(TEXT, trainer)
    eot = "<|endoftext|>"
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token=eot, bos_token=eot)
    torch.manual_seed(0)
    config = GPT2Config(vocab_size=len(tokenizer), n_positions=64, n_embd=32, n_layer=2, n_head=2,
                        bos_token_id=tokenizer.eos_token_id, eos_token_id=tokenizer.eos_token_id)  # fmt: skip
    path = tmp_path_factory.mktemp("tiny-gpt2")
    GPT2LMHeadModel(config).save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


def test_generate_from_a_hugging_face_causal_lm(tiny_causal_lm, capsys):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model_dir = str(tiny_causal_lm)
    assert main(["--model", model_dir, "--temperature", "0", "--max_new_tokens", "8", "the cat"]) == 0
    row = json.loads(capsys.readouterr().out)
    # Greedy decoding by hand, one full forward pass a token, stopping at EOS.
    model = AutoModelForCausalLM.from_pretrained(tiny_causal_lm).eval()
    tokenizer = AutoTokenizer.from_pretrained(tiny_causal_lm)
    ids = tokenizer("the cat")["input_ids"]
    new = []
    with torch.no_grad():
        for _ in range(8):
            nxt = int(model(torch.tensor([ids + new])).logits[0, -1].argmax())
            new.append(nxt)
            if nxt == tokenizer.eos_token_id:
                break
    assert row["new_tokens"] == len(new)
    assert row["completion"] == tokenizer.decode(new, skip_special_tokens=True)

    sampled = ["--model", model_dir, "--seed", "1", "--top_k", "50", "--top_p", "0.9", "--max_new_tokens",
               "12", "--num_samples", "3", "the cat"]  # fmt: skip
    outputs = []
    for extra in ([], [], ["--use_cache", "false"]):
        assert main(sampled + extra) == 0
        outputs.append(capsys.readouterr().out)
    assert outputs[0] == outputs[1] == outputs[2]  # seeded; the cache changes nothing
    assert len(outputs[0].splitlines()) == 3


@pytest.mark.parametrize(("argv", "message"), [
    (["hello"], "no model given"),
    (["--model", "./no/such/model", "hi"], "not found"),
    (["--model", "gpt2", "--format", "xml", "hi"], "format must be"),
])
def test_generate_refuses_bad_input_in_one_line(capsys, argv, message):
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    assert exit_.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and message in err and "\n" not in err, err

"""Pre-training defects fixed with the shared engine: next-sentence pairs in linear time, and held-out
masks seeded without DataCollatorForLanguageModeling(seed=), which transformers < 4.50 lacks."""

import time

import torch

from {{ cookiecutter.package_name }}.pretrain import main, masked_once, nsp_examples


class NumberTokenizer:
    """Sentences of numbers; each number is its own id. Sentence ``"7 100"`` is sentence 100 of document 7."""

    cls_token_id, sep_token_id = 1, 2

    def __call__(self, sentences, add_special_tokens=False):
        return {"input_ids": [[int(w) for w in s.split()] for s in sentences]}


def test_nsp_pairs_take_linear_time_and_pair_other_documents():
    docs = [[f"{d} 100", f"{d} 101"] for d in range(20_000)]
    started = time.perf_counter()
    examples = nsp_examples(docs, NumberTokenizer(), max_length=16, seed=0)
    elapsed = time.perf_counter() - started
    # Rebuilding the list of other documents for each random pair took about 10 s here (2 x 10^8 steps).
    assert elapsed < 3.0, elapsed
    assert len(examples) == 20_000
    random_pairs = 0
    for e in examples:
        ids = e["input_ids"]
        doc_a, doc_b = ids[1], ids[ids.index(2) + 1]  # [CLS] a... [SEP] b... [SEP]
        if e["next_sentence_label"] == 1:
            random_pairs += 1
            assert doc_a != doc_b  # B comes from another document
        else:
            assert doc_a == doc_b and ids[ids.index(2) + 2] == 101  # B is the next sentence
    assert 0.45 < random_pairs / len(examples) < 0.55


def test_pretraining_runs_with_a_collator_that_takes_no_seed(tmp_path, monkeypatch):
    """transformers 4.44 to 4.49: DataCollatorForLanguageModeling has no seed argument."""
    import transformers

    class CollatorBefore450(transformers.DataCollatorForLanguageModeling):
        def __init__(self, tokenizer, mlm=True, mlm_probability=0.15, pad_to_multiple_of=None):
            super().__init__(tokenizer, mlm=mlm, mlm_probability=mlm_probability,
                             pad_to_multiple_of=pad_to_multiple_of)  # fmt: skip

    monkeypatch.setattr(transformers, "DataCollatorForLanguageModeling", CollatorBefore450)
    argv = ["--corpus=synthetic:sentiment", "--out", str(tmp_path / "mlm"), "--vocab_size=200",
            "--max_length=32", "--batch_size=8", "--max_steps=3", "--eval_every=0"]  # fmt: skip
    assert main(argv) == 0


def test_held_out_masks_are_drawn_once_from_the_seed(sentiment_rows):
    from transformers import DataCollatorForLanguageModeling

    from {{ cookiecutter.package_name }}.pretrain import mlm_examples, train_wordpiece

    tokenizer = train_wordpiece([r["text"] for r in sentiment_rows], vocab_size=200)
    examples = mlm_examples([[r["text"]] for r in sentiment_rows[:40]], tokenizer, max_length=32)
    collate = DataCollatorForLanguageModeling(tokenizer, mlm_probability=0.15)
    before = torch.get_rng_state()
    first = masked_once(collate, examples, 16, seed=3)
    assert torch.equal(torch.get_rng_state(), before)  # the training stream is left alone
    torch.manual_seed(99)
    again = masked_once(collate, examples, 16, seed=3)
    other = masked_once(collate, examples, 16, seed=4)
    assert all(torch.equal(a["labels"], b["labels"]) for a, b in zip(first, again, strict=True))
    assert not all(torch.equal(a["labels"], b["labels"]) for a, b in zip(first, other, strict=True))

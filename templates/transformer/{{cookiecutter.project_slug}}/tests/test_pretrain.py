import json

import pytest

from {{ cookiecutter.package_name }}.pretrain import PretrainConfig, fill_mask, main, mlm_examples, train_wordpiece


def read_json(path):
    return json.loads(path.read_text())


def test_mlm_pretraining_lowers_the_loss_and_fill_mask_works(tmp_path):
    out = tmp_path / "mlm"
    argv = ["--corpus=synthetic:sentiment", "--out", str(out), "--size=tiny", "--vocab_size=200",
            "--max_length=32", "--batch_size=16", "--max_steps=40", "--eval_every=20", "--lr=2e-3"]
    assert main(argv) == 0
    result = read_json(out / "eval.json")
    assert result["loss"] < 0.75 * result["initial_loss"], result  # held-out masked-token loss
    assert result["vocab_size"] <= 200  # a WordPiece vocabulary was trained on the corpus
    assert (out / "loss.png").stat().st_size > 0
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records if "val_loss" in r] == [20, 40]
    predictions = fill_mask(out / "model", "the film was very [MASK] .")
    assert len(predictions) == 5
    assert all("[MASK]" not in p["sequence"] and 0 <= p["score"] <= 1 for p in predictions)


def test_nsp_continues_pretraining_a_checkpoint(tmp_path, tiny_bert, sentiment_rows):
    from {{ cookiecutter.package_name }}.textdata import split_sentences

    corpus = tmp_path / "corpus.txt"  # one sentence per line, a blank line between documents
    corpus.write_text("\n\n".join("\n".join(split_sentences(r["text"])) for r in sentiment_rows[:300]))
    out = tmp_path / "nsp"
    argv = [f"--corpus={corpus}", f"--model={tiny_bert}", "--nsp=true", "--out", str(out), "--max_steps=8",
            "--batch_size=16", "--eval_every=0", "--eval_size=0.2"]
    assert main(argv) == 0
    assert read_json(out / "model" / "config.json")["architectures"] == ["BertForPreTraining"]
    assert 0 <= read_json(out / "eval.json")["nsp_accuracy"] <= 1
    assert len(fill_mask(out / "model", "the plot was [MASK] .", top_k=3)) == 3


def test_mlm_examples_pack_sentences_within_max_length(sentiment_rows):
    tokenizer = train_wordpiece([r["text"] for r in sentiment_rows], vocab_size=200)
    docs = [["the film was good ."] * 12, ["dull ."]]
    examples = mlm_examples(docs, tokenizer, max_length=24)
    assert all(len(e["input_ids"]) <= 24 for e in examples)
    assert len(examples) >= 3  # the long document was cut into several sequences
    assert all(e["input_ids"][0] == tokenizer.cls_token_id and e["input_ids"][-1] == tokenizer.sep_token_id
               for e in examples)


@pytest.mark.parametrize(
    ("content", "extra", "message"),
    [
        ("", [], "holds no text"),
        ("one sentence .\n\nper document .\n\nin this .\n\ncorpus .\n", ["--nsp=true"], "two or more"),
    ],
)
def test_unusable_corpus_is_refused_in_one_line(tmp_path, capsys, content, extra, message):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text(content)
    with pytest.raises(SystemExit) as exit_:
        main([f"--corpus={corpus}", "--out", str(tmp_path / "o"), "--eval_size=0.5", *extra])
    assert exit_.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and message in err and "\n" not in err


def test_config_defaults_are_bert_mlm():
    cfg = PretrainConfig()
    assert cfg.mlm_probability == 0.15 and cfg.nsp is False


def test_pretraining_reads_a_prepared_corpus_by_memmap(tmp_path, tiny_bert, sentiment_rows):
    # The corpus is tokenised once by `prepare` with the model's own tokenizer, then read as windows.
    import numpy as np

    from {{ cookiecutter.package_name }}.device import DistInfo
    from {{ cookiecutter.package_name }}.finetune import load_tokenizer
    from {{ cookiecutter.package_name }}.prepare import PrepareConfig, TokenShards, prepare
    from {{ cookiecutter.package_name }}.pretrain import WindowExamples, window_batches

    rows = "".join(json.dumps({"text": r["text"]}) + "\n" for r in sentiment_rows)
    (tmp_path / "reviews.jsonl").write_text(rows)
    prepare(PrepareConfig(corpus=str(tmp_path / "reviews.jsonl"), tokenizer=str(tiny_bert), val_fraction=0.1),
            tmp_path / "prepared", log=None)  # fmt: skip
    out = tmp_path / "mlm"
    argv = [f"--corpus={tmp_path / 'prepared'}", f"--model={tiny_bert}", "--out", str(out),
            "--max_length=32", "--batch_size=16", "--max_steps=30", "--eval_every=30", "--lr=2e-3",
            "--eval_size=20"]  # fmt: skip
    assert main(argv) == 0
    result = read_json(out / "eval.json")
    assert result["eval_examples"] == 20 and result["loss"] < result["initial_loss"], result

    # Two ranks read disjoint windows, and a resumed epoch starts at its micro-batch without the others.
    tokenizer = load_tokenizer(str(tmp_path / "prepared" / "tokenizer"))
    examples = WindowExamples(TokenShards(tmp_path / "prepared", "train"), tokenizer, 32)
    ids = lambda batch: {tuple(row) for row in batch["input_ids"].tolist()}  # noqa: E731
    stack = lambda rows: {"input_ids": np.array([x["input_ids"] for x in rows])}  # noqa: E731
    ranks = [list(window_batches(examples, stack, 4, 0, DistInfo("cpu", rank=r, world_size=2))(1))
             for r in (0, 1)]  # fmt: skip
    assert len(ranks[0]) == len(ranks[1]) == len(examples) // 8
    assert not set().union(*map(ids, ranks[0])) & set().union(*map(ids, ranks[1]))
    again = window_batches(examples, stack, 4, 0, DistInfo("cpu", rank=1, world_size=2))(1, 3)
    assert ids(next(again)) == ids(ranks[1][3])

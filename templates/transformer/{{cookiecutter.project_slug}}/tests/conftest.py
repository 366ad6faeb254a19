import os

import pytest

# Tests run offline on CPU, with tiny models built locally.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# One intra-op thread (also in the subprocesses tests start): tiny models gain nothing from more,
# and on a busy 2-core CI machine OpenMP threads spinning against other jobs ran ~100x slower.
os.environ.setdefault("OMP_NUM_THREADS", "1")


@pytest.fixture(autouse=True)
def _seed():
    try:
        import torch
    except ImportError:  # pragma: no cover
        return
    torch.manual_seed(0)


# Shared by test_pretrain/test_finetune/test_predict: a tiny random BERT, a WordPiece tokenizer
# trained here, a separable synthetic sentiment set, and one fine-tuned model (built once per session).
@pytest.fixture(scope="session")
def sentiment_rows():
    from {{ cookiecutter.package_name }}.textdata import synthetic_sentiment

    return synthetic_sentiment(600, seed=1)


@pytest.fixture(scope="session")
def sentiment_csv(tmp_path_factory, sentiment_rows):
    import csv

    path = tmp_path_factory.mktemp("data") / "sentiment.csv"
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, ["text", "label"])
        writer.writeheader()
        writer.writerows(sentiment_rows)
    return path


@pytest.fixture(scope="session")
def tiny_bert(tmp_path_factory, sentiment_rows):
    """Folder holding a randomly initialised 2-layer BERT (hidden 32) and its tokenizer."""
    import torch
    from transformers import BertConfig, BertForMaskedLM

    from {{ cookiecutter.package_name }}.pretrain import train_wordpiece

    torch.manual_seed(0)
    tokenizer = train_wordpiece([r["text"] for r in sentiment_rows], vocab_size=200, max_length=64)
    config = BertConfig(vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=64, pad_token_id=tokenizer.pad_token_id)
    path = tmp_path_factory.mktemp("tiny-bert")
    BertForMaskedLM(config).save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


@pytest.fixture(scope="session")
def finetuned(tmp_path_factory, tiny_bert, sentiment_csv):
    """OUT folder of one fine-tuning run of the tiny BERT on the synthetic sentiment CSV."""
    from {{ cookiecutter.package_name }}.finetune import main

    out = tmp_path_factory.mktemp("finetuned")
    argv = [f"--model={tiny_bert}", f"--data={sentiment_csv}", "--out", str(out), "--max_steps=100",
            "--eval_every=25", "--lr=3e-3", "--batch_size=16", "--max_length=64", "--patience=2",
            '--label_names=["negative", "positive"]']
    assert main(argv) == 0
    return out

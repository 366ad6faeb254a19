"""The training loop, for real, on CPU: tiny models, a few steps each.

Subprocess tests run ``python -m PACKAGE train`` (and torchrun) exactly as a user would, so that
signals, exit codes and process groups are the real ones.
"""

import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

import {{ cookiecutter.package_name }} as pkg
from {{ cookiecutter.package_name }}.bench import main as bench_main
from {{ cookiecutter.package_name }}.config import ConfigError, load_config
from {{ cookiecutter.package_name }}.train import TrainConfig, load_trained, main, read_metrics, train

CONFIGS = Path(__file__).resolve().parent.parent / "configs"
GPT_TINY = CONFIGS / "gpt-tiny.toml"
# gpt-tiny.toml shrunk further so each step takes milliseconds; CPU even where a GPU is present
# (deterministic kernels, no compile time)
SMALL = ["--device=cpu", "--d_model=32", "--n_head=2", "--n_layer=2", "--seq_len=32", "--batch_size=8",
         "--eval_batches=2", "--tensorboard=false", "--progress=false", "--warmup_steps=5"]


def config(*overrides: str, path: Path = GPT_TINY) -> TrainConfig:
    return load_config(TrainConfig, path, [*SMALL, *overrides])


def weights(out: Path) -> dict[str, torch.Tensor]:
    return torch.load(out / "ckpt.pt", weights_only=True)["model"]


def assert_same_weights(a: dict, b: dict, atol: float) -> None:
    assert a.keys() == b.keys()
    worst = max((x - b[k]).abs().max().item() for k, x in a.items())
    assert worst <= atol, f"weights differ by up to {worst}"


def package_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", pkg.__name__, *args]


def subprocess_env() -> dict[str, str]:
    src = str(Path(pkg.__file__).resolve().parent.parent)
    return {**os.environ, "PYTHONPATH": os.pathsep.join([src, os.environ.get("PYTHONPATH", "")])}


def start(cmd: list[str]) -> subprocess.Popen:
    output = {"stdout": subprocess.PIPE, "stderr": subprocess.STDOUT, "text": True}
    return subprocess.Popen(cmd, env=subprocess_env(), **output)


def wait_for(predicate, proc: subprocess.Popen, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if proc.poll() is not None:
            pytest.fail(f"training exited early ({proc.returncode}): {proc.stdout.read()}")
        if time.monotonic() > deadline:
            proc.kill()
            pytest.fail("timed out waiting for the training subprocess")
        time.sleep(0.02)


def test_tiny_gpt_loss_drops_30_percent_within_60_seconds(tmp_path):
    # The shipped config at its own size; TensorBoard on, to check its files too.
    overrides = ["--max_steps=30", "--log_interval=1", "--progress=false", "--device=cpu"]
    cfg = load_config(TrainConfig, GPT_TINY, overrides)
    start = time.monotonic()
    result = train(cfg, tmp_path)
    elapsed = time.monotonic() - start
    losses = [r["loss"] for r in result.records if "loss" in r]
    assert result.exit_code == 0 and len(losses) == 30
    assert losses[-1] <= 0.7 * losses[0], (losses[0], losses[-1])
    assert elapsed < 60, elapsed

    records = read_metrics(tmp_path / "metrics.jsonl")
    for key in ("step", "loss", "lr", "tokens_per_s", "mfu"):
        assert key in records[0]
    assert records[0]["mfu"] is None and records[0]["tokens_per_s"] > 0  # CPU: no peak FLOPs, MFU n/a
    val = [r for r in records if "val_loss" in r]
    assert val and math.isclose(val[-1]["val_perplexity"], math.exp(val[-1]["val_loss"]), rel_tol=1e-6)
    assert (tmp_path / "loss.png").read_bytes()[:4] == b"\x89PNG"
    assert list((tmp_path / "tb").glob("events.out.tfevents.*"))
    model, tokenizer, _ = load_trained(tmp_path)
    prompt = torch.tensor([tokenizer.encode("The ")])
    assert tokenizer.decode(model.generate(prompt, 20, temperature=0)[0].tolist()).startswith("The ")


@pytest.mark.parametrize("model_config", ["gpt-tiny.toml", "seq2seq-reverse.toml"])
def test_gradient_accumulation_equals_the_big_batch(tmp_path, model_config):
    # Seq2seq micro-batches hold different numbers of target tokens: only normalising by the whole
    # step's count (not averaging per micro-batch) makes the two runs agree.
    common = ["--max_steps=4", "--eval_interval=0", "--log_interval=1", "--dropout=0.0"]
    path = CONFIGS / model_config
    big = train(config(*common, "--batch_size=16", "--grad_accum=1", path=path), tmp_path / "big")
    acc = train(config(*common, "--batch_size=4", "--grad_accum=4", path=path), tmp_path / "acc")
    for a, b in zip(big.records, acc.records, strict=True):
        assert math.isclose(a.get("loss", 0), b.get("loss", 0), rel_tol=1e-5)
    assert_same_weights(weights(tmp_path / "big"), weights(tmp_path / "acc"), atol=1e-5)


def test_seq2seq_demo_learns(tmp_path):
    # 100 steps learn which symbols occur; the full config (600 steps) learns to reverse them.
    cfg = load_config(TrainConfig, CONFIGS / "seq2seq-reverse.toml",
                      ["--max_steps=100", "--batch_size=16", "--log_interval=1", "--progress=false",
                       "--tensorboard=false", "--device=cpu"])
    losses = [r["loss"] for r in train(cfg, tmp_path).records if "loss" in r]
    assert losses[-1] <= 0.7 * losses[0], (losses[0], losses[-1])


def test_sigkill_then_resume_ends_with_the_same_weights(tmp_path):
    # Dropout on: the RNG state must be restored too, not only weights, optimizer and data position.
    # decay_steps pins the LR schedule, so the killed run can be endless (it must not finish before
    # the kill, however slow the machine) and the resumed run stops where the straight one did.
    args = [*SMALL, "--dropout=0.1", "--decay_steps=100", "--checkpoint_interval=10", "--eval_interval=0"]
    train(load_config(TrainConfig, GPT_TINY, [*args, "--max_steps=100"]), tmp_path / "straight")

    out = tmp_path / "killed"
    endless = [*args, "--max_steps=100000"]
    proc = start(package_cmd("train", "--config", str(GPT_TINY), "--out", str(out), *endless))
    wait_for(lambda: (out / "ckpt.pt").exists(), proc)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    killed_at = torch.load(out / "ckpt.pt", weights_only=True)["step"]
    assert proc.returncode == -signal.SIGKILL and 0 < killed_at < 100, killed_at

    result = train(load_config(TrainConfig, GPT_TINY, [*args, "--max_steps=100"]), out, resume=True)
    assert result.exit_code == 0 and result.step == 100
    assert_same_weights(weights(tmp_path / "straight"), weights(out), atol=1e-6)
    steps = [r["step"] for r in read_metrics(out / "metrics.jsonl") if "loss" in r]
    assert steps == sorted(set(steps)) and steps[-1] == 100  # no duplicates from the killed run


def test_sigterm_saves_a_loadable_checkpoint_and_exits_cleanly(tmp_path):
    args = ["--max_steps=100000", "--checkpoint_interval=0", "--eval_interval=0", "--log_interval=1"]
    proc = start(package_cmd("train", "--config", str(GPT_TINY), "--out", str(tmp_path), *SMALL, *args))
    wait_for(lambda: bool(read_metrics(tmp_path / "metrics.jsonl")), proc)  # training has begun
    proc.send_signal(signal.SIGTERM)
    output, _ = proc.communicate(timeout=60)
    assert proc.returncode == 128 + signal.SIGTERM, output
    assert "stopped by SIGTERM" in output and "Traceback" not in output
    ckpt = torch.load(tmp_path / "ckpt.pt", weights_only=True)
    model, _, cfg = load_trained(tmp_path)
    assert ckpt["step"] >= 1 and cfg.max_steps == 100000
    assert all(torch.isfinite(p).all() for p in model.parameters())
    # --resume without --config reads OUT/config.toml and continues from the saved step
    assert main(["--out", str(tmp_path), "--resume", "--max-steps", str(ckpt["step"] + 3)]) == 0
    assert torch.load(tmp_path / "ckpt.pt", weights_only=True)["step"] == ckpt["step"] + 3


@pytest.mark.parametrize("fsdp", [False, True], ids=["ddp", "fsdp"])
def test_two_processes_match_one_process(tmp_path, fsdp):
    # 2 ranks x batch 4 x 2 accumulation micro-steps (gradient sync skipped on the first) == 1 process
    # x batch 16. torchrun, gloo on CPU: the same code path as NCCL on GPUs, minus the GPUs.
    common = ["--max_steps=5", "--log_interval=1", "--eval_interval=0"]
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
           "-m", pkg.__name__, "train", "--config", str(GPT_TINY), "--out", str(tmp_path / "ddp"),
           *SMALL, *common, "--batch_size=4", "--grad_accum=2", f"--fsdp={fsdp}"]
    proc = subprocess.run(cmd, env=subprocess_env(), capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    single = train(config(*common, "--batch_size=16"), tmp_path / "single")

    ddp_losses = [r["loss"] for r in read_metrics(tmp_path / "ddp" / "metrics.jsonl") if "loss" in r]
    single_losses = [r["loss"] for r in single.records if "loss" in r]
    assert len(ddp_losses) == len(single_losses) == 5
    for a, b in zip(ddp_losses, single_losses, strict=True):
        assert math.isclose(a, b, rel_tol=1e-4), (ddp_losses, single_losses)
    assert_same_weights(weights(tmp_path / "ddp"), weights(tmp_path / "single"), atol=1e-4)


def test_nonfinite_loss_stops_and_keeps_the_last_good_checkpoint(tmp_path, capsys):
    train(config("--max_steps=10", "--eval_interval=0"), tmp_path)
    good = weights(tmp_path)
    # An absurd learning rate blows the weights up: the loss turns inf/nan within a few steps.
    result = train(config("--max_steps=40", "--lr=1e30", "--warmup_steps=0", "--log_interval=1",
                          "--checkpoint_interval=1", "--eval_interval=0"), tmp_path, resume=True)
    assert result.exit_code == 1 and result.step < 40
    assert "not finite" in capsys.readouterr().err
    kept = torch.load(tmp_path / "ckpt.pt", weights_only=True)
    assert all(torch.isfinite(t).all() for t in kept["model"].values())
    assert kept["step"] >= 10 and kept["step"] < result.step
    if kept["step"] == 10:
        assert_same_weights(good, kept["model"], atol=0)


def test_command_line_errors_are_one_line(tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--help"])
    assert exc.value.code == 0 and "--resume" in capsys.readouterr().out
    for argv, message in [
        (["--out", str(tmp_path), "--lr=fast"], "--lr"),
        (["--out", str(tmp_path), "--no_such_key=1"], "unknown option"),
        (["--out", str(tmp_path / "none"), "--resume"], "no checkpoint"),
        (["--out", str(tmp_path), "--model=rnn"], "model must be"),
    ]:
        with pytest.raises(SystemExit) as exc:
            main(argv)
        err = capsys.readouterr().err
        assert exc.value.code == 2 and message in err and len(err.strip().splitlines()) == 1, err


def test_existing_run_is_not_overwritten_without_resume(tmp_path):
    train(config("--max_steps=2", "--eval_interval=0"), tmp_path)
    before = (tmp_path / "ckpt.pt").read_bytes()
    with pytest.raises(ConfigError, match="--resume"):
        train(config("--max_steps=2"), tmp_path)
    with pytest.raises(ConfigError, match="cannot change"):
        train(config("--max_steps=4", "--d_model=64"), tmp_path, resume=True)
    assert (tmp_path / "ckpt.pt").read_bytes() == before


def test_bench_prints_one_json_line(capsys):
    assert bench_main(["--config", str(GPT_TINY), "--steps", "3", *SMALL]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    report = json.loads(lines[-1])
    assert report["tokens_per_s"] > 0 and report["peak_memory_gb"] > 0
    assert report["mfu"] is None and report["device"] == "cpu"  # no peak FLOPs known for a CPU


def test_missing_tensorboard_is_skipped_with_a_note(tmp_path, monkeypatch, capsys):
    # Simulates an environment without the tensorboard package (it is installed here).
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)
    result = train(config("--max_steps=2", "--eval_interval=0", "--tensorboard=true"), tmp_path)
    assert result.exit_code == 0 and not (tmp_path / "tb").exists()
    assert "tensorboard is not installed" in capsys.readouterr().err
    assert read_metrics(tmp_path / "metrics.jsonl")

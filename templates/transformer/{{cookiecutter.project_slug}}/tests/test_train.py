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
from {{ cookiecutter.package_name }} import train as train_module
from {{ cookiecutter.package_name }}.bench import main as bench_main
from {{ cookiecutter.package_name }}.config import ConfigError, load_config
from {{ cookiecutter.package_name }}.prepare import PrepareConfig, prepare, read_manifest
from {{ cookiecutter.package_name }}.train import (
    TrainConfig,
    accumulation_steps,
    load_trained,
    main,
    read_metrics,
    train,
)

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
    # (decay_steps: a resumed run otherwise keeps the first run's schedule, at min_lr past step 10.)
    blow_up = config("--max_steps=40", "--lr=1e30", "--warmup_steps=0", "--log_interval=1",
                     "--decay_steps=40", "--checkpoint_interval=1", "--eval_interval=0")  # fmt: skip
    result = train(blow_up, tmp_path, resume=True)
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


def test_resume_with_more_steps_continues_the_lr_schedule_exactly(tmp_path):
    # The first run's cosine ends at its step 10; training on to step 20 stays at min_lr, exactly as a
    # straight 20-step run with decay_steps=10, instead of climbing back up a cosine stretched to 20.
    common = ["--eval_interval=0", "--log_interval=1", "--warmup_steps=2"]
    train(config(*common, "--max_steps=10"), tmp_path / "resumed")
    resumed = train(config(*common, "--max_steps=20"), tmp_path / "resumed", resume=True)
    straight = train(config(*common, "--max_steps=20", "--decay_steps=10"), tmp_path / "straight")
    lrs = [r["lr"] for r in resumed.records if "lr" in r]
    assert lrs == [r["lr"] for r in straight.records if "lr" in r][10:]
    assert all(math.isclose(lr, 3e-4) for lr in lrs), lrs  # gpt-tiny's min_lr
    assert_same_weights(weights(tmp_path / "straight"), weights(tmp_path / "resumed"), atol=1e-6)


def test_nonfinite_gradient_without_clipping_never_reaches_a_checkpoint(tmp_path, monkeypatch, capsys):
    # grad_clip=0: the gradient norm is still checked. From the 3rd backward pass on, a gradient turns
    # NaN while that step's loss is finite; the update makes the weights NaN and must not be saved.
    real = train_module.build_model
    calls = {"backward": 0}

    def poisoned(cfg, vocab_size):
        model = real(cfg, vocab_size)

        def hook(grad):
            calls["backward"] += 1
            return grad * float("nan") if calls["backward"] >= 3 else grad

        model.lm_head.weight.register_hook(hook)
        return model

    monkeypatch.setattr(train_module, "build_model", poisoned)
    result = train(config("--max_steps=20", "--grad_clip=0", "--checkpoint_interval=1", "--eval_interval=0",
                          "--log_interval=100"), tmp_path)  # fmt: skip
    assert result.exit_code == 1 and "not finite" in capsys.readouterr().err
    kept = torch.load(tmp_path / "ckpt.pt", weights_only=True)
    assert kept["step"] == 2 and all(torch.isfinite(t).all() for t in kept["model"].values())


def test_first_step_is_not_counted_in_tokens_per_s(tmp_path, monkeypatch):
    # The first step pays for torch.compile (13-21 s on CPU, more on GPUs): a slow first forward
    # pass stands in for it here. The first logged window must not include it.
    real = train_module.build_model

    def slow_first(cfg, vocab_size):
        model = real(cfg, vocab_size)
        first = [True]

        def pause(module, args):
            if first.pop() if first else False:
                time.sleep(0.5)

        model.register_forward_pre_hook(pause)
        return model

    monkeypatch.setattr(train_module, "build_model", slow_first)
    result = train(config("--max_steps=8", "--log_interval=4", "--eval_interval=0"), tmp_path)
    speeds = [r["tokens_per_s"] for r in result.records if "tokens_per_s" in r]
    assert len(speeds) == 2 and speeds[0] > speeds[1] / 3, speeds


def test_train_reads_prepared_shards_and_never_encodes_in_the_loop(tmp_path, monkeypatch):
    # A corpus prepared once is read by memmap; a raw corpus is prepared into OUT/data (once).
    from {{ cookiecutter.package_name }} import data

    prepare(PrepareConfig(corpus="synthetic", tokenizer="char"), tmp_path / "prepared", log=None)

    def refuse(*args, **kwargs):
        raise AssertionError("train must not tokenise the corpus itself")

    monkeypatch.setattr(data.CharTokenizer, "encode_corpus", refuse)
    monkeypatch.setattr(data.CharTokenizer, "train", refuse)
    result = train(config("--max_steps=3", f"--corpus={tmp_path / 'prepared'}"), tmp_path / "run")
    assert result.exit_code == 0 and result.val_loss is not None
    ckpt = torch.load(tmp_path / "run" / "ckpt.pt", weights_only=True)
    assert ckpt["data"]["data"] == read_manifest(tmp_path / "prepared")["fingerprint"]
    tokenizer = (tmp_path / "prepared" / "tokenizer.json").read_bytes()
    assert (tmp_path / "run" / "tokenizer.json").read_bytes() == tokenizer
    monkeypatch.undo()
    train(config("--max_steps=2", "--eval_interval=0"), tmp_path / "raw")
    assert read_manifest(tmp_path / "raw" / "data")["settings"]["corpus"] == "synthetic"


def test_gpt2_small_reads_a_prepared_corpus_and_sizes_steps_in_tokens(tmp_path, capsys):
    cfg = load_config(TrainConfig, CONFIGS / "gpt2-small.toml")
    assert cfg.corpus != "shakespeare" and cfg.tokens_per_step == 524288
    assert accumulation_steps(cfg, world_size=1) == 32 and accumulation_steps(cfg, world_size=8) == 4
    assert cfg.max_steps * cfg.tokens_per_step < 9e9 / 2  # well under one epoch of OpenWebText
    assert f"--out {cfg.corpus}" in (CONFIGS / "gpt2-small.toml").read_text()  # says how to prepare it
    with pytest.raises(ConfigError, match="not a multiple"):
        accumulation_steps(cfg, world_size=3)
    with pytest.raises(SystemExit):  # missing: one line that says how to make it
        main(["--config", str(CONFIGS / "gpt2-small.toml"), "--out", str(tmp_path), "--device=cpu",
              f"--corpus={tmp_path / 'owt'}"])  # fmt: skip
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "prepare --corpus=" in err, err
    with pytest.raises(ConfigError, match="not both"):
        train_module.check_config(load_config(TrainConfig, CONFIGS / "gpt2-small.toml", ["--grad_accum=4"]))


def worker_ranks(parent: int) -> dict[int, int]:
    """{rank: pid} of torchrun's worker processes (Linux /proc)."""
    found = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) != parent:
                continue
            items = (stat.parent / "environ").read_text().split("\0")
            env = dict(item.split("=", 1) for item in items if "=" in item)
        except (OSError, ValueError, IndexError):
            continue
        if "RANK" in env:
            found[int(env["RANK"])] = int(stat.parent.name)
    return found


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="finds torchrun's workers in /proc")
def test_sigterm_to_one_rank_stops_every_rank_within_a_step(tmp_path):
    # The ranks agree on a stop request after every step. Before, they did so only at sync points
    # (log, eval, checkpoint steps): a signal at step 200 waited for the checkpoint at step 400.
    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
           "-m", pkg.__name__, "train", "--config", str(GPT_TINY), "--out", str(out), *SMALL,
           "--max_steps=100000", "--log_interval=100000", "--eval_interval=0", "--checkpoint_interval=200"]
    proc = start(cmd)
    wait_for(lambda: (out / "ckpt.pt").exists(), proc, timeout=120)  # step 200 is done
    ranks = worker_ranks(proc.pid)
    assert sorted(ranks) == [0, 1], ranks
    os.kill(ranks[1], signal.SIGTERM)  # one rank only, as when a node's processes get it first
    try:
        output, _ = proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        pytest.fail("the ranks did not stop")
    step = torch.load(out / "ckpt.pt", weights_only=True)["step"]
    assert 200 < step < 400, step
    assert "stopped by SIGTERM" in output, output[-3000:]

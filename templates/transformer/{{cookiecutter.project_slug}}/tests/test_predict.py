import io
import json
import sys

import pytest

from {{ cookiecutter.package_name }}.predict import main


def lines(text):
    return [json.loads(line) for line in text.splitlines()]


@pytest.fixture(scope="module")
def reviews(sentiment_rows):
    """One positive and one negative review of the kind the tiny model was fine-tuned on: hand-written
    sentences outside its 600 synthetic reviews were classified right in one run and wrong in another."""
    positive = next(r["text"] for r in sentiment_rows if r["label"] == 1)
    negative = next(r["text"] for r in sentiment_rows if r["label"] == 0)
    return positive, negative


@pytest.mark.parametrize("spaced", [False, True])
def test_predict_round_trips_the_saved_model(finetuned, reviews, capsys, spaced):
    model = ["--model", str(finetuned / "model")] if spaced else [f"--model={finetuned / 'model'}"]
    assert main([*model, *reviews]) == 0
    rows = lines(capsys.readouterr().out)
    assert [r["text"] for r in rows] == list(reviews)  # input order kept
    assert [r["label"] for r in rows] == ["positive", "negative"]
    assert all(0.5 <= r["score"] <= 1 for r in rows)


def test_predict_reads_a_file_and_writes_out(finetuned, sentiment_rows, tmp_path):
    data = tmp_path / "reviews.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in sentiment_rows[:50]))
    out = tmp_path / "preds"
    assert main([f"--model={finetuned / 'model'}", f"--input={data}", "--out", str(out)]) == 0
    rows = lines((out / "predictions.jsonl").read_text())
    assert [r["text"] for r in rows] == [r["text"] for r in sentiment_rows[:50]]
    names = ["negative", "positive"]
    right = sum(p["label"] == names[r["label"]] for p, r in zip(rows, sentiment_rows, strict=False))
    assert right >= 40


def test_predict_reads_stdin(finetuned, reviews, monkeypatch, capsys):
    monkeypatch.setattr(sys, "stdin", io.StringIO(f"{reviews[0]}\n\n{reviews[1]}\n"))
    assert main([f"--model={finetuned / 'model'}"]) == 0
    assert [r["label"] for r in lines(capsys.readouterr().out)] == ["positive", "negative"]


@pytest.mark.parametrize(("argv", "message"), [
    (["some text"], "no model given"),
    (["--model=./no/such/model", "some text"], "not found"),
])
def test_predict_refuses_bad_input_in_one_line(capsys, argv, message):
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    assert exit_.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and message in err and "\n" not in err

import pytest

from scaffolder.errors import InvalidAnswer
from scaffolder.templates.answers import load_answers_file, parse_set, parse_value


@pytest.mark.parametrize(
    "text, value",
    [
        ("true", True), ("No", False), ("3", 3), ("2.5", 2.5), ("hello", "hello"),
        ("[a, b]", ["a", "b"]), ('["a", 1]', ["a", 1]), ("{k: v}", {"k": "v"}), ("", ""),
    ],
)
def test_values_arrive_typed(text, value):
    assert parse_value(text) == value


def test_parse_set_rejects_missing_equals():
    with pytest.raises(InvalidAnswer, match="KEY=VALUE"):
        parse_set(["novalue"])
    assert parse_set(["a=1", "b = x=y"]) == {"a": 1, "b": " x=y"}


@pytest.mark.parametrize(
    "name, text",
    [
        ("a.json", '{"description": "d", "n": 2}'),
        ("a.yaml", "description: d\nn: 2\n"),
        ("a.toml", 'description = "d"\nn = 2\n'),
    ],
)
def test_answers_files(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    assert load_answers_file(path) == {"description": "d", "n": 2}


def test_broken_answers_file_is_one_line(tmp_path):
    path = tmp_path / "a.json"
    path.write_text("{nope")
    with pytest.raises(InvalidAnswer) as info:
        load_answers_file(path)
    assert "\n" not in info.value.format_message()

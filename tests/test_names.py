import pytest

from scaffolder.errors import InvalidName
from scaffolder.names import kernel_name, project_names


@pytest.mark.parametrize(
    "raw, dist, package, slug",
    [
        ("sentiment-bot", "sentiment-bot", "sentiment_bot", "sentiment-bot"),
        ("My_Project", "my-project", "my_project", "my-project"),
        ("a.b..c", "a-b-c", "a_b_c", "a-b-c"),
        ("X", "x", "x", "x"),
    ],
)
def test_normalises(raw, dist, package, slug):
    names = project_names(raw)
    assert (names.dist, names.package, names.slug) == (dist, package, slug)


@pytest.mark.parametrize(
    "raw, rule",
    [
        ("", "empty"),
        ("-bad", "PEP 508"),
        ("has space", "PEP 508"),
        ("3d-model", "start with a letter"),
        ("class", "keyword"),
        ("json", "shadows"),
        ("../evil", "PEP 508"),
        ("x" * 65, "longer than"),
    ],
)
def test_bad_names_name_the_rule(raw, rule):
    with pytest.raises(InvalidName) as info:
        project_names(raw)
    message = info.value.format_message()
    assert rule in message
    assert "\n" not in message
    assert "try" in message or "pass a name" in message


def test_kernel_name_sanitises():
    assert kernel_name("My Env!") == "my-env"
    with pytest.raises(InvalidName):
        kernel_name("!!!")

from {{ cookiecutter.package_name }} import __version__, greet


def test_version():
    assert __version__ == "0.1.0"


def test_greet():
    assert greet("world") == "Hello, world!"

import pytest

from scaffolder.transaction import Transaction


def test_rollback_runs_newest_first_and_survives_errors(tmp_path):
    order = []
    with pytest.raises(RuntimeError):
        with Transaction() as txn:
            txn.on_rollback("first", lambda: order.append(1))
            txn.on_rollback("broken", lambda: 1 / 0)
            txn.on_rollback("last", lambda: order.append(3))
            raise RuntimeError("fail")
    assert order == [3, 1]
    assert txn.rollback_errors and "broken" in txn.rollback_errors[0]


def test_commit_keeps_work_and_runs_commit_actions(tmp_path):
    made = tmp_path / "made"
    done = []
    with Transaction() as txn:
        made.mkdir()
        txn.created_path(made)
        txn.on_commit(lambda: done.append(True))
    assert made.is_dir() and done == [True]


def test_created_paths_are_removed(tmp_path):
    with pytest.raises(KeyboardInterrupt):
        with Transaction() as txn:
            (tmp_path / "d").mkdir()
            txn.created_path(tmp_path / "d")
            (tmp_path / "d" / "f").write_text("x")
            raise KeyboardInterrupt
    assert list(tmp_path.iterdir()) == []


def test_guard_restores_a_file_and_removes_a_new_one(tmp_path):
    existing, new = tmp_path / "a.txt", tmp_path / "b.txt"
    existing.write_text("old")
    existing.chmod(0o600)
    with pytest.raises(RuntimeError), Transaction() as txn:
        txn.guard(existing)
        existing.write_text("changed")
        txn.guard(new)
        new.write_text("made")
        raise RuntimeError("boom")
    assert existing.read_text() == "old" and existing.stat().st_mode & 0o777 == 0o600
    assert not new.exists()


def test_guard_keeps_the_change_on_commit(tmp_path):
    path = tmp_path / "a.txt"
    path.write_text("old")
    with Transaction() as txn:
        txn.guard(path)
        path.write_text("changed")
    assert path.read_text() == "changed"


def _tree(root):
    return {str(p.relative_to(root)): p.read_text() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("outcome", ["fail", "interrupt", "commit"])
def test_guard_moves_a_directory_aside_and_back(tmp_path, outcome):
    """An environment being rebuilt: the old one waits beside it, returns on failure, goes on success."""
    env = tmp_path / ".venv"
    (env / "lib").mkdir(parents=True)
    (env / "lib" / "old.py").write_text("old")
    (env / "pyvenv.cfg").write_text("home = /old")
    before = _tree(env)
    error = {"fail": RuntimeError, "interrupt": KeyboardInterrupt, "commit": None}[outcome]
    with pytest.raises(error) if error else _nothing():
        with Transaction() as txn:
            txn.guard(env)
            assert not env.exists()  # out of the way: the caller builds the new one in its place
            (env / "lib").mkdir(parents=True)
            (env / "lib" / "new.py").write_text("new")
            if error:
                raise error()
    assert _tree(env) == (before if error else {"lib/new.py": "new"})
    assert [p.name for p in tmp_path.iterdir()] == [".venv"]  # no backup left either way


def test_guard_moves_a_symlinked_directory_as_a_link(tmp_path):
    target = tmp_path / "elsewhere"
    target.mkdir()
    (target / "keep.txt").write_text("keep")
    link = tmp_path / "env"
    link.symlink_to(target)
    with pytest.raises(RuntimeError), Transaction() as txn:
        txn.guard(link)
        link.mkdir()
        raise RuntimeError
    assert link.is_symlink() and (link / "keep.txt").read_text() == "keep"


class _nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

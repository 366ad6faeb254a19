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

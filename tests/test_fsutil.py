import os

import pytest

from scaffolder.fsutil import atomic_write_text, is_within


def test_atomic_write_keeps_mode_and_leaves_no_temp(tmp_path):
    path = tmp_path / "f.txt"
    path.write_text("old")
    os.chmod(path, 0o600)
    atomic_write_text(path, "new")
    assert path.read_text() == "new" and (path.stat().st_mode & 0o777) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["f.txt"]


def test_failed_write_keeps_old_file(tmp_path, monkeypatch):
    path = tmp_path / "f.txt"
    path.write_text("old")

    def boom(*a, **k):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError):
        atomic_write_text(path, "new")
    assert path.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["f.txt"]


def test_is_within_follows_symlinks(tmp_path):
    (tmp_path / "root").mkdir()
    (tmp_path / "root" / "link").symlink_to(tmp_path)
    assert is_within(tmp_path / "root" / "x", tmp_path / "root")
    assert not is_within(tmp_path / "root" / "link", tmp_path / "root")


def test_remove_tree_handles_dirs_links_files_and_absence(tmp_path):
    from scaffolder.fsutil import remove_tree

    (tmp_path / "d" / "sub").mkdir(parents=True)
    (tmp_path / "d" / "sub" / "f").write_text("x")
    (tmp_path / "target").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "target")
    (tmp_path / "file").write_text("x")
    for name in ("d", "link", "file", "missing"):
        remove_tree(tmp_path / name)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["target"]  # a link's target stays


@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_new_file_gets_the_umask_mode_not_mkstemps_0600(tmp_path, umask, mode):
    old = os.umask(umask)
    try:
        atomic_write_text(tmp_path / "new.txt", "x")
        plain = tmp_path / "plain.txt"
        plain.write_text("x")
    finally:
        os.umask(old)
    assert (plain.stat().st_mode & 0o777) == mode
    assert ((tmp_path / "new.txt").stat().st_mode & 0o777) == mode


def test_replaced_file_keeps_a_wider_mode(tmp_path):
    path = tmp_path / "run.sh"
    path.write_text("old")
    os.chmod(path, 0o755)
    old = os.umask(0o077)
    try:
        atomic_write_text(path, "new")
    finally:
        os.umask(old)
    assert (path.stat().st_mode & 0o777) == 0o755

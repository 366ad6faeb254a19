"""Choosing the PyTorch build. There is no GPU here: the driver is presented through a real
/proc-style version file, and once through a stand-in ``nvidia-smi`` script on PATH (the one
part that cannot exist on this machine). The real no-driver path is tested too."""

import os
import stat

import pytest

from scaffolder.errors import LockError, UsageError
from scaffolder.locks.torch_variant import (
    DEFAULT_INDEX,
    check_locked_torch,
    choose_variant,
    detect_driver_version,
    parse_driver_version,
    resolve_variant,
    validate_variant,
    variant_index,
)

PROC = "NVRM version: NVIDIA UNIX x86_64 Kernel Module  550.54.15  Tue Mar  5 22:23:56 UTC 2024\nGCC version: 12.2\n"
PROC_OPEN = "NVRM version: NVIDIA UNIX Open Kernel Module for x86_64  580.65.06  Release Build (dvs@x)\n"


@pytest.mark.parametrize("text, version", [
    ("550.54.15\n", (550, 54, 15)),
    ("580.65.06\n580.65.06\n", (580, 65, 6)),
    (PROC, (550, 54, 15)),
    (PROC_OPEN, (580, 65, 6)),
    ("no driver here", None),
])
def test_parse_driver_version(text, version):
    assert parse_driver_version(text) == version


@pytest.mark.parametrize("driver, variant", [
    ((580, 65, 6), "cu130"),
    ((570, 86, 10), "cu128"),
    ((525, 60, 13), "cu128"),
    ((525, 60, 12), "cu118"),
    ((450, 80, 2), "cu118"),
    ((418, 0), "cpu"),
    (None, "cpu"),
])
def test_newest_variant_the_driver_runs(driver, variant):
    assert choose_variant(driver) == variant


def _no_smi(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))


def test_auto_reads_the_proc_version_file(tmp_path, monkeypatch):
    _no_smi(monkeypatch, tmp_path)
    proc = tmp_path / "version"
    proc.write_text(PROC)
    assert detect_driver_version(proc) == (550, 54, 15)
    assert resolve_variant("auto", environ={}, proc_file=proc) == "cu128"
    assert resolve_variant("auto", environ={"SCAFFOLDER_TORCH_VARIANTS": "cu118,cu121"}, proc_file=proc) == "cu121"


def test_auto_without_a_driver_is_cpu(tmp_path, monkeypatch):
    _no_smi(monkeypatch, tmp_path)
    assert resolve_variant(None, environ={}, proc_file=tmp_path / "missing") == "cpu"


def test_auto_asks_nvidia_smi_first(tmp_path, monkeypatch):
    # Stand-in for the real nvidia-smi, which cannot exist on a machine without a GPU.
    bindir = tmp_path / "bin"
    bindir.mkdir()
    smi = bindir / "nvidia-smi"
    smi.write_text("#!/bin/sh\necho 580.65.06\n")
    smi.chmod(smi.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{bindir}{os.pathsep}{os.environ['PATH']}")
    assert resolve_variant("auto", environ={}, proc_file=tmp_path / "missing") == "cu130"


def test_explicit_and_invalid_variants():
    assert resolve_variant("CU126", environ={}) == "cu126"
    for bad in ("cuda", "rocm6", "cu1"):
        with pytest.raises(UsageError, match="unknown PyTorch variant"):
            validate_variant(bad)


def test_variant_index_sources(tmp_path):
    assert variant_index("cu126", environ={}) == DEFAULT_INDEX.format(variant="cu126")
    env = {"SCAFFOLDER_TORCH_INDEX_CU126": "https://mirror.example/cu126"}
    assert variant_index("cu126", environ=env) == "https://mirror.example/cu126"
    assert variant_index("cpu", environ={"SCAFFOLDER_TORCH_INDEX_CPU": ""}) is None
    assert variant_index("cu128", configured={"cu128": "https://team/cu128"}, environ={}) == "https://team/cu128"
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    (wheels / "torch-2.13.0+cpu-cp311-cp311-manylinux_2_28_x86_64.whl").write_bytes(b"")
    assert variant_index("cpu", [str(wheels)], environ={}) is None  # a local wheelhouse serves it
    assert variant_index("cpu", [wheels.as_uri()], environ={}) is None
    assert variant_index("cu126", [str(wheels)], environ={}) == DEFAULT_INDEX.format(variant="cu126")


def test_locked_torch_must_be_the_requested_build():
    check_locked_torch("cpu", "2.13.0+cpu", "linux")
    check_locked_torch("cu126", "2.13.0+cu126", "linux")
    check_locked_torch("cpu", "2.13.0", "darwin")  # macOS wheels are CPU builds without a label
    check_locked_torch("cpu", None, "linux")
    with pytest.raises(LockError, match="CUDA build"):
        check_locked_torch("cpu", "2.13.0", "linux")
    with pytest.raises(LockError, match="not the cu126 build"):
        check_locked_torch("cu126", "2.13.0+cpu", "linux")


def test_local_variant_pin_takes_the_newest_fitting_wheel(tmp_path):
    from scaffolder.locks.torch_variant import local_variant_pin

    for name in ("torch-2.12.0+cpu-cp311-cp311-manylinux_2_28_x86_64.whl",
                 "torch-2.13.0+cpu-cp311-cp311-manylinux_2_28_x86_64.whl",
                 "torch-2.14.0+cpu-cp312-cp312-manylinux_2_28_x86_64.whl",
                 "torch-2.15.0-cp311-cp311-manylinux_2_28_x86_64.whl"):
        (tmp_path / name).write_bytes(b"")
    assert local_variant_pin("cpu", [str(tmp_path)], "3.11") == "torch==2.13.0+cpu"
    assert local_variant_pin("cpu", [tmp_path.as_uri()], "3.12") == "torch==2.14.0+cpu"
    assert local_variant_pin("cu126", [str(tmp_path)], "3.11") is None
    assert local_variant_pin("cpu", ["https://example.com/wheels"], "3.11") is None

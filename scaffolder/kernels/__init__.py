"""Jupyter kernels: kernelspecs that point at an interpreter (``specs``), and a project's kernel
tied to its environment (``project``)."""

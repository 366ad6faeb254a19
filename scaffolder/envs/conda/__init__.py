"""conda environments: the manager (``manager.py``), what every engine shares (``engine.py``: the
prefix, drift against conda-lock.yml, an all-or-nothing sync) and the two engines that build one,
a conda executable (``executable.py``: micromamba, mamba or conda) and the embedded py-rattler
(``rattler.py``, the ``conda`` extra)."""

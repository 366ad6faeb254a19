"""venv environments: the manager (``manager.py``), what every venv backend shares (``backend.py``:
layout, health, bytecode) and the two installers that fill one, uv (``uv.py``) and virtualenv + pip
(``virtualenv.py``)."""

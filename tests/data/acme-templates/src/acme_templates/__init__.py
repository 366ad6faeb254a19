"""ACME's project templates, registered with scaffolder through an entry point."""

from pathlib import Path

SERVICE_TEMPLATE = str(Path(__file__).parent / "service")

"""pyo3-patcher: keep the cargo cache of PyO3 extension projects warm across isolated builds."""

__version__ = "0.1.0"

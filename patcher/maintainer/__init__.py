"""Commands for maintainers of pyo3-patcher itself (in its checkout): carrying the patches to
new upstream releases, and the coverage matrices."""

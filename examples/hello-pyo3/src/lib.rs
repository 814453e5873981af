use pyo3::prelude::*;

/// The answer, computed in Rust.
#[pyfunction]
fn answer() -> usize {
    42
}

#[pymodule]
fn hello_pyo3(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(answer, m)?)?;
    Ok(())
}

//! The wall clock, read in one place. `clippy.toml` forbids
//! `SystemTime::now` everywhere else, so every timestamp the exporter
//! writes (metrics, checkpoints, rotation cut-offs) comes from here and a
//! test or a future clock source changes one function.
//!
//! ```
//! assert!(gateway_exporter::clock::unix_now() > 1.5e9);
//! ```

/// Seconds since the Unix epoch, as Prometheus timestamps are written.
#[allow(clippy::disallowed_methods)]
pub fn unix_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

//! Scrape-time collectors: what is read from `/proc` when Prometheus asks,
//! beside the counters the pipeline owns.
//!
//! Each collector is one file, reads only at scrape time, and never fails a
//! scrape: a file it cannot read makes it report nothing (and, for the
//! socket-statistics collectors, `gateway_collector_up 0`). None of them
//! touches the log pipeline.
//!
//! ```
//! use gateway_exporter::sockstat::process::ProcessCollector;
//! let registry = prometheus::Registry::new();
//! registry.register(Box::new(ProcessCollector::new("/proc"))).unwrap();
//! let text = gateway_exporter::metrics::render_registry(&registry);
//! assert!(text.contains("process_resident_memory_bytes"));
//! ```

pub mod process;

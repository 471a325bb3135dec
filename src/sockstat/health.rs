//! Per-collector health: `gateway_collector_up{collector}` and
//! `gateway_collector_duration_seconds{collector}`, wrapped around every
//! socket-statistics collector so that none of them can fail a scrape.
//!
//! Owns the [`Scrape`] contract and the [`WithHealth`] adapter to
//! [`prometheus::core::Collector`]; it reads nothing itself. A collector
//! that returns an error (or panics) reports `up 0` and whatever it emitted
//! before the error; the failure is logged once when it starts and once
//! when it ends, not at every scrape.
//!
//! ```
//! use gateway_exporter::sockstat::{health::WithHealth, snmp::SnmpCollector};
//! let registry = prometheus::Registry::new();
//! let snmp = WithHealth::new(SnmpCollector::new("/nonexistent")).unwrap();
//! registry.register(Box::new(snmp)).unwrap();
//! let text = gateway_exporter::metrics::render_registry(&registry);
//! assert!(text.contains("gateway_collector_up{collector=\"snmp\"} 0"));
//! ```

use std::collections::HashMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use prometheus::core::{Collector, Desc};
use prometheus::proto::MetricFamily;

use super::SockstatError;
use super::family::FamilySpec;

/// One scrape-time collector, as [`WithHealth`] drives it.
pub trait Scrape: Send + Sync {
    /// The `collector` label value: a short, stable word.
    fn name(&self) -> &'static str;

    /// Every family [`Scrape::scrape`] may emit.
    fn descs(&self) -> Result<Vec<Desc>, prometheus::Error>;

    /// Reads and appends this scrape's families to `out`. Families appended
    /// before an error are still exposed: one unreadable file must not hide
    /// what the others said.
    fn scrape(&self, out: &mut Vec<MetricFamily>) -> Result<(), SockstatError>;
}

/// Adapts a [`Scrape`] to the registry, adding its health series.
pub struct WithHealth<S: Scrape> {
    inner: S,
    descs: Vec<Desc>,
    up: FamilySpec,
    duration: FamilySpec,
    failing: AtomicBool,
}

const UP: &str = "gateway_collector_up";
const DURATION: &str = "gateway_collector_duration_seconds";

impl<S: Scrape> WithHealth<S> {
    pub fn new(inner: S) -> Result<WithHealth<S>, prometheus::Error> {
        let up = FamilySpec::gauge(
            UP,
            "Whether the socket-statistics collector read everything it needed at the last scrape (1) or not (0).",
            &["collector"],
        );
        let duration = FamilySpec::gauge(
            DURATION,
            "How long the socket-statistics collector took at the last scrape, in seconds.",
            &["collector"],
        );
        let mut descs = inner.descs()?;
        // The four collectors share these two names, and the registry keys a
        // descriptor by name plus *constant* labels: declaring `collector`
        // as a constant label is what lets each wrapper register its own.
        let collector = HashMap::from([("collector".to_string(), inner.name().to_string())]);
        for spec in [&up, &duration] {
            descs.push(Desc::new(
                spec.name.to_string(),
                spec.help.clone(),
                Vec::new(),
                collector.clone(),
            )?);
        }
        Ok(WithHealth {
            inner,
            descs,
            up,
            duration,
            failing: AtomicBool::new(false),
        })
    }

    /// The wrapped collector.
    pub fn inner(&self) -> &S {
        &self.inner
    }
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "non-string panic payload".to_string()
    }
}

impl<S: Scrape> Collector for WithHealth<S> {
    fn desc(&self) -> Vec<&Desc> {
        self.descs.iter().collect()
    }

    fn collect(&self) -> Vec<MetricFamily> {
        let name = self.inner.name();
        let start = Instant::now();
        let mut out = Vec::new();
        // A parser bug must cost one collector's series, not the whole
        // /metrics response (the HTTP task would otherwise die mid-scrape).
        let result = match catch_unwind(AssertUnwindSafe(|| self.inner.scrape(&mut out))) {
            Ok(r) => r,
            Err(payload) => {
                out.clear();
                Err(SockstatError::Panicked(panic_message(payload.as_ref())))
            }
        };
        let elapsed = start.elapsed().as_secs_f64();
        let up = match result {
            Ok(()) => {
                if self.failing.swap(false, Ordering::Relaxed) {
                    log::info!(collector = name; "socket statistics collector recovered");
                }
                1.0
            }
            Err(err) => {
                if !self.failing.swap(true, Ordering::Relaxed) {
                    log::warn!(collector = name, err = err.to_string().as_str();
                        "socket statistics collector failed; gateway_collector_up is 0 until it recovers");
                }
                0.0
            }
        };
        let mut up_family = self.up.family();
        self.up.push(&mut up_family, &[name], up);
        let mut duration_family = self.duration.family();
        self.duration.push(&mut duration_family, &[name], elapsed);
        out.push(up_family);
        out.push(duration_family);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Flaky {
        fail: AtomicBool,
        panic: bool,
    }

    impl Scrape for Flaky {
        fn name(&self) -> &'static str {
            "flaky"
        }
        fn descs(&self) -> Result<Vec<Desc>, prometheus::Error> {
            Ok(vec![FamilySpec::gauge("gateway_flaky", "F.", &[]).desc()?])
        }
        fn scrape(&self, out: &mut Vec<MetricFamily>) -> Result<(), SockstatError> {
            out.push(FamilySpec::gauge("gateway_flaky", "F.", &[]).single(1.0));
            if self.panic {
                panic!("parser bug");
            }
            if self.fail.load(Ordering::Relaxed) {
                return Err(SockstatError::parse("/proc/x", 1, "something"));
            }
            Ok(())
        }
    }

    fn up(families: &[MetricFamily]) -> f64 {
        families
            .iter()
            .find(|f| f.name() == UP)
            .map(|f| f.get_metric()[0].get_gauge().get_value())
            .unwrap_or(f64::NAN)
    }

    #[test]
    fn failure_sets_up_zero_but_keeps_partial_output() {
        let c = WithHealth::new(Flaky {
            fail: AtomicBool::new(true),
            panic: false,
        })
        .unwrap();
        let fams = c.collect();
        assert_eq!(up(&fams), 0.0);
        assert!(fams.iter().any(|f| f.name() == "gateway_flaky"));
        assert!(fams.iter().any(|f| f.name() == DURATION));
        c.inner().fail.store(false, Ordering::Relaxed);
        assert_eq!(up(&c.collect()), 1.0);
    }

    #[test]
    fn a_panic_is_contained() {
        let c = WithHealth::new(Flaky {
            fail: AtomicBool::new(false),
            panic: true,
        })
        .unwrap();
        let fams = c.collect();
        assert_eq!(up(&fams), 0.0);
        assert!(!fams.iter().any(|f| f.name() == "gateway_flaky"));
    }

    #[test]
    fn two_collectors_share_the_health_names_in_one_registry() {
        struct Named(&'static str);
        impl Scrape for Named {
            fn name(&self) -> &'static str {
                self.0
            }
            fn descs(&self) -> Result<Vec<Desc>, prometheus::Error> {
                Ok(Vec::new())
            }
            fn scrape(&self, _: &mut Vec<MetricFamily>) -> Result<(), SockstatError> {
                Ok(())
            }
        }
        let r = prometheus::Registry::new();
        r.register(Box::new(WithHealth::new(Named("a")).unwrap()))
            .unwrap();
        r.register(Box::new(WithHealth::new(Named("b")).unwrap()))
            .unwrap();
        let fams = r.gather();
        let up = fams.iter().find(|f| f.name() == UP).unwrap();
        assert_eq!(up.get_metric().len(), 2);
    }
}

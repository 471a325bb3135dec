//! Builders for the metric families the scrape-time collectors emit: a
//! declared shape ([`FamilySpec`]) becomes a [`Desc`] once, at registration,
//! and a [`MetricFamily`] at every scrape.
//!
//! Owns only the mapping from (name, help, type, label names) to the
//! Prometheus data model; it reads nothing and knows no collector.
//!
//! ```ignore
//! let spec = FamilySpec::gauge("gateway_example", "An example.", &["port"]);
//! let mut fam = spec.family();
//! push(&mut fam, spec.kind, &["25"], 3.0);
//! ```

use std::collections::HashMap;

use prometheus::core::Desc;
use prometheus::proto::{self, LabelPair, Metric, MetricFamily, MetricType};

/// Whether a family is a counter or a gauge; nothing here is a histogram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Counter,
    Gauge,
}

/// The fixed shape of one family: the same at registration and at every
/// scrape, so `desc()` and `collect()` cannot disagree.
#[derive(Debug, Clone)]
pub(crate) struct FamilySpec {
    pub name: &'static str,
    pub help: String,
    pub kind: Kind,
    pub labels: &'static [&'static str],
}

impl FamilySpec {
    pub fn gauge(
        name: &'static str,
        help: impl Into<String>,
        labels: &'static [&'static str],
    ) -> FamilySpec {
        FamilySpec {
            name,
            help: help.into(),
            kind: Kind::Gauge,
            labels,
        }
    }

    /// The registry's view of this family. Names and labels are compile-time
    /// constants checked by the unit tests, so a failure here is a bug in
    /// this crate, reported as a registration error rather than a panic.
    pub fn desc(&self) -> Result<Desc, prometheus::Error> {
        Desc::new(
            self.name.to_string(),
            self.help.clone(),
            self.labels.iter().map(|l| l.to_string()).collect(),
            HashMap::new(),
        )
    }

    /// An empty family of this shape, ready for [`FamilySpec::push`].
    pub fn family(&self) -> MetricFamily {
        let mut fam = MetricFamily::default();
        fam.set_name(self.name.to_string());
        fam.set_help(self.help.clone());
        fam.set_field_type(match self.kind {
            Kind::Counter => MetricType::COUNTER,
            Kind::Gauge => MetricType::GAUGE,
        });
        fam
    }

    /// Appends one sample; `values` pair up with the declared label names.
    pub fn push(&self, fam: &mut MetricFamily, values: &[&str], value: f64) {
        debug_assert_eq!(values.len(), self.labels.len(), "{}", self.name);
        let mut m = Metric::default();
        m.set_label(
            self.labels
                .iter()
                .zip(values)
                .map(|(name, value)| {
                    let mut lp = LabelPair::default();
                    lp.set_name(name.to_string());
                    lp.set_value(value.to_string());
                    lp
                })
                .collect(),
        );
        match self.kind {
            Kind::Counter => {
                let mut c = proto::Counter::default();
                c.set_value(value);
                m.set_counter(c);
            }
            Kind::Gauge => {
                let mut g = proto::Gauge::default();
                g.set_value(value);
                m.set_gauge(g);
            }
        }
        fam.mut_metric().push(m);
    }

    /// A family holding one unlabelled sample.
    pub fn single(&self, value: f64) -> MetricFamily {
        let mut fam = self.family();
        self.push(&mut fam, &[], value);
        fam
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pushes_typed_labelled_samples() {
        let spec = FamilySpec {
            name: "gateway_x_total",
            help: "X.".into(),
            kind: Kind::Counter,
            labels: &["port", "state"],
        };
        let mut fam = spec.family();
        spec.push(&mut fam, &["25", "listen"], 2.0);
        assert_eq!(fam.get_field_type(), MetricType::COUNTER);
        let m = &fam.get_metric()[0];
        assert_eq!(m.get_counter().get_value(), 2.0);
        let labels: Vec<(&str, &str)> = m
            .get_label()
            .iter()
            .map(|l| (l.name(), l.value()))
            .collect();
        assert_eq!(labels, [("port", "25"), ("state", "listen")]);
        assert!(spec.desc().is_ok());
    }
}

//! TCP counters from `<procfs>/net/snmp` (`Tcp:`) and `<procfs>/net/netstat`
//! (`TcpExt:`): the kernel's own tally of opens, resets, retransmissions,
//! aborts and listen-queue overflows.
//!
//! Owns the header/value line-pair format those two files share and the
//! table of fields worth exporting. It must not guess at fields: both files
//! are parsed by pairing each `Prefix: Name Name …` header with the
//! `Prefix: value value …` line after it, so kernels that add, drop or
//! reorder fields change which series exist, never what they mean. A field
//! the kernel does not have is simply absent.
//!
//! ```
//! use gateway_exporter::sockstat::snmp::header_value_pairs;
//! let text = "Tcp: ActiveOpens CurrEstab\nTcp: 7 2\n";
//! let sections = header_value_pairs(text);
//! let tcp = sections[0].fields.as_ref().unwrap();
//! assert_eq!(tcp, &[("ActiveOpens", "7"), ("CurrEstab", "2")]);
//! ```

use std::path::{Path, PathBuf};

use prometheus::core::Desc;
use prometheus::proto::MetricFamily;

use super::SockstatError;
use super::family::{FamilySpec, Kind};
use super::health::Scrape;

/// One exported kernel field.
struct Field {
    /// `net/snmp` or `net/netstat`, relative to procfs.
    file: &'static str,
    /// The line prefix, without the colon.
    section: &'static str,
    /// The kernel's field name.
    field: &'static str,
    /// The metric: the field in snake case under `gateway_tcp_`, without the
    /// kernel's redundant `TCP` prefix, and `_total` for counters.
    metric: &'static str,
    kind: Kind,
    meaning: &'static str,
}

const SNMP: &str = "net/snmp";
const NETSTAT: &str = "net/netstat";

const fn counter(
    file: &'static str,
    section: &'static str,
    field: &'static str,
    metric: &'static str,
    meaning: &'static str,
) -> Field {
    Field {
        file,
        section,
        field,
        metric,
        kind: Kind::Counter,
        meaning,
    }
}

const FIELDS: &[Field] = &[
    counter(
        SNMP,
        "Tcp",
        "ActiveOpens",
        "gateway_tcp_active_opens_total",
        "Connections opened actively (CLOSED to SYN-SENT)",
    ),
    counter(
        SNMP,
        "Tcp",
        "PassiveOpens",
        "gateway_tcp_passive_opens_total",
        "Connections opened passively (LISTEN to SYN-RECV)",
    ),
    counter(
        SNMP,
        "Tcp",
        "AttemptFails",
        "gateway_tcp_attempt_fails_total",
        "Connection attempts that failed (SYN-SENT or SYN-RECV to CLOSED, or SYN-RECV back to LISTEN)",
    ),
    counter(
        SNMP,
        "Tcp",
        "EstabResets",
        "gateway_tcp_estab_resets_total",
        "Resets of connections in ESTABLISHED or CLOSE-WAIT",
    ),
    Field {
        file: SNMP,
        section: "Tcp",
        field: "CurrEstab",
        metric: "gateway_tcp_curr_estab",
        kind: Kind::Gauge,
        meaning: "Connections now in ESTABLISHED or CLOSE-WAIT",
    },
    counter(
        SNMP,
        "Tcp",
        "InSegs",
        "gateway_tcp_in_segs_total",
        "Segments received, including those in error",
    ),
    counter(
        SNMP,
        "Tcp",
        "OutSegs",
        "gateway_tcp_out_segs_total",
        "Segments sent, excluding retransmissions",
    ),
    counter(
        SNMP,
        "Tcp",
        "RetransSegs",
        "gateway_tcp_retrans_segs_total",
        "Segments retransmitted",
    ),
    counter(
        SNMP,
        "Tcp",
        "InErrs",
        "gateway_tcp_in_errs_total",
        "Segments received in error",
    ),
    counter(
        SNMP,
        "Tcp",
        "OutRsts",
        "gateway_tcp_out_rsts_total",
        "Segments sent with the RST flag",
    ),
    counter(
        NETSTAT,
        "TcpExt",
        "TCPAbortOnData",
        "gateway_tcp_abort_on_data_total",
        "Connections reset because data arrived after the application closed",
    ),
    counter(
        NETSTAT,
        "TcpExt",
        "TCPAbortOnClose",
        "gateway_tcp_abort_on_close_total",
        "Connections reset because the application closed with unread data",
    ),
    counter(
        NETSTAT,
        "TcpExt",
        "TCPAbortOnMemory",
        "gateway_tcp_abort_on_memory_total",
        "Connections aborted for lack of memory (too many orphans or tcp_mem exceeded)",
    ),
    counter(
        NETSTAT,
        "TcpExt",
        "TCPAbortOnTimeout",
        "gateway_tcp_abort_on_timeout_total",
        "Connections aborted after retransmission, keepalive or window-probe timeouts",
    ),
    counter(
        NETSTAT,
        "TcpExt",
        "TCPAbortOnLinger",
        "gateway_tcp_abort_on_linger_total",
        "Connections aborted when the linger or FIN-WAIT-2 timeout expired",
    ),
    counter(
        NETSTAT,
        "TcpExt",
        "TCPAbortFailed",
        "gateway_tcp_abort_failed_total",
        "Aborts that could not send a RST",
    ),
    counter(
        NETSTAT,
        "TcpExt",
        "ListenOverflows",
        "gateway_tcp_listen_overflows_total",
        "Times a listening socket's accept queue was full",
    ),
    counter(
        NETSTAT,
        "TcpExt",
        "ListenDrops",
        "gateway_tcp_listen_drops_total",
        "SYNs dropped at a listening socket, for any reason",
    ),
    counter(
        NETSTAT,
        "TcpExt",
        "TCPTimeouts",
        "gateway_tcp_timeouts_total",
        "Retransmission timeouts that fired",
    ),
];

/// One `Prefix:` header line and the value line that should follow it.
#[derive(Debug)]
pub struct Section<'a> {
    pub prefix: &'a str,
    /// 1-based line number of the header.
    pub line: usize,
    /// The (name, value) pairs, or what was wrong with the pair.
    pub fields: Result<Vec<(&'a str, &'a str)>, String>,
}

/// Splits a `net/snmp`-style file into its header/value line pairs. A pair
/// that does not match (no value line, another prefix, a different number
/// of values) is kept as an error for that section only, so a truncated
/// `IpExt:` never hides `TcpExt:`.
pub fn header_value_pairs(text: &str) -> Vec<Section<'_>> {
    let mut sections = Vec::new();
    let mut lines = text.lines().enumerate().peekable();
    while let Some((index, header)) = lines.next() {
        let Some((prefix, names)) = header.split_once(':') else {
            continue;
        };
        let line = index + 1;
        let next_is_values = lines
            .peek()
            .and_then(|(_, l)| l.split_once(':'))
            .is_some_and(|(p, _)| p == prefix);
        if !next_is_values {
            sections.push(Section {
                prefix,
                line,
                fields: Err(format!("a \"{prefix}:\" value line after the header")),
            });
            continue;
        }
        let Some((_, values_line)) = lines.next() else {
            continue;
        };
        let values = values_line
            .split_once(':')
            .map(|(_, v)| v)
            .unwrap_or_default();
        let names: Vec<&str> = names.split_ascii_whitespace().collect();
        let values: Vec<&str> = values.split_ascii_whitespace().collect();
        let fields = if names.len() == values.len() {
            Ok(names.into_iter().zip(values).collect())
        } else {
            Err(format!(
                "{} values for the {} \"{prefix}:\" fields",
                values.len(),
                names.len()
            ))
        };
        sections.push(Section {
            prefix,
            line,
            fields,
        });
    }
    sections
}

/// Reports the TCP counters of `net/snmp` and `net/netstat`.
pub struct SnmpCollector {
    procfs: PathBuf,
    specs: Vec<FamilySpec>,
}

impl SnmpCollector {
    pub fn new(procfs: impl AsRef<Path>) -> SnmpCollector {
        let specs = FIELDS
            .iter()
            .map(|f| FamilySpec {
                name: f.metric,
                help: format!(
                    "{}. From /proc/{} field {}: {}.",
                    f.meaning, f.file, f.section, f.field
                ),
                kind: f.kind,
                labels: &[],
            })
            .collect();
        SnmpCollector {
            procfs: procfs.as_ref().to_path_buf(),
            specs,
        }
    }

    /// Emits the wanted fields of one file; returns the first problem after
    /// emitting everything that could be read.
    fn scrape_file(&self, file: &str, out: &mut Vec<MetricFamily>) -> Result<(), SockstatError> {
        let path = self.procfs.join(file);
        let text = std::fs::read_to_string(&path).map_err(|e| SockstatError::read(&path, e))?;
        let sections = header_value_pairs(&text);
        let mut first_error = None;
        let wanted: Vec<(&Field, &FamilySpec)> = FIELDS
            .iter()
            .zip(&self.specs)
            .filter(|(f, _)| f.file == file)
            .collect();
        let mut section_names: Vec<&str> = wanted.iter().map(|(f, _)| f.section).collect();
        section_names.dedup();
        for section_name in section_names {
            // A prefix appears once; should a kernel ever repeat it, the
            // first pair is the one every tool reads.
            let Some(section) = sections.iter().find(|s| s.prefix == section_name) else {
                first_error.get_or_insert(SockstatError::Missing {
                    path: path.clone(),
                    expected: format!("\"{section_name}:\" header/value pair"),
                });
                continue;
            };
            let fields = match &section.fields {
                Ok(fields) => fields,
                Err(expected) => {
                    first_error.get_or_insert(SockstatError::parse(
                        &path,
                        section.line,
                        expected.clone(),
                    ));
                    continue;
                }
            };
            for (field, spec) in wanted.iter().filter(|(f, _)| f.section == section_name) {
                let Some((_, raw)) = fields.iter().find(|(name, _)| *name == field.field) else {
                    continue;
                };
                match raw.parse::<u64>() {
                    Ok(v) => out.push(spec.single(v as f64)),
                    Err(_) => {
                        first_error.get_or_insert(SockstatError::parse(
                            &path,
                            section.line + 1,
                            format!("an unsigned integer for {}, not {raw:?}", field.field),
                        ));
                    }
                }
            }
        }
        first_error.map_or(Ok(()), Err)
    }
}

impl Scrape for SnmpCollector {
    fn name(&self) -> &'static str {
        "snmp"
    }

    fn descs(&self) -> Result<Vec<Desc>, prometheus::Error> {
        self.specs.iter().map(FamilySpec::desc).collect()
    }

    fn scrape(&self, out: &mut Vec<MetricFamily>) -> Result<(), SockstatError> {
        let snmp = self.scrape_file(SNMP, out);
        let netstat = self.scrape_file(NETSTAT, out);
        snmp.and(netstat)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::sockstat::fixture;

    fn scrape(dir: &str) -> (Vec<MetricFamily>, Result<(), SockstatError>) {
        let c = SnmpCollector::new(fixture(dir));
        let mut out = Vec::new();
        let r = c.scrape(&mut out);
        (out, r)
    }

    fn value(out: &[MetricFamily], name: &str) -> Option<f64> {
        let m = &out.iter().find(|f| f.name() == name)?.get_metric()[0];
        Some(if name.ends_with("_total") {
            m.get_counter().get_value()
        } else {
            m.get_gauge().get_value()
        })
    }

    /// The metric name is the field in snake case, so the table cannot
    /// drift from the naming rule the issue fixed.
    #[test]
    fn metric_names_follow_the_kernel_field_names() {
        fn snake(field: &str) -> String {
            let field = field.strip_prefix("TCP").unwrap_or(field);
            let mut s = String::new();
            for (i, c) in field.chars().enumerate() {
                if c.is_ascii_uppercase() && i > 0 {
                    s.push('_');
                }
                s.push(c.to_ascii_lowercase());
            }
            s
        }
        for f in FIELDS {
            let suffix = if f.kind == Kind::Counter {
                "_total"
            } else {
                ""
            };
            assert_eq!(f.metric, format!("gateway_tcp_{}{suffix}", snake(f.field)));
        }
        assert!(
            FIELDS
                .iter()
                .any(|f| f.metric == "gateway_tcp_estab_resets_total")
        );
        assert!(
            FIELDS
                .iter()
                .any(|f| f.metric == "gateway_tcp_abort_on_data_total")
        );
        for spec in SnmpCollector::new("/proc").specs {
            spec.desc().unwrap();
        }
    }

    #[test]
    fn real_capture() {
        let (out, r) = scrape("host-capture");
        r.unwrap();
        assert_eq!(out.len(), FIELDS.len(), "every field exists on this kernel");
        let text = std::fs::read_to_string(fixture("host-capture").join("net/snmp")).unwrap();
        let tcp = header_value_pairs(&text)
            .into_iter()
            .find(|s| s.prefix == "Tcp")
            .unwrap()
            .fields
            .unwrap();
        let curr: f64 = tcp
            .iter()
            .find(|(n, _)| *n == "CurrEstab")
            .unwrap()
            .1
            .parse()
            .unwrap();
        assert_eq!(value(&out, "gateway_tcp_curr_estab"), Some(curr));
        let f = out
            .iter()
            .find(|f| f.name() == "gateway_tcp_curr_estab")
            .unwrap();
        assert!(
            f.help().contains("/proc/net/snmp field Tcp: CurrEstab"),
            "{}",
            f.help()
        );
    }

    #[test]
    fn reordered_and_unknown_fields_are_read_by_name() {
        let (out, r) = scrape("reordered-fields");
        r.unwrap();
        assert_eq!(value(&out, "gateway_tcp_active_opens_total"), Some(11.0));
        assert_eq!(value(&out, "gateway_tcp_retrans_segs_total"), Some(17.0));
        assert_eq!(value(&out, "gateway_tcp_curr_estab"), Some(3.0));
        assert_eq!(value(&out, "gateway_tcp_abort_on_data_total"), Some(21.0));
        assert_eq!(
            value(&out, "gateway_tcp_listen_overflows_total"),
            Some(25.0)
        );
        let (out, r) = scrape("extra-fields");
        r.unwrap();
        assert_eq!(value(&out, "gateway_tcp_out_rsts_total"), Some(4.0));
        assert_eq!(value(&out, "gateway_tcp_abort_failed_total"), Some(7.0));
    }

    #[test]
    fn missing_fields_are_absent_not_errors() {
        let (out, r) = scrape("missing-fields");
        r.unwrap();
        assert_eq!(value(&out, "gateway_tcp_in_errs_total"), None);
        assert_eq!(value(&out, "gateway_tcp_abort_failed_total"), None);
        assert_eq!(value(&out, "gateway_tcp_active_opens_total"), Some(5.0));
        assert_eq!(value(&out, "gateway_tcp_timeouts_total"), Some(9.0));
    }

    #[test]
    fn a_truncated_file_fails_only_its_own_section() {
        // net/netstat stops in the middle of the TcpExt: value line, so its
        // pair does not match; net/snmp is whole and still reported.
        let (out, r) = scrape("truncated");
        let err = r.unwrap_err().to_string();
        assert!(
            err.contains("net/netstat") && err.contains("TcpExt"),
            "{err}"
        );
        assert_eq!(value(&out, "gateway_tcp_active_opens_total"), Some(5.0));
        assert_eq!(value(&out, "gateway_tcp_abort_on_data_total"), None);
    }

    #[test]
    fn a_missing_file_is_an_error() {
        let (out, r) = scrape("does-not-exist");
        assert!(matches!(r, Err(SockstatError::Read { .. })));
        assert!(out.is_empty());
    }

    #[test]
    fn pairs_survive_odd_input() {
        let s = header_value_pairs(
            "Tcp: A B\nTcp: 1\nUdp: X\nUdp: 2\nTcpExt: Y\nIp: Z\nIp: 3\nTcpExt: W",
        );
        let summary: Vec<(&str, bool)> = s.iter().map(|s| (s.prefix, s.fields.is_ok())).collect();
        assert_eq!(
            summary,
            [
                ("Tcp", false),
                ("Udp", true),
                ("TcpExt", false),
                ("Ip", true),
                ("TcpExt", false)
            ]
        );
        assert!(header_value_pairs("").is_empty());
        assert!(header_value_pairs("no colon here\n\n").is_empty());
    }
}

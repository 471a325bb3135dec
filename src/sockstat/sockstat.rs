//! Socket usage from `<procfs>/net/sockstat` and `<procfs>/net/sockstat6`:
//! sockets in use, and TCP sockets in use, orphaned, in TIME-WAIT, allocated,
//! and the memory they hold.
//!
//! Owns the `PROTO: key value key value …` format of those files. It must
//! not report pages: the kernel counts TCP memory in pages, and the page
//! size comes from the running kernel (`rustix::param::page_size()`), so
//! the series is in bytes as Prometheus conventions require.
//! `net/sockstat6` is optional (a kernel without IPv6 has none).
//!
//! ```
//! use gateway_exporter::sockstat::sockstat::parse_sockstat;
//! let (values, problems) = parse_sockstat("sockets: used 9\nTCP: inuse 2 orphan 0 tw 1 alloc 3 mem 4\n");
//! assert!(problems.is_empty());
//! assert_eq!(values.get("TCP", "mem"), Some(4));
//! ```

use std::path::{Path, PathBuf};

use prometheus::core::Desc;
use prometheus::proto::MetricFamily;

use super::SockstatError;
use super::family::FamilySpec;
use super::health::Scrape;

/// The `(protocol, key) → value` pairs of one sockstat file.
#[derive(Debug, Default)]
pub struct SockstatValues<'a> {
    values: Vec<(&'a str, &'a str, u64)>,
}

impl SockstatValues<'_> {
    pub fn get(&self, protocol: &str, key: &str) -> Option<u64> {
        self.values
            .iter()
            .find(|(p, k, _)| *p == protocol && *k == key)
            .map(|(_, _, v)| *v)
    }
}

/// Parses every line it can; returns the 1-based numbers of lines it could
/// not (an odd number of tokens, a value that is not a number), so a cut
/// last line loses only that line.
pub fn parse_sockstat(text: &str) -> (SockstatValues<'_>, Vec<usize>) {
    let mut values = SockstatValues::default();
    let mut problems = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let Some((protocol, rest)) = line.split_once(':') else {
            if !line.trim().is_empty() {
                problems.push(index + 1);
            }
            continue;
        };
        let tokens: Vec<&str> = rest.split_ascii_whitespace().collect();
        let pairs: Option<Vec<(&str, u64)>> = tokens
            .chunks(2)
            .map(|pair| match pair {
                [key, value] => value.parse().ok().map(|v| (*key, v)),
                _ => None,
            })
            .collect();
        match pairs {
            Some(pairs) => values
                .values
                .extend(pairs.into_iter().map(|(k, v)| (protocol, k, v))),
            None => problems.push(index + 1),
        }
    }
    (values, problems)
}

/// Reports `net/sockstat` and `net/sockstat6`.
pub struct SockstatCollector {
    procfs: PathBuf,
    sockets_used: FamilySpec,
    tcp_inuse: FamilySpec,
    tcp_orphan: FamilySpec,
    tcp_tw: FamilySpec,
    tcp_alloc: FamilySpec,
    tcp_mem: FamilySpec,
}

impl SockstatCollector {
    pub fn new(procfs: impl AsRef<Path>) -> SockstatCollector {
        SockstatCollector {
            procfs: procfs.as_ref().to_path_buf(),
            sockets_used: FamilySpec::gauge(
                "gateway_sockstat_sockets_used",
                "Sockets in use, all protocols and families. From /proc/net/sockstat sockets: used.",
                &[],
            ),
            tcp_inuse: FamilySpec::gauge(
                "gateway_sockstat_tcp_inuse",
                "TCP sockets in use, by address family. From /proc/net/sockstat TCP: inuse and /proc/net/sockstat6 TCP6: inuse.",
                &["family"],
            ),
            tcp_orphan: FamilySpec::gauge(
                "gateway_sockstat_tcp_orphan",
                "TCP sockets no longer attached to a file descriptor (orphans), both families. From /proc/net/sockstat TCP: orphan.",
                &[],
            ),
            tcp_tw: FamilySpec::gauge(
                "gateway_sockstat_tcp_tw",
                "TCP sockets in TIME-WAIT, both families. From /proc/net/sockstat TCP: tw.",
                &[],
            ),
            tcp_alloc: FamilySpec::gauge(
                "gateway_sockstat_tcp_alloc",
                "TCP sockets allocated (in any state, including not yet connected), both families. From /proc/net/sockstat TCP: alloc.",
                &[],
            ),
            tcp_mem: FamilySpec::gauge(
                "gateway_sockstat_tcp_mem_bytes",
                "Memory held by TCP socket buffers, in bytes (compare with net.ipv4.tcp_mem, which is in pages). From /proc/net/sockstat TCP: mem times the page size.",
                &[],
            ),
        }
    }

    fn specs(&self) -> [&FamilySpec; 6] {
        [
            &self.sockets_used,
            &self.tcp_inuse,
            &self.tcp_orphan,
            &self.tcp_tw,
            &self.tcp_alloc,
            &self.tcp_mem,
        ]
    }
}

fn problem(path: &Path, lines: &[usize]) -> Option<SockstatError> {
    lines
        .first()
        .map(|&line| SockstatError::parse(path, line, "\"PROTO: key value …\" with numeric values"))
}

impl Scrape for SockstatCollector {
    fn name(&self) -> &'static str {
        "sockstat"
    }

    fn descs(&self) -> Result<Vec<Desc>, prometheus::Error> {
        self.specs().into_iter().map(FamilySpec::desc).collect()
    }

    fn scrape(&self, out: &mut Vec<MetricFamily>) -> Result<(), SockstatError> {
        let mut first_error = None;
        let mut inuse = self.tcp_inuse.family();
        let path4 = self.procfs.join("net/sockstat");
        match std::fs::read_to_string(&path4) {
            Ok(text) => {
                let (v, problems) = parse_sockstat(&text);
                if let Some(e) = problem(&path4, &problems) {
                    first_error.get_or_insert(e);
                }
                if let Some(used) = v.get("sockets", "used") {
                    out.push(self.sockets_used.single(used as f64));
                }
                if let Some(n) = v.get("TCP", "inuse") {
                    self.tcp_inuse.push(&mut inuse, &["ipv4"], n as f64);
                }
                let counts = [
                    ("orphan", &self.tcp_orphan),
                    ("tw", &self.tcp_tw),
                    ("alloc", &self.tcp_alloc),
                ];
                for (key, spec) in counts {
                    if let Some(n) = v.get("TCP", key) {
                        out.push(spec.single(n as f64));
                    }
                }
                if let Some(pages) = v.get("TCP", "mem") {
                    let bytes = pages.saturating_mul(rustix::param::page_size() as u64);
                    out.push(self.tcp_mem.single(bytes as f64));
                }
            }
            Err(e) => {
                first_error.get_or_insert(SockstatError::read(&path4, e));
            }
        }
        let path6 = self.procfs.join("net/sockstat6");
        match std::fs::read_to_string(&path6) {
            Ok(text) => {
                let (v, problems) = parse_sockstat(&text);
                if let Some(e) = problem(&path6, &problems) {
                    first_error.get_or_insert(e);
                }
                if let Some(n) = v.get("TCP6", "inuse") {
                    self.tcp_inuse.push(&mut inuse, &["ipv6"], n as f64);
                }
            }
            // No IPv6 in this kernel: no TCP6 line to report, and no fault.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                first_error.get_or_insert(SockstatError::read(&path6, e));
            }
        }
        out.push(inuse);
        first_error.map_or(Ok(()), Err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scrape(dir: &str) -> (Vec<MetricFamily>, Result<(), SockstatError>) {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/proc")
            .join(dir);
        let c = SockstatCollector::new(root);
        let mut out = Vec::new();
        let r = c.scrape(&mut out);
        (out, r)
    }

    fn gauge(out: &[MetricFamily], name: &str, family: Option<&str>) -> Option<f64> {
        out.iter()
            .find(|f| f.name() == name)?
            .get_metric()
            .iter()
            .find(|m| family.is_none_or(|fam| m.get_label().iter().any(|l| l.value() == fam)))
            .map(|m| m.get_gauge().get_value())
    }

    #[test]
    fn real_capture_in_bytes() {
        let (out, r) = scrape("host-capture");
        r.unwrap();
        // The capture says: sockets: used 30; TCP: inuse 8 orphan 0 tw 32
        // alloc 14 mem 258; TCP6: inuse 6.
        assert_eq!(
            gauge(&out, "gateway_sockstat_sockets_used", None),
            Some(30.0)
        );
        assert_eq!(
            gauge(&out, "gateway_sockstat_tcp_inuse", Some("ipv4")),
            Some(8.0)
        );
        assert_eq!(
            gauge(&out, "gateway_sockstat_tcp_inuse", Some("ipv6")),
            Some(6.0)
        );
        assert_eq!(gauge(&out, "gateway_sockstat_tcp_tw", None), Some(32.0));
        assert_eq!(gauge(&out, "gateway_sockstat_tcp_alloc", None), Some(14.0));
        let page = rustix::param::page_size() as f64;
        assert_eq!(
            gauge(&out, "gateway_sockstat_tcp_mem_bytes", None),
            Some(258.0 * page)
        );
    }

    #[test]
    fn ipv6_only_host() {
        let (out, r) = scrape("ipv6-only");
        r.unwrap();
        assert_eq!(
            gauge(&out, "gateway_sockstat_tcp_inuse", Some("ipv4")),
            Some(0.0)
        );
        assert_eq!(
            gauge(&out, "gateway_sockstat_tcp_inuse", Some("ipv6")),
            Some(4.0)
        );
    }

    #[test]
    fn no_ipv6_is_not_a_fault() {
        let (out, r) = scrape("no-ipv6");
        r.unwrap();
        assert_eq!(
            gauge(&out, "gateway_sockstat_tcp_inuse", Some("ipv6")),
            None
        );
        assert_eq!(
            gauge(&out, "gateway_sockstat_tcp_inuse", Some("ipv4")),
            Some(3.0)
        );
    }

    #[test]
    fn extra_fields_and_a_cut_line() {
        // A future kernel's extra key is ignored; the cut TCP line is a
        // fault (up 0) but "sockets: used" is still reported.
        let (out, r) = scrape("extra-fields");
        r.unwrap();
        assert_eq!(gauge(&out, "gateway_sockstat_tcp_orphan", None), Some(2.0));
        let (out, r) = scrape("truncated");
        assert!(
            matches!(r, Err(SockstatError::Parse { line: 2, .. })),
            "{r:?}"
        );
        assert_eq!(
            gauge(&out, "gateway_sockstat_sockets_used", None),
            Some(12.0)
        );
        assert_eq!(gauge(&out, "gateway_sockstat_tcp_tw", None), None);
    }

    #[test]
    fn missing_file() {
        let (_, r) = scrape("does-not-exist");
        assert!(matches!(r, Err(SockstatError::Read { .. })));
    }
}

//! The kernel's drop count of the exporter's own syslog UDP sockets: what a
//! burst beyond the receive buffer cost, so UDP loss is visible instead of
//! silent. Read at scrape time from the `drops` column of
//! `/proc/self/net/udp{,6}`, found by the socket's inode.

use prometheus::core::Desc;
use prometheus::proto::MetricFamily;

use super::SockstatError;
use super::family::{FamilySpec, Kind};
use super::health::Scrape;

/// One socket: its source, its listen address, its inode.
#[derive(Debug, Clone)]
pub struct UdpSocketRef {
    pub source: String,
    pub listen: String,
    pub inode: u64,
}

pub struct UdpDropsCollector {
    /// `/proc/self/net`: the exporter's own network namespace, which is
    /// where its sockets are, whatever `--path.procfs` says of the host.
    net: std::path::PathBuf,
    sockets: Vec<UdpSocketRef>,
    drops: FamilySpec,
}

impl UdpDropsCollector {
    pub fn new(sockets: Vec<UdpSocketRef>) -> UdpDropsCollector {
        UdpDropsCollector {
            net: "/proc/self/net".into(),
            sockets,
            drops: FamilySpec {
                name: "gateway_syslog_udp_drops_total",
                help: "Datagrams the kernel dropped on a syslog UDP socket (receive buffer full), from /proc/net/udp.".into(),
                kind: Kind::Counter,
                labels: &["source", "listen"],
            },
        }
    }
}

/// `drops` by inode, from the text of `/proc/net/udp` or `udp6`.
pub fn drops_by_inode(text: &str) -> Vec<(u64, u64)> {
    text.lines()
        .skip(1)
        .filter_map(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            // sl local rem st tx:rx tr:when retrnsmt uid timeout inode ref pointer drops
            let inode = f.get(9)?.parse().ok()?;
            let drops = f.get(12)?.parse().ok()?;
            Some((inode, drops))
        })
        .collect()
}

impl Scrape for UdpDropsCollector {
    fn name(&self) -> &'static str {
        "udp_drops"
    }

    fn descs(&self) -> Result<Vec<Desc>, prometheus::Error> {
        Ok(vec![self.drops.desc()?])
    }

    fn scrape(&self, out: &mut Vec<MetricFamily>) -> Result<(), SockstatError> {
        let mut found = Vec::new();
        for file in ["udp", "udp6"] {
            let path = self.net.join(file);
            match std::fs::read_to_string(&path) {
                Ok(text) => found.extend(drops_by_inode(&text)),
                // No IPv6 on this host: nothing to find there.
                Err(e) if file == "udp6" && e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(SockstatError::read(path, e)),
            }
        }
        let mut fam = self.drops.family();
        for s in &self.sockets {
            let drops = found
                .iter()
                .find(|(inode, _)| *inode == s.inode)
                .map_or(0, |(_, d)| *d);
            self.drops
                .push(&mut fam, &[&s.source, &s.listen], drops as f64);
        }
        out.push(fam);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_drops_column_by_inode() {
        let text = "   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops\n\
                    \x20 123: 0100007F:1586 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 48213 2 0000000000000000 17\n\
                    \x20 124: 00000000:0044 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 1999 2 0000000000000000 0\n";
        assert_eq!(drops_by_inode(text), [(48213, 17), (1999, 0)]);
    }
}

//! Per-port TCP connection states and queued bytes for the gateway's ports:
//! `gateway_tcp_connections{port,direction,state}`,
//! `gateway_tcp_queued_bytes{port,direction,queue}` and
//! `gateway_tcp_connections_source{source}`.
//!
//! A socket counts as `inbound` for a configured local port (the gateway
//! accepted it, or listens on it) and as `outbound` for a configured remote
//! port (the gateway relays to it); one socket can be both. Every
//! configured port × direction × state series exists, 0 when empty, so a
//! rate or an alert never starts from a missing series. IPv4 and IPv6 are
//! summed, as a port is one service to the operator.
//!
//! Owns the counting and the two ways to list sockets: netlink sock_diag
//! ([`super::sock_diag`], preferred: the kernel filters by port, walks its
//! socket table once for both families and copies one small record per
//! socket, without `tcp_info`) and, when netlink is refused (seccomp,
//! gVisor, no `tcp_diag`), `<procfs>/net/tcp` and `<procfs>/net/tcp6`. The
//! source in use is reported, and a switch is logged once. Netlink sees the
//! exporter's own network namespace; so does `net/tcp` under any procfs
//! mount, since it resolves through `self`.
//!
//! Listening sockets are left out of the queue sums: there the kernel
//! reports connections waiting to be accepted and the backlog, not bytes.
//! A socket in CLOSE-WAIT shows one byte in the receive queue: the FIN.
//!
//! ```
//! use gateway_exporter::sockstat::connections::{ConnectionsCollector, Source};
//! use gateway_exporter::sockstat::health::WithHealth;
//! let registry = prometheus::Registry::new();
//! let c = ConnectionsCollector::new("/proc", &[25], &[]).with_source(Source::Procfs);
//! registry.register(Box::new(WithHealth::new(c).unwrap())).unwrap();
//! let text = gateway_exporter::metrics::render_registry(&registry);
//! assert!(text.contains(r#"gateway_tcp_connections_source{source="procfs"} 1"#));
//! ```

use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use prometheus::core::Desc;
use prometheus::proto::MetricFamily;

use super::SockstatError;
use super::family::FamilySpec;
use super::health::Scrape;
use super::sock_diag::{ALL_TCP_STATES, DiagError, DiagSocket, Dump, SockDiag, port_filter};

/// The `state` label values, indexed by the kernel's TCP state number - 1.
pub const STATES: [&str; 11] = [
    "established",
    "syn_sent",
    "syn_recv",
    "fin_wait1",
    "fin_wait2",
    "time_wait",
    "close",
    "close_wait",
    "last_ack",
    "listen",
    "closing",
];

const TCP_LISTEN: u8 = 10;
/// The kernel's internal state for a pending request socket; both netlink
/// and `net/tcp` normally translate it to SYN_RECV already.
const TCP_NEW_SYN_RECV: u8 = 12;

fn state_index(state: u8) -> Option<usize> {
    match state {
        1..=11 => Some(usize::from(state) - 1),
        TCP_NEW_SYN_RECV => Some(2),
        _ => None,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Inbound,
    Outbound,
}

impl fmt::Display for Direction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Direction::Inbound => "inbound",
            Direction::Outbound => "outbound",
        })
    }
}

/// Where the connection list came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Netlink,
    Procfs,
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Source::Netlink => "netlink",
            Source::Procfs => "procfs",
        })
    }
}

#[derive(Debug, Clone, Copy, Default)]
struct PortCounts {
    states: [u64; 11],
    send_queue: u64,
    recv_queue: u64,
}

/// The counts of one scrape, per configured port and direction.
#[derive(Debug, Clone)]
pub struct Tally {
    local_ports: Vec<u16>,
    remote_ports: Vec<u16>,
    inbound: Vec<PortCounts>,
    outbound: Vec<PortCounts>,
}

impl Tally {
    /// `local_ports` and `remote_ports` must be sorted and deduplicated.
    fn new(local_ports: &[u16], remote_ports: &[u16]) -> Tally {
        Tally {
            local_ports: local_ports.to_vec(),
            remote_ports: remote_ports.to_vec(),
            inbound: vec![PortCounts::default(); local_ports.len()],
            outbound: vec![PortCounts::default(); remote_ports.len()],
        }
    }

    fn clear(&mut self) {
        self.inbound.fill(PortCounts::default());
        self.outbound.fill(PortCounts::default());
    }

    fn add(
        &mut self,
        state: u8,
        local_port: u16,
        remote_port: u16,
        send_queue: u32,
        recv_queue: u32,
    ) {
        let Some(si) = state_index(state) else {
            return;
        };
        let queued = state != TCP_LISTEN;
        let count = |c: &mut PortCounts| {
            c.states[si] += 1;
            if queued {
                c.send_queue += u64::from(send_queue);
                c.recv_queue += u64::from(recv_queue);
            }
        };
        if let Ok(i) = self.local_ports.binary_search(&local_port) {
            count(&mut self.inbound[i]);
        }
        if let Ok(i) = self.remote_ports.binary_search(&remote_port) {
            count(&mut self.outbound[i]);
        }
    }

    fn add_socket(&mut self, s: &DiagSocket) {
        self.add(
            s.state,
            s.local_port,
            s.remote_port,
            s.send_queue,
            s.recv_queue,
        );
    }

    /// Connections in `state` for one port and direction; 0 for an
    /// unconfigured port.
    pub fn connections(&self, port: u16, direction: Direction, state: &str) -> u64 {
        let Some(si) = STATES.iter().position(|s| *s == state) else {
            return 0;
        };
        self.counts(port, direction).map_or(0, |c| c.states[si])
    }

    fn counts(&self, port: u16, direction: Direction) -> Option<&PortCounts> {
        let (ports, counts) = match direction {
            Direction::Inbound => (&self.local_ports, &self.inbound),
            Direction::Outbound => (&self.remote_ports, &self.outbound),
        };
        ports.binary_search(&port).ok().map(|i| &counts[i])
    }

    fn each(&self) -> impl Iterator<Item = (u16, Direction, &PortCounts)> {
        let inbound = self
            .local_ports
            .iter()
            .zip(&self.inbound)
            .map(|(p, c)| (*p, Direction::Inbound, c));
        let outbound = self
            .remote_ports
            .iter()
            .zip(&self.outbound)
            .map(|(p, c)| (*p, Direction::Outbound, c));
        inbound.chain(outbound)
    }
}

fn hex_u32(field: &[u8]) -> Option<u32> {
    u32::from_str_radix(std::str::from_utf8(field).ok()?, 16).ok()
}

fn port_of(address: &[u8]) -> Option<u16> {
    let colon = address.iter().rposition(|b| *b == b':')?;
    u16::try_from(hex_u32(&address[colon + 1..])?).ok()
}

/// One line of `net/tcp` or `net/tcp6`: `sl: local:port remote:port st
/// tx_queue:rx_queue …`, all in hex. Returns (state, local port, remote
/// port, send queue, receive queue).
pub fn parse_proc_tcp_line(line: &[u8]) -> Option<(u8, u16, u16, u32, u32)> {
    let mut fields = line
        .split(|b| b.is_ascii_whitespace())
        .filter(|f| !f.is_empty());
    let _slot = fields.next()?;
    let local = port_of(fields.next()?)?;
    let remote = port_of(fields.next()?)?;
    let state = u8::try_from(hex_u32(fields.next()?)?).ok()?;
    let queues = fields.next()?;
    let colon = queues.iter().position(|b| *b == b':')?;
    let send = hex_u32(&queues[..colon])?;
    let recv = hex_u32(&queues[colon + 1..])?;
    Some((state, local, remote, send, recv))
}

/// Counts the sockets of one `net/tcp`-format file. `optional` files (tcp6)
/// may be missing: a kernel without IPv6 has none.
fn read_proc_tcp(
    path: &Path,
    optional: bool,
    tally: &mut Tally,
    text: &mut Vec<u8>,
) -> Result<(), SockstatError> {
    text.clear();
    match std::fs::File::open(path).and_then(|mut f| f.read_to_end(text)) {
        Ok(_) => {}
        Err(e) if optional && e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(SockstatError::read(path, e)),
    }
    // The first line is the column header.
    for (index, line) in text.split(|b| *b == b'\n').enumerate().skip(1) {
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let (state, local, remote, send, recv) = parse_proc_tcp_line(line).ok_or_else(|| {
            SockstatError::parse(
                path,
                index + 1,
                "\"sl: local:port remote:port st tx:rx …\" in hex",
            )
        })?;
        tally.add(state, local, remote, send, recv);
    }
    Ok(())
}

/// Reports connection states and queued bytes for the configured ports.
pub struct ConnectionsCollector {
    procfs: PathBuf,
    local_ports: Vec<u16>,
    remote_ports: Vec<u16>,
    bytecode: Option<Vec<u8>>,
    prefer: Source,
    netlink_refused: AtomicBool,
    connections: FamilySpec,
    queued: FamilySpec,
    source: FamilySpec,
}

impl ConnectionsCollector {
    /// Port 0 is dropped: no connected socket has it, and as a remote port
    /// it would match every listening socket.
    pub fn new(
        procfs: impl AsRef<Path>,
        local_ports: &[u16],
        remote_ports: &[u16],
    ) -> ConnectionsCollector {
        let clean = |ports: &[u16]| {
            let mut v: Vec<u16> = ports.iter().copied().filter(|p| *p != 0).collect();
            v.sort_unstable();
            v.dedup();
            v
        };
        let local_ports = clean(local_ports);
        let remote_ports = clean(remote_ports);
        ConnectionsCollector {
            procfs: procfs.as_ref().to_path_buf(),
            bytecode: port_filter(&local_ports, &remote_ports),
            local_ports,
            remote_ports,
            prefer: Source::Netlink,
            netlink_refused: AtomicBool::new(false),
            connections: FamilySpec::gauge(
                "gateway_tcp_connections",
                "TCP sockets by configured port, direction (inbound: the local port; outbound: the remote port) and state, IPv4 and IPv6. From netlink sock_diag, or /proc/net/tcp and tcp6.",
                &["port", "direction", "state"],
            ),
            queued: FamilySpec::gauge(
                "gateway_tcp_queued_bytes",
                "Bytes queued in TCP sockets by configured port and direction: send (written, not yet acknowledged) and receive (arrived, not yet read; a FIN counts one). Listening sockets are not counted.",
                &["port", "direction", "queue"],
            ),
            source: FamilySpec::gauge(
                "gateway_tcp_connections_source",
                "Where gateway_tcp_connections came from at the last scrape: 1 for netlink sock_diag or procfs (/proc/net/tcp, the fallback when netlink is refused), 0 for the other.",
                &["source"],
            ),
        }
    }

    /// `Source::Procfs` skips netlink altogether (for tests, and to compare
    /// the two); `Source::Netlink`, the default, falls back to procfs.
    pub fn with_source(mut self, prefer: Source) -> ConnectionsCollector {
        self.prefer = prefer;
        self
    }

    fn read_netlink(&self, tally: &mut Tally) -> Result<(), DiagError> {
        let mut diag = SockDiag::open()?;
        let bc = self.bytecode.as_deref();
        match diag.dump_tcp(Dump::Both, ALL_TCP_STATES, bc, |s| tally.add_socket(s)) {
            Ok(()) => return Ok(()),
            // A kernel without the compatibility request: one dump per
            // family, after forgetting what the refused dump counted.
            Err(e) if e.is_refused() => tally.clear(),
            Err(e) => return Err(e),
        }
        diag.dump_tcp(Dump::Ipv4, ALL_TCP_STATES, bc, |s| tally.add_socket(s))?;
        match diag.dump_tcp(Dump::Ipv6, ALL_TCP_STATES, bc, |s| tally.add_socket(s)) {
            // A kernel without IPv6 refuses that family only.
            Err(e) if !e.is_refused() => Err(e),
            _ => Ok(()),
        }
    }

    fn read_procfs(&self, tally: &mut Tally) -> Result<(), SockstatError> {
        let mut text = Vec::new();
        read_proc_tcp(&self.procfs.join("net/tcp"), false, tally, &mut text)?;
        read_proc_tcp(&self.procfs.join("net/tcp6"), true, tally, &mut text)
    }

    /// Lists and counts the sockets once, by the preferred source.
    pub fn tally(&self) -> Result<(Tally, Source), SockstatError> {
        let mut tally = Tally::new(&self.local_ports, &self.remote_ports);
        if self.prefer == Source::Procfs {
            self.read_procfs(&mut tally)?;
            return Ok((tally, Source::Procfs));
        }
        match self.read_netlink(&mut tally) {
            Ok(()) => {
                if self.netlink_refused.swap(false, Ordering::Relaxed) {
                    log::info!("netlink sock_diag works again; counting connections through it");
                }
                Ok((tally, Source::Netlink))
            }
            Err(netlink) => {
                if !self.netlink_refused.swap(true, Ordering::Relaxed) {
                    log::warn!(err = netlink.to_string().as_str();
                        "netlink sock_diag refused; counting connections from /proc/net/tcp and tcp6 (slower)");
                }
                // The dump may have stopped halfway.
                tally.clear();
                match self.read_procfs(&mut tally) {
                    Ok(()) => Ok((tally, Source::Procfs)),
                    Err(procfs) => Err(SockstatError::NoConnectionSource {
                        netlink,
                        procfs_path: self.procfs.join("net/tcp"),
                        procfs: Box::new(procfs),
                    }),
                }
            }
        }
    }

    fn emit(&self, tally: &Tally, source: Source, out: &mut Vec<MetricFamily>) {
        let mut connections = self.connections.family();
        let mut queued = self.queued.family();
        for (port, direction, counts) in tally.each() {
            let port = port.to_string();
            let direction = direction.to_string();
            for (state, n) in STATES.iter().zip(counts.states) {
                self.connections
                    .push(&mut connections, &[&port, &direction, state], n as f64);
            }
            self.queued.push(
                &mut queued,
                &[&port, &direction, "send"],
                counts.send_queue as f64,
            );
            self.queued.push(
                &mut queued,
                &[&port, &direction, "receive"],
                counts.recv_queue as f64,
            );
        }
        let mut sources = self.source.family();
        for s in [Source::Netlink, Source::Procfs] {
            self.source.push(
                &mut sources,
                &[&s.to_string()],
                f64::from(u8::from(s == source)),
            );
        }
        out.extend([connections, queued, sources]);
    }
}

impl Scrape for ConnectionsCollector {
    fn name(&self) -> &'static str {
        "connections"
    }

    fn descs(&self) -> Result<Vec<Desc>, prometheus::Error> {
        Ok(vec![
            self.connections.desc()?,
            self.queued.desc()?,
            self.source.desc()?,
        ])
    }

    fn scrape(&self, out: &mut Vec<MetricFamily>) -> Result<(), SockstatError> {
        // Nothing configured, nothing to list: no socket dump at all.
        if self.local_ports.is_empty() && self.remote_ports.is_empty() {
            return Ok(());
        }
        let (tally, source) = self.tally()?;
        self.emit(&tally, source, out);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::sockstat::fixture;

    fn procfs_tally(dir: &str, local: &[u16], remote: &[u16]) -> Result<Tally, SockstatError> {
        ConnectionsCollector::new(fixture(dir), local, remote)
            .with_source(Source::Procfs)
            .tally()
            .map(|(t, _)| t)
    }

    #[test]
    fn parses_v4_and_v6_lines() {
        let v4 = b"   5: 0100007F:A683 0100007F:DD32 01 00000000:00000064 00:00000000 00000000     0        0 56193 1 000000005697874a 20 4 30 10 -1";
        assert_eq!(parse_proc_tcp_line(v4), Some((1, 0xA683, 0xDD32, 0, 100)));
        let v6 = b"   6: 00000000000000000000000001000000:953B 00000000000000000000000001000000:9708 08 00000000:00000001 00:00000000 00000000     0        0 56204 1";
        assert_eq!(parse_proc_tcp_line(v6), Some((8, 0x953B, 0x9708, 0, 1)));
        assert_eq!(
            parse_proc_tcp_line(b"   5: 0100007F:A683 0100007F:DD32 01"),
            None
        );
        assert_eq!(
            parse_proc_tcp_line(b"   5: 0100007F:1A683 0100007F:DD32 01 0:0"),
            None
        );
    }

    /// The capture was taken with three IPv4 connections to port 42627 and
    /// three IPv6 ones to port 38203, one of each with 100 unread bytes and
    /// one of each closed by the client (see the fixtures README).
    #[test]
    fn real_capture() {
        let t = procfs_tally("host-capture", &[42627, 38203], &[42627, 38203]).unwrap();
        for port in [42627, 38203] {
            assert_eq!(t.connections(port, Direction::Inbound, "listen"), 1);
            assert_eq!(t.connections(port, Direction::Inbound, "established"), 2);
            assert_eq!(t.connections(port, Direction::Inbound, "close_wait"), 1);
            assert_eq!(t.connections(port, Direction::Outbound, "established"), 2);
            assert_eq!(t.connections(port, Direction::Outbound, "fin_wait2"), 1);
            assert_eq!(t.connections(port, Direction::Outbound, "listen"), 0);
            let c = t.counts(port, Direction::Inbound).unwrap();
            // 100 unread bytes plus the FIN of the closed connection.
            assert_eq!((c.recv_queue, c.send_queue), (101, 0));
        }
    }

    #[test]
    fn ipv6_only_and_no_ipv6() {
        let t = procfs_tally("ipv6-only", &[25], &[]).unwrap();
        assert_eq!(t.connections(25, Direction::Inbound, "established"), 3);
        assert_eq!(t.connections(25, Direction::Inbound, "listen"), 1);
        let t = procfs_tally("no-ipv6", &[25], &[]).unwrap();
        assert_eq!(t.connections(25, Direction::Inbound, "established"), 2);
    }

    #[test]
    fn a_truncated_line_is_an_error_with_its_line_number() {
        let e = procfs_tally("truncated", &[25], &[]).unwrap_err();
        assert!(matches!(e, SockstatError::Parse { line: 4, .. }), "{e}");
    }

    #[test]
    fn every_configured_series_exists() {
        let c = ConnectionsCollector::new(fixture("no-ipv6"), &[25, 587, 0, 25], &[25])
            .with_source(Source::Procfs);
        let mut out = Vec::new();
        c.scrape(&mut out).unwrap();
        let series = |name: &str| {
            out.iter()
                .find(|f| f.name() == name)
                .unwrap()
                .get_metric()
                .len()
        };
        assert_eq!(series("gateway_tcp_connections"), 3 * STATES.len());
        assert_eq!(series("gateway_tcp_queued_bytes"), 3 * 2);
        assert_eq!(series("gateway_tcp_connections_source"), 2);
        let none = ConnectionsCollector::new(fixture("no-ipv6"), &[], &[]);
        let mut out = Vec::new();
        none.scrape(&mut out).unwrap();
        assert!(out.is_empty());
    }

    #[test]
    fn missing_procfs_is_an_error() {
        let e = procfs_tally("does-not-exist", &[25], &[]).unwrap_err();
        assert!(matches!(e, SockstatError::Read { .. }));
    }

    #[test]
    fn new_syn_recv_and_unknown_states() {
        let mut t = Tally::new(&[25], &[]);
        t.add(TCP_NEW_SYN_RECV, 25, 1000, 0, 0);
        t.add(0, 25, 1000, 0, 0);
        t.add(13, 25, 1000, 0, 0);
        t.add(TCP_LISTEN, 25, 0, 128, 3);
        assert_eq!(t.connections(25, Direction::Inbound, "syn_recv"), 1);
        assert_eq!(t.connections(25, Direction::Inbound, "listen"), 1);
        let c = t.counts(25, Direction::Inbound).unwrap();
        assert_eq!((c.send_queue, c.recv_queue), (0, 0));
    }
}

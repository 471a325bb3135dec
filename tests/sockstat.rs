//! Socket statistics against real loopback sockets: N connections to a
//! listener on an ephemeral port, counted exactly by port, direction and
//! state through netlink and through the `/proc/net/tcp` fallback, then
//! followed through the close handshake. Loopback only, bounded in time.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};

use gateway_exporter::sockstat::connections::{ConnectionsCollector, Source};
use gateway_exporter::sockstat::health::WithHealth;
use gateway_exporter::sockstat::{SockstatConfig, register};
use prometheus::Registry;
use prometheus::proto::MetricFamily;

const N: usize = 1_000;

/// Two fds per connection, plus the listener and the test harness's own.
fn raise_fd_limit(needed: u64) {
    use rustix::process::{Resource, getrlimit, setrlimit};
    let limit = getrlimit(Resource::Nofile);
    if limit.current.is_some_and(|c| c < needed) {
        let target = limit.maximum.map_or(needed, |max| max.min(needed));
        let raised = rustix::process::Rlimit {
            current: Some(target),
            maximum: limit.maximum,
        };
        setrlimit(Resource::Nofile, raised).expect("raise RLIMIT_NOFILE");
    }
}

/// The value of the one sample of `name` whose labels include all of
/// `labels`.
fn value(families: &[MetricFamily], name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let family = families.iter().find(|f| f.name() == name)?;
    let metric = family.get_metric().iter().find(|m| {
        labels.iter().all(|(k, v)| {
            m.get_label()
                .iter()
                .any(|l| l.name() == *k && l.value() == *v)
        })
    })?;
    Some(metric.get_gauge().get_value())
}

struct Scrapes {
    /// Everything `register()` adds, netlink preferred.
    full: Registry,
    /// The connections collector alone, forced onto /proc/net/tcp{,6}.
    procfs: Registry,
    port: String,
}

impl Scrapes {
    fn new(port: u16) -> Scrapes {
        let full = Registry::new();
        let exe = std::env::current_exe().expect("test executable path");
        let me = exe
            .file_name()
            .and_then(|n| n.to_str())
            .expect("UTF-8 executable name")
            .to_string();
        register(
            &full,
            &SockstatConfig {
                procfs: "/proc".into(),
                local_ports: vec![port],
                remote_ports: vec![port],
                process_names: vec![me],
                ..SockstatConfig::default()
            },
        )
        .expect("register");
        let procfs = Registry::new();
        let c = ConnectionsCollector::new("/proc", &[port], &[port]).with_source(Source::Procfs);
        procfs
            .register(Box::new(WithHealth::new(c).expect("descs")))
            .expect("register procfs collector");
        Scrapes {
            full,
            procfs,
            port: port.to_string(),
        }
    }

    /// Connections in `state` for the port, by (netlink, procfs).
    fn connections(&self, direction: &str, state: &str) -> (f64, f64) {
        let labels = [
            ("port", self.port.as_str()),
            ("direction", direction),
            ("state", state),
        ];
        let get = |r: &Registry| {
            value(&r.gather(), "gateway_tcp_connections", &labels).expect("series exists")
        };
        (get(&self.full), get(&self.procfs))
    }

    fn queued(&self, direction: &str, queue: &str) -> (f64, f64) {
        let labels = [
            ("port", self.port.as_str()),
            ("direction", direction),
            ("queue", queue),
        ];
        let get = |r: &Registry| {
            value(&r.gather(), "gateway_tcp_queued_bytes", &labels).expect("series exists")
        };
        (get(&self.full), get(&self.procfs))
    }

    /// Polls until `check` holds for both sources, or fails after a bounded
    /// wait: loopback state changes take microseconds, but a loaded CI
    /// machine may delay the ACKs.
    fn wait_for(&self, what: &str, check: impl Fn(&Scrapes) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while !check(self) {
            if Instant::now() > deadline {
                let states = [
                    "established",
                    "fin_wait2",
                    "close_wait",
                    "time_wait",
                    "last_ack",
                ];
                let now: Vec<String> = ["inbound", "outbound"]
                    .iter()
                    .flat_map(|d| {
                        states
                            .iter()
                            .map(move |s| format!("{d} {s}: {:?}", self.connections(d, s)))
                    })
                    .collect();
                panic!("timed out waiting for {what}; now {now:#?}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

#[test]
fn loopback_connections_are_counted_by_port_direction_and_state() {
    raise_fd_limit(2 * N as u64 + 256);
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
    let port = listener.local_addr().expect("local addr").port();
    let n = N as f64;

    // Accept each connection as it is made: the listen backlog is far
    // smaller than N.
    let mut clients = Vec::with_capacity(N);
    let mut servers = Vec::with_capacity(N);
    for _ in 0..N {
        clients.push(TcpStream::connect(("127.0.0.1", port)).expect("connect"));
        servers.push(listener.accept().expect("accept").0);
    }
    let s = Scrapes::new(port);

    let gathered = s.full.gather();
    for collector in ["snmp", "sockstat", "connections", "witness"] {
        assert_eq!(
            value(
                &gathered,
                "gateway_collector_up",
                &[("collector", collector)]
            ),
            Some(1.0),
            "{collector}"
        );
    }
    assert_eq!(
        value(
            &gathered,
            "gateway_tcp_connections_source",
            &[("source", "netlink")]
        ),
        Some(1.0),
        "netlink sock_diag should work on this kernel"
    );
    assert!(
        value(&gathered, "gateway_process_start_time_seconds", &[]).is_some(),
        "this test process is found by name"
    );
    assert!(value(&gathered, "gateway_tcp_curr_estab", &[]).is_some_and(|v| v >= 2.0 * n));

    // Exactly N each way, by both sources; the listener is the one inbound
    // listen socket, and nothing connects from the port.
    assert_eq!(s.connections("inbound", "established"), (n, n));
    assert_eq!(s.connections("outbound", "established"), (n, n));
    assert_eq!(s.connections("inbound", "listen"), (1.0, 1.0));
    assert_eq!(s.connections("outbound", "listen"), (0.0, 0.0));

    // Unread bytes sit in the server sockets' receive queues.
    for c in &mut clients {
        c.write_all(b"0123456789").expect("write");
    }
    s.wait_for("10 unread bytes per connection", |s| {
        s.queued("inbound", "receive") == (10.0 * n, 10.0 * n)
            && s.queued("outbound", "send") == (0.0, 0.0)
    });
    // Read them so closing later sends a FIN, not a RST.
    let mut buf = [0u8; 10];
    for sv in &mut servers {
        sv.read_exact(&mut buf).expect("read");
    }

    // The clients close: their sockets go FIN-WAIT-2, the servers'
    // CLOSE-WAIT.
    drop(clients);
    s.wait_for("clients in FIN-WAIT-2, servers in CLOSE-WAIT", |s| {
        s.connections("inbound", "established") == (0.0, 0.0)
            && s.connections("outbound", "established") == (0.0, 0.0)
            && s.connections("inbound", "close_wait") == (n, n)
            && s.connections("outbound", "fin_wait2") == (n, n)
    });

    // The servers close too: the clients' sockets go TIME-WAIT. A previous
    // run that drew the same ephemeral port within 60 s may still have
    // TIME-WAIT sockets to it, hence at least N.
    drop(servers);
    s.wait_for("clients in TIME-WAIT, servers gone", |s| {
        let (netlink, procfs) = s.connections("outbound", "time_wait");
        netlink >= n
            && procfs == netlink
            && s.connections("inbound", "close_wait") == (0.0, 0.0)
            && s.connections("inbound", "last_ack") == (0.0, 0.0)
            && s.connections("outbound", "fin_wait2") == (0.0, 0.0)
    });
}

#[test]
fn every_state_of_an_idle_port_is_zero_and_bad_procfs_only_downs_the_file_readers() {
    // A port nothing listens on: bind and drop to find a free one.
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let registry = Registry::new();
    register(
        &registry,
        &SockstatConfig {
            procfs: "/nonexistent/proc".into(),
            local_ports: vec![port],
            remote_ports: vec![port],
            process_names: vec!["master".into()],
            ..SockstatConfig::default()
        },
    )
    .expect("register");
    let gathered = registry.gather();
    let connections = gathered
        .iter()
        .find(|f| f.name() == "gateway_tcp_connections")
        .expect("connections family");
    assert_eq!(connections.get_metric().len(), 2 * 11);
    assert!(
        connections
            .get_metric()
            .iter()
            .all(|m| m.get_gauge().get_value() == 0.0)
    );
    for (collector, up) in [
        ("snmp", 0.0),
        ("sockstat", 0.0),
        ("witness", 0.0),
        // Netlink needs no procfs.
        ("connections", 1.0),
    ] {
        assert_eq!(
            value(
                &gathered,
                "gateway_collector_up",
                &[("collector", collector)]
            ),
            Some(up),
            "{collector}"
        );
    }
    // The text exposition still renders.
    let text = gateway_exporter::metrics::render_registry(&registry);
    assert!(text.contains("gateway_collector_duration_seconds{collector=\"snmp\"}"));
}

//! Syslog sources against real clients on loopback: util-linux `logger`
//! (RFC 3164 and 5424, UDP, TCP with newline framing and with octet
//! counting), real `rsyslogd` relaying a file over TCP, ten concurrent
//! clients with one stalled mid-frame, and malformed frames.

mod support;

use std::io::Write;
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::process::Command;
use std::time::{Duration, Instant};

use support::{Exporter, append, require, sum, tmpdir};

const NOTCONN: &[(&str, &str)] = &[("errname", "ENOTCONN")];

/// Starts an exporter with one syslog source `gw` listening on ephemeral
/// loopback ports, and returns it with the addresses it bound.
fn syslog_exporter(name: &str, listen: &[&str], extra: &str) -> (Exporter, Vec<String>) {
    let dir = tmpdir(name);
    let cfg = dir.join("gw.yml");
    let listen: Vec<String> = listen.iter().map(|l| format!("{l:?}")).collect();
    std::fs::write(
        &cfg,
        format!(
            "sources:\n  - name: gw\n    type: syslog\n    profile: msmail\n    listen: [{}]\n{extra}",
            listen.join(", ")
        ),
    )
    .unwrap();
    let e = Exporter::start(&["--config", cfg.to_str().unwrap(), "--state.dir", ""]);
    let bound: Vec<String> = e
        .log_lines()
        .iter()
        .filter(|l| l.contains("listening for syslog"))
        .filter_map(|l| {
            l.split_whitespace()
                .find_map(|f| f.strip_prefix("address="))
                .map(String::from)
        })
        .collect();
    assert_eq!(bound.len(), listen.len(), "{:?}", e.log_lines());
    (e, bound)
}

fn addr_of(bound: &str) -> SocketAddr {
    bound.split("://").nth(1).unwrap().parse().unwrap()
}

fn line(i: usize) -> String {
    format!("{i:06} ERROR write: (57) Socket is not connected")
}

#[test]
fn logger_over_udp_and_tcp_in_every_format() {
    let Some(logger) = require("logger") else {
        return;
    };
    let (e, bound) = syslog_exporter(
        "syslog-logger",
        &["udp://127.0.0.1:0", "tcp://127.0.0.1:0"],
        "",
    );
    let udp = addr_of(&bound[0]);
    let tcp = addr_of(&bound[1]);
    let cases: [(&str, SocketAddr, &[&str]); 4] = [
        ("udp rfc3164", udp, &["--udp", "--rfc3164"]),
        ("udp rfc5424", udp, &["--udp", "--rfc5424"]),
        ("tcp newline", tcp, &["--tcp", "--rfc5424"]),
        (
            "tcp octet-count",
            tcp,
            &["--tcp", "--octet-count", "--rfc5424"],
        ),
    ];
    let mut want = 0.0;
    for (case, addr, args) in cases {
        for i in 0..5 {
            let status = Command::new(&logger)
                .args([
                    "--server",
                    &addr.ip().to_string(),
                    "--port",
                    &addr.port().to_string(),
                ])
                .args(args)
                .args(["-t", "smtpgate", &line(want as usize + i)])
                .status()
                .unwrap();
            assert!(status.success(), "{case}");
        }
        want += 5.0;
        e.wait_for("gateway_socket_errors_total", NOTCONN, want);
    }
    let text = e.scrape();
    assert_eq!(
        sum(&text, "gateway_syslog_malformed_total", &[]),
        Some(0.0),
        "{text}"
    );
    // The kernel's drop count of the UDP socket is exported (0 here).
    assert_eq!(
        sum(
            &text,
            "gateway_syslog_udp_drops_total",
            &[("listen", bound[0].as_str())]
        ),
        Some(0.0),
        "{text}"
    );
    assert_eq!(sum(&text, "gateway_log_up", &[("source", "gw")]), Some(1.0));
}

#[test]
fn the_flag_forms_a_syslog_source() {
    let e = Exporter::start(&[
        "--gateway.syslog-listen",
        "udp://127.0.0.1:0",
        "--log.profile",
        "msmail",
        "--state.dir",
        "",
    ]);
    let bound = e
        .log_lines()
        .iter()
        .find(|l| l.contains("listening for syslog"))
        .and_then(|l| {
            l.split_whitespace()
                .find_map(|f| f.strip_prefix("address=udp://"))
        })
        .map(String::from)
        .unwrap();
    let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
    let msg = format!("<13>Dec  1 20:00:00 mx1 smtpgate: {}", line(1));
    udp.send_to(msg.as_bytes(), bound.as_str()).unwrap();
    e.wait_for(
        "gateway_socket_errors_total",
        &[("source", "syslog"), ("errname", "ENOTCONN")],
        1.0,
    );
    // A bad address is named with its flag, exit 2.
    let out = Command::new(env!("CARGO_BIN_EXE_gateway_exporter"))
        .args(["--gateway.syslog-listen", "udp:/nowhere", "--state.dir", ""])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--gateway.syslog-listen"));
}

#[test]
fn rsyslogd_relays_a_file_over_tcp() {
    let Some(rsyslogd) = require("rsyslogd") else {
        return;
    };
    let (e, bound) = syslog_exporter("syslog-rsyslog", &["tcp://127.0.0.1:0"], "");
    let tcp = addr_of(&bound[0]);
    let dir = tmpdir("rsyslog-run");
    let input = dir.join("in.log");
    append(&input, "");
    std::fs::create_dir_all(dir.join("work")).unwrap();
    let conf = dir.join("rsyslog.conf");
    std::fs::write(
        &conf,
        format!(
            "global(workDirectory=\"{work}\")\n\
             module(load=\"imfile\")\n\
             input(type=\"imfile\" file=\"{input}\" tag=\"smtpgate:\" ruleset=\"fwd\")\n\
             ruleset(name=\"fwd\") {{\n\
               action(type=\"omfwd\" target=\"{ip}\" port=\"{port}\" protocol=\"tcp\")\n\
             }}\n",
            work = dir.join("work").display(),
            input = input.display(),
            ip = tcp.ip(),
            port = tcp.port(),
        ),
    )
    .unwrap();
    let mut rsyslog = Command::new(rsyslogd)
        .args(["-n", "-f", conf.to_str().unwrap()])
        .arg(format!("-i{}", dir.join("rsyslogd.pid").display()))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // imfile reads from the end of a file it has never seen: give it a
    // moment to see this one before writing.
    std::thread::sleep(Duration::from_millis(1500));
    let lines: String = (0..20).map(|i| line(i) + "\n").collect();
    append(&input, &lines);
    e.wait_for("gateway_socket_errors_total", NOTCONN, 20.0);
    let _ = rsyslog.kill();
    let _ = rsyslog.wait();
}

#[test]
fn a_stalled_client_holds_up_nobody_and_bad_frames_are_counted() {
    let (e, bound) = syslog_exporter(
        "syslog-stall",
        &["tcp://127.0.0.1:0", "udp://127.0.0.1:0"],
        "    max_message_bytes: 1024\n",
    );
    let tcp = addr_of(&bound[0]);
    // Mid-frame: an octet count promising more than it sends.
    let mut stalled = TcpStream::connect(tcp).unwrap();
    stalled.write_all(b"500 <13>smtpgate: half a mess").unwrap();
    std::thread::sleep(Duration::from_millis(200));
    let started = Instant::now();
    let clients: Vec<_> = (0..9)
        .map(|c| {
            std::thread::spawn(move || {
                let mut s = TcpStream::connect(tcp).unwrap();
                for i in 0..10 {
                    writeln!(s, "<13>smtpgate: {}", line(c * 100 + i)).unwrap();
                }
            })
        })
        .collect();
    for c in clients {
        c.join().unwrap();
    }
    e.wait_for("gateway_socket_errors_total", NOTCONN, 90.0);
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );

    // Malformed frames of every kind, then a good one: each counted by
    // reason, none a crash, the good one still counted.
    let mut s = TcpStream::connect(tcp).unwrap();
    s.write_all(b"no pri at all\n").unwrap();
    s.write_all(format!("<13>smtpgate: {}\n", "x".repeat(2000)).as_bytes())
        .unwrap();
    s.write_all(b"<13>smtpgate: binary\0inside\n").unwrap();
    s.write_all(format!("<13>smtpgate: {}\n", line(9999)).as_bytes())
        .unwrap();
    drop(s);
    let mut s = TcpStream::connect(tcp).unwrap();
    s.write_all(b"40 <13>smtpgate: cut short").unwrap();
    drop(s);
    let mut s = TcpStream::connect(tcp).unwrap();
    s.write_all(b"4x2 <13>a").unwrap();
    drop(s);
    let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
    udp.send_to(&[0xff, 0xfe, 0x00, 0x01], addr_of(&bound[1]))
        .unwrap();
    e.wait_for("gateway_socket_errors_total", NOTCONN, 91.0);
    // The UDP datagram holds a NUL: binary, like the TCP one.
    for (reason, n) in [
        ("bad_pri", 1.0),
        ("oversize", 1.0),
        ("binary", 2.0),
        ("truncated", 1.0),
        ("bad_frame", 1.0),
    ] {
        e.wait_for("gateway_syslog_malformed_total", &[("reason", reason)], n);
    }
    drop(stalled);
}

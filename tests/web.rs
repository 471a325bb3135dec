//! `--web.config.file` against real TLS clients: certificates made by the
//! `openssl` tool for each run, handshakes by `openssl s_client`, requests
//! by `curl`, and a real Prometheus scraping over TLS with basic auth.
//! Loopback only; every wait is bounded.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use support::{Exporter, Prometheus, require, tmpdir};

const PASSWORD: &str = "correct horse battery staple";

fn run(cmd: &mut Command) -> std::process::Output {
    let out = cmd.output().expect("run tool");
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// A CA, a server certificate for 127.0.0.1/localhost, a client signed by
/// the CA (SAN `prometheus.example`), another signed one (SAN
/// `intruder.example`) and a self-signed client.
struct Pki {
    dir: PathBuf,
}

impl Pki {
    fn make(dir: &Path, openssl: &Path) -> Pki {
        let o = |args: &[&str]| {
            run(Command::new(openssl).current_dir(dir).args(args));
        };
        o(&[
            "ecparam",
            "-name",
            "prime256v1",
            "-genkey",
            "-noout",
            "-out",
            "ca.key",
        ]);
        o(&[
            "req",
            "-x509",
            "-new",
            "-key",
            "ca.key",
            "-subj",
            "/CN=test CA",
            "-days",
            "2",
            "-out",
            "ca.pem",
        ]);
        let leaf = |name: &str, san: &str, ext: &str| {
            o(&[
                "ecparam",
                "-name",
                "prime256v1",
                "-genkey",
                "-noout",
                "-out",
                &format!("{name}.key"),
            ]);
            o(&[
                "req",
                "-new",
                "-key",
                &format!("{name}.key"),
                "-subj",
                &format!("/CN={name}"),
                "-out",
                &format!("{name}.csr"),
            ]);
            std::fs::write(
                dir.join(format!("{name}.ext")),
                format!("subjectAltName={san}\nextendedKeyUsage={ext}\n"),
            )
            .unwrap();
            o(&[
                "x509",
                "-req",
                "-in",
                &format!("{name}.csr"),
                "-CA",
                "ca.pem",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-days",
                "2",
                "-extfile",
                &format!("{name}.ext"),
                "-out",
                &format!("{name}.pem"),
            ]);
        };
        leaf("server", "IP:127.0.0.1,DNS:localhost", "serverAuth");
        leaf("client", "DNS:prometheus.example", "clientAuth");
        leaf("intruder", "DNS:intruder.example", "clientAuth");
        o(&[
            "ecparam",
            "-name",
            "prime256v1",
            "-genkey",
            "-noout",
            "-out",
            "rogue.key",
        ]);
        o(&[
            "req",
            "-x509",
            "-new",
            "-key",
            "rogue.key",
            "-subj",
            "/CN=rogue",
            "-days",
            "2",
            "-addext",
            "subjectAltName=DNS:prometheus.example",
            "-out",
            "rogue.pem",
        ]);
        Pki {
            dir: dir.to_path_buf(),
        }
    }

    fn path(&self, name: &str) -> String {
        self.dir.join(name).display().to_string()
    }
}

fn hash(password: &str) -> String {
    // Cost 4 keeps the test quick; the format is what htpasswd -B writes.
    bcrypt::hash(password, 4)
        .unwrap()
        .replacen("$2b$", "$2y$", 1)
}

fn write_web_config(dir: &Path, text: &str) -> PathBuf {
    let path = dir.join("web.yml");
    std::fs::write(&path, text).unwrap();
    path
}

fn start(dir: &Path, web_config: &Path) -> Exporter {
    let log = dir.join("gw.log");
    std::fs::write(&log, "ERROR write: (57) Socket is not connected\n").unwrap();
    Exporter::start(&[
        "--gateway.log-path",
        log.to_str().unwrap(),
        "--gateway.log-profile",
        "msmail",
        "--gateway.start-at",
        "beginning",
        "--web.config.file",
        web_config.to_str().unwrap(),
    ])
}

/// `curl` over TLS; returns (status, headers and body) or None when the
/// connection failed (handshake refused).
fn curl(pki: &Pki, port: u16, path: &str, extra: &[&str]) -> Option<(u16, String)> {
    let out = Command::new("curl")
        .args([
            "-sS",
            "-i",
            "--max-time",
            "5",
            "--cacert",
            &pki.path("ca.pem"),
        ])
        .args(extra)
        .arg(format!("https://127.0.0.1:{port}{path}"))
        .stdin(Stdio::null())
        .output()
        .unwrap();
    if !out.status.success() {
        return None;
    }
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let status = text.split_whitespace().nth(1)?.parse().ok()?;
    Some((status, text))
}

/// What `openssl s_client` negotiates with exactly one protocol version
/// allowed (`-tls1` … `-tls1_3`); `Err` with the client's output when the
/// handshake fails.
fn handshake(openssl: &Path, port: u16, version_flag: &str, ca: &str) -> Result<String, String> {
    let out = Command::new(openssl)
        .args([
            "s_client",
            "-brief",
            "-connect",
            &format!("127.0.0.1:{port}"),
            version_flag,
        ])
        .args(["-CAfile", ca])
        // Let the client offer the old versions at all: Debian's default
        // security level refuses them before the server could.
        .args(["-cipher", "DEFAULT:@SECLEVEL=0"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stderr).into_owned() + &String::from_utf8_lossy(&out.stdout);
    text.lines()
        .find_map(|l| l.strip_prefix("Protocol version: "))
        .map(str::to_string)
        .filter(|_| out.status.success())
        .ok_or(text)
}

/// The server refused the version: its alert reached the client, so the
/// client did offer that version (it was not the client's own policy).
fn refused_by_server(result: Result<String, String>) -> bool {
    matches!(&result, Err(text) if text.contains("alert"))
}

/// `curl` of /metrics presenting the certificate and key `name`.
fn curl_as(pki: &Pki, port: u16, name: &str) -> Option<(u16, String)> {
    let cert = pki.path(&format!("{name}.pem"));
    let key = pki.path(&format!("{name}.key"));
    curl(pki, port, "/metrics", &["--cert", &cert, "--key", &key])
}

fn tools() -> Option<(PathBuf, PathBuf)> {
    Some((require("openssl")?, require("curl")?))
}

#[test]
fn tls_versions_basic_auth_and_headers() {
    let Some((openssl, _)) = tools() else { return };
    let dir = tmpdir("web-tls");
    let pki = Pki::make(&dir, &openssl);
    let web = write_web_config(
        &dir,
        &format!(
            "tls_server_config:\n  cert_file: server.pem\n  key_file: server.key\n\
             basic_auth_users:\n  prometheus: '{}'\n\
             http_server_config:\n  headers:\n    X-Frame-Options: deny\n    X-Content-Type-Options: nosniff\n",
            hash(PASSWORD)
        ),
    );
    let exporter = start(&dir, &web);
    let port = exporter.addr.port();
    let ca = pki.path("ca.pem");

    assert_eq!(
        handshake(&openssl, port, "-tls1_2", &ca).as_deref(),
        Ok("TLSv1.2")
    );
    assert_eq!(
        handshake(&openssl, port, "-tls1_3", &ca).as_deref(),
        Ok("TLSv1.3")
    );
    for old in ["-tls1_1", "-tls1"] {
        let result = handshake(&openssl, port, old, &ca);
        assert!(refused_by_server(result.clone()), "{old}: {result:?}");
    }
    // The control: the same client command does speak TLS 1.0 to a server
    // that offers it, so the refusal above is the exporter's.
    let control_port = support::free_port();
    let mut control = Command::new(&openssl)
        .current_dir(&dir)
        .args(["s_server", "-quiet", "-accept", &control_port.to_string()])
        .args(["-cert", "server.pem", "-key", "server.key", "-tls1"])
        .args(["-cipher", "DEFAULT:@SECLEVEL=0"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", control_port)).is_err() {
        assert!(Instant::now() < deadline, "openssl s_server did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    let spoken = handshake(&openssl, control_port, "-tls1", &ca);
    let _ = control.kill();
    let _ = control.wait();
    assert_eq!(
        spoken.as_deref(),
        Ok("TLSv1"),
        "the client cannot speak TLS 1.0 here"
    );

    let (status, text) = curl(&pki, port, "/metrics", &[]).expect("TLS request");
    assert_eq!(status, 401, "{text}");
    assert!(
        text.to_ascii_lowercase()
            .contains("www-authenticate: basic"),
        "{text}"
    );
    let (status, _) = curl(&pki, port, "/metrics", &["-u", "prometheus:wrong"]).unwrap();
    assert_eq!(status, 401);
    let (status, _) = curl(
        &pki,
        port,
        "/metrics",
        &["-u", &format!("nobody:{PASSWORD}")],
    )
    .unwrap();
    assert_eq!(status, 401);
    let user = format!("prometheus:{PASSWORD}");
    let (status, text) = curl(&pki, port, "/metrics", &["-u", &user]).unwrap();
    assert_eq!(status, 200, "{text}");
    assert!(text.contains("gateway_socket_errors_total"), "{text}");
    let lower = text.to_ascii_lowercase();
    assert!(lower.contains("x-frame-options: deny"), "{text}");
    assert!(lower.contains("x-content-type-options: nosniff"), "{text}");
    // Every route is behind the same door.
    assert_eq!(curl(&pki, port, "/", &[]).unwrap().0, 401);
    // Plain HTTP on the TLS port gets no metrics.
    {
        use std::io::{Read, Write};
        let mut plain = std::net::TcpStream::connect(exporter.addr).unwrap();
        plain
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let _ = plain.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
        let mut answer = Vec::new();
        let _ = plain.read_to_end(&mut answer);
        assert!(
            !answer.starts_with(b"HTTP/1.1 200"),
            "metrics served over plain HTTP"
        );
    }

    // The file is re-read when it changes: a new password applies without
    // a restart, and the old one stops working.
    let new_password = "rotated";
    std::fs::write(
        &web,
        format!(
            "tls_server_config:\n  cert_file: server.pem\n  key_file: server.key\nbasic_auth_users:\n  prometheus: '{}'\n",
            hash(new_password)
        ),
    )
    .unwrap();
    let rotated = format!("prometheus:{new_password}");
    let deadline = Instant::now() + Duration::from_secs(10);
    while curl(&pki, port, "/metrics", &["-u", &rotated]).map(|r| r.0) != Some(200) {
        assert!(
            Instant::now() < deadline,
            "the changed web config was not applied"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(curl(&pki, port, "/metrics", &["-u", &user]).unwrap().0, 401);

    // A broken file keeps the last good one serving, and says so once.
    std::fs::write(&web, "basic_auth_users:\n  prometheus: plaintext\n").unwrap();
    std::thread::sleep(Duration::from_millis(2500));
    assert_eq!(
        curl(&pki, port, "/metrics", &["-u", &rotated]).unwrap().0,
        200
    );
    let complaints = exporter
        .log_lines()
        .iter()
        .filter(|l| l.contains("cannot reload the web configuration"))
        .count();
    assert_eq!(complaints, 1, "{:?}", exporter.log_lines());
}

#[test]
fn client_certificates_signed_unsigned_and_sans() {
    let Some((openssl, _)) = tools() else { return };
    let dir = tmpdir("web-mtls");
    let pki = Pki::make(&dir, &openssl);
    let web = write_web_config(
        &dir,
        "tls_server_config:\n  cert_file: server.pem\n  key_file: server.key\n  \
         client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: ca.pem\n",
    );
    let exporter = start(&dir, &web);
    let port = exporter.addr.port();
    let as_client = |name: &str| curl_as(&pki, port, name);
    assert_eq!(as_client("client").map(|r| r.0), Some(200));
    assert_eq!(as_client("intruder").map(|r| r.0), Some(200));
    assert_eq!(
        as_client("rogue"),
        None,
        "an unsigned client certificate was accepted"
    );
    assert_eq!(
        curl(&pki, port, "/metrics", &[]),
        None,
        "no client certificate was accepted"
    );
    drop(exporter);

    // client_allowed_sans: signed is not enough, the name must match.
    let web = write_web_config(
        &dir,
        "tls_server_config:\n  cert_file: server.pem\n  key_file: server.key\n  \
         client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: ca.pem\n  \
         client_allowed_sans: [prometheus.example]\n",
    );
    let exporter = start(&dir, &web);
    let port = exporter.addr.port();
    let as_client = |name: &str| curl_as(&pki, port, name);
    assert_eq!(as_client("client").map(|r| r.0), Some(200));
    assert_ne!(
        as_client("intruder").map(|r| r.0),
        Some(200),
        "a SAN outside the list was served"
    );
}

#[test]
fn bad_web_configs_are_refused_at_start_with_their_place() {
    let dir = tmpdir("web-bad");
    let log = dir.join("gw.log");
    std::fs::write(&log, "").unwrap();
    for (text, expected) in [
        (
            "basic_auth_users:\n  prometheus: plaintext\n",
            "web.yml:2:15: basic_auth_users.prometheus: expected a bcrypt hash",
        ),
        (
            "tls_server_config:\n  cert_file: missing.pem\n  key_file: missing.key\n",
            "web.yml:2:14: tls_server_config.cert_file: cannot read",
        ),
        (
            "tls_server_config:\n  client_auth_type: Sometimes\n",
            "unknown \"Sometimes\"",
        ),
        (
            "http_server_config:\n  headers:\n    Server: mine\n",
            "Server cannot be set",
        ),
        (
            "http_server_config:\n  headers:\n    X-Frame-Options: allow\n",
            "expected deny or sameorigin",
        ),
        ("basic_auth_user:\n  a: b\n", "web.yml:1:1"),
    ] {
        let web = write_web_config(&dir, text);
        let out = Command::new(env!("CARGO_BIN_EXE_gateway_exporter"))
            .args([
                "--gateway.log-path",
                log.to_str().unwrap(),
                "--state.dir",
                "",
            ])
            .args([
                "--web.listen-address",
                "127.0.0.1:0",
                "--web.config.file",
                web.to_str().unwrap(),
            ])
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{text}: {err}");
        assert!(err.contains(expected), "{text}: want {expected:?} in {err}");
    }
}

#[test]
fn the_shipped_example_passes_promtool() {
    let Some(promtool) = require("promtool") else {
        return;
    };
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/web-config.example.yml");
    // promtool checks the files the example names; give it a directory
    // where they exist.
    let Some((openssl, _)) = tools() else { return };
    let dir = tmpdir("web-example");
    Pki::make(&dir, &openssl);
    for (from, to) in [
        ("server.pem", "gateway_exporter.crt"),
        ("server.key", "gateway_exporter.key"),
        ("ca.pem", "prometheus-ca.crt"),
    ] {
        std::fs::copy(dir.join(from), dir.join(to)).unwrap();
    }
    let copy = dir.join("web-config.yml");
    std::fs::copy(&example, &copy).unwrap();
    let out = Command::new(promtool)
        .args(["check", "web-config", copy.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // And the exporter itself starts on it.
    let exporter = start(&dir, &copy);
    assert!(exporter.addr.port() > 0);
}

#[test]
fn prometheus_scrapes_over_tls_with_basic_auth() {
    let Some((openssl, _)) = tools() else { return };
    let Some(prometheus) = require("prometheus") else {
        return;
    };
    let dir = tmpdir("web-prom");
    let pki = Pki::make(&dir, &openssl);
    let web = write_web_config(
        &dir,
        &format!(
            "tls_server_config:\n  cert_file: server.pem\n  key_file: server.key\nbasic_auth_users:\n  prometheus: '{}'\n",
            hash(PASSWORD)
        ),
    );
    let exporter = start(&dir, &web);
    let prom_dir = dir.join("prom");
    std::fs::create_dir_all(&prom_dir).unwrap();
    let config = format!(
        "global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: gateway\n    scheme: https\n    \
         tls_config:\n      ca_file: {ca}\n    basic_auth:\n      username: prometheus\n      password: '{PASSWORD}'\n    \
         static_configs:\n      - targets: ['127.0.0.1:{port}']\n",
        ca = pki.path("ca.pem"),
        port = exporter.addr.port()
    );
    let prom = Prometheus::start(&prometheus, &prom_dir, &config, &[]);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let errors = prom.query("sum(gateway_socket_errors_total{errname=\"ENOTCONN\"})");
        let up = prom.query("up{job=\"gateway\"}");
        if up.first().map(|r| r.1) == Some(1.0) && errors.first().map(|r| r.1) == Some(1.0) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "Prometheus did not scrape over TLS: up={up:?} errors={errors:?}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// `--web.systemd-socket` under systemd's own activation helper: the
/// exporter serves the socket it is handed and binds nothing itself.
#[test]
fn systemd_socket_activation() {
    let Some(activate) = require("systemd-socket-activate") else {
        return;
    };
    let dir = tmpdir("web-socket");
    let log = dir.join("gw.log");
    std::fs::write(&log, "ERROR write: (57) Socket is not connected\n").unwrap();
    let port = support::free_port();
    let state = dir.join("state");
    // The helper holds the socket and starts the exporter (in its own
    // process, by exec) at the first connection.
    let mut child = Command::new(activate)
        .args([
            "-l",
            &format!("127.0.0.1:{port}"),
            env!("CARGO_BIN_EXE_gateway_exporter"),
        ])
        .args([
            "--gateway.log-path",
            log.to_str().unwrap(),
            "--gateway.log-profile",
            "msmail",
        ])
        .args(["--gateway.start-at", "beginning", "--web.systemd-socket"])
        .arg(format!("--state.dir={}", state.display()))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let addr: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut counted = None;
    while Instant::now() < deadline {
        if std::net::TcpStream::connect(addr).is_ok() {
            let (status, body) = support::http_get(addr, "/metrics");
            if status == 200 {
                counted = support::sum(
                    &body,
                    "gateway_socket_errors_total",
                    &[("errname", "ENOTCONN")],
                );
                if counted == Some(1.0) {
                    break;
                }
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(
        counted,
        Some(1.0),
        "the exporter did not serve the passed socket"
    );

    // Without a passed socket the flag is a usage error, not a silent bind.
    let out = Command::new(env!("CARGO_BIN_EXE_gateway_exporter"))
        .args([
            "--gateway.log-path",
            log.to_str().unwrap(),
            "--state.dir",
            "",
            "--web.systemd-socket",
        ])
        .env_remove("LISTEN_FDS")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("LISTEN_FDS"));

    // The shipped socket unit verifies beside the service.
    if let Some(analyze) = require("systemd-analyze") {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/systemd");
        let out = Command::new(analyze)
            .args(["verify", "--man=no"])
            .arg(root.join("gateway_exporter.socket"))
            .arg(root.join("gateway_exporter.service"))
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            !err.contains("gateway_exporter.socket"),
            "systemd-analyze verify: {err}"
        );
    }
}

//! Shared helpers for tests that run the real binary and real components.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A fresh temporary directory for one test.
pub fn tmpdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("gwexp-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

pub fn under_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
}

/// The path of an external tool, or `None` when the test must skip. Under
/// CI a missing tool is a failure, never a skip.
pub fn require(tool: &str) -> Option<PathBuf> {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|p| p.join(tool))
            .find(|p| p.is_file())
    });
    if found.is_none() {
        assert!(
            !under_ci(),
            "{tool} is required under CI (run tests/run-all.sh, which installs it)"
        );
        eprintln!("SKIP: {tool} not installed (tests/run-all.sh installs it)");
    }
    found
}

/// Appends `text` to `path`, creating it.
pub fn append(path: &Path, text: &str) {
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap();
    f.write_all(text.as_bytes()).unwrap();
}

/// A running exporter on an ephemeral loopback port.
pub struct Exporter {
    child: Child,
    pub addr: SocketAddr,
    log: Arc<Mutex<Vec<String>>>,
}

impl Exporter {
    /// Starts `gateway_exporter` with `args` plus a loopback listen address
    /// and a short poll interval, and waits until it listens.
    pub fn start(args: &[&str]) -> Exporter {
        Self::start_with(Command::new(env!("CARGO_BIN_EXE_gateway_exporter")), args)
    }

    pub fn start_with(cmd: Command, args: &[&str]) -> Exporter {
        Self::spawn(cmd, args, Stdio::null())
    }

    /// Starts it without a `--state.dir` of the test's: the exporter's
    /// own default applies (the caller isolates it, e.g. through HOME).
    pub fn start_with_default_state(mut cmd: Command, args: &[&str]) -> Exporter {
        cmd.env("GWEXP_TEST_DEFAULT_STATE", "1");
        Self::spawn(cmd, args, Stdio::null())
    }

    /// Starts it with a pipe on its standard input, and hands the pipe over.
    pub fn start_piped(args: &[&str]) -> (Exporter, std::process::ChildStdin) {
        let cmd = Command::new(env!("CARGO_BIN_EXE_gateway_exporter"));
        let mut e = Self::spawn(cmd, args, Stdio::piped());
        let stdin = e.child.stdin.take().unwrap();
        (e, stdin)
    }

    fn spawn(mut cmd: Command, args: &[&str], stdin: Stdio) -> Exporter {
        // Tests never share the default state directory: each exporter
        // gets its own.
        let default_state = cmd.get_envs().any(|(k, _)| k == "GWEXP_TEST_DEFAULT_STATE");
        if !args.contains(&"--state.dir") && !default_state {
            static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
            let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let dir = tmpdir(&format!("state-{n}"));
            cmd.arg("--state.dir").arg(dir);
        }
        let mut child = cmd
            .args(args)
            .args([
                "--web.listen-address",
                "127.0.0.1:0",
                "--log.poll-interval",
                "100ms",
            ])
            .stdin(stdin)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start gateway_exporter");
        let stderr = child.stderr.take().unwrap();
        let log = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let log2 = Arc::clone(&log);
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(addr) = line
                    .split_whitespace()
                    .find_map(|f| f.strip_prefix("address="))
                    .filter(|_| line.contains("msg=listening"))
                {
                    let _ = tx.send(addr.to_string());
                }
                log2.lock().unwrap().push(line);
            }
        });
        let addr = match rx.recv_timeout(Duration::from_secs(30)) {
            Ok(a) => a.parse().unwrap(),
            Err(_) => {
                let _ = child.kill();
                panic!("exporter did not start: {:?}", log.lock().unwrap());
            }
        };
        Exporter { child, addr, log }
    }

    pub fn log_lines(&self) -> Vec<String> {
        self.log.lock().unwrap().clone()
    }

    pub fn get(&self, path: &str) -> (u16, String) {
        http_get(self.addr, path)
    }

    pub fn scrape(&self) -> String {
        let (status, body) = self.get("/metrics");
        assert_eq!(status, 200);
        body
    }

    /// Waits until `sum(name{labels})` equals `want`; panics with the last
    /// scrape after `timeout`.
    pub fn wait_for(&self, name: &str, labels: &[(&str, &str)], want: f64) {
        self.wait_for_long(name, labels, want, Duration::from_secs(20));
    }

    /// [`Exporter::wait_for`] with its own timeout.
    pub fn wait_for_long(&self, name: &str, labels: &[(&str, &str)], want: f64, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        loop {
            let text = self.scrape();
            let got = sum(&text, name, labels);
            if got == Some(want) {
                return;
            }
            if Instant::now() > deadline {
                panic!("{name}{labels:?}: want {want}, got {got:?}\n{text}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Sends a signal by name (`HUP`, `TERM`, ...).
    pub fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .args([&format!("-{name}"), &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success(), "kill -{name}");
    }

    /// Whether the process is still running.
    pub fn running(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }

    /// Kills the process with SIGKILL: no shutdown, no last checkpoint.
    pub fn kill9(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Sends SIGTERM and waits for the exit status.
    pub fn stop(mut self) -> std::process::ExitStatus {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "exporter did not stop on SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Exporter {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A plain HTTP/1.1 GET over loopback: (status, body).
pub fn http_get(addr: SocketAddr, path: &str) -> (u16, String) {
    http_get_with(addr, path, "", Duration::from_secs(10))
}

/// As [`http_get`], with extra header lines (each ending in `\r\n`) and
/// a read timeout of the caller's.
pub fn http_get_with(
    addr: SocketAddr,
    path: &str,
    headers: &str,
    read_timeout: Duration,
) -> (u16, String) {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).unwrap();
    s.set_read_timeout(Some(read_timeout)).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\n{headers}Connection: close\r\n\r\n"
    )
    .unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        dechunk(body)
    } else {
        body.to_string()
    };
    (status, body)
}

fn dechunk(mut s: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = s.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 {
            break;
        }
        out.push_str(&rest[..n]);
        s = &rest[n + 2..];
    }
    out
}

/// Parses `{a="b",c="d"}` label sets.
pub fn labels_of(series: &str) -> Vec<(String, String)> {
    let Some(start) = series.find('{') else {
        return vec![];
    };
    let inner = &series[start + 1..series.rfind('}').unwrap_or(series.len())];
    let mut out = Vec::new();
    let mut rest = inner;
    while let Some((k, v)) = rest.split_once("=\"") {
        let end = v.find('"').unwrap_or(v.len());
        out.push((k.trim_start_matches(',').to_string(), v[..end].to_string()));
        rest = &v[(end + 1).min(v.len())..];
    }
    out
}

/// The sum of every series of `name` whose labels include `labels`, or
/// `None` when there is none.
pub fn sum(text: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let mut total = None;
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let Some((series, value)) = line.rsplit_once(' ') else {
            continue;
        };
        let metric = series.split('{').next().unwrap_or("");
        if metric != name {
            continue;
        }
        let have = labels_of(series);
        if labels
            .iter()
            .all(|(k, v)| have.iter().any(|(hk, hv)| hk == k && hv == v))
        {
            *total.get_or_insert(0.0) += value.parse::<f64>().unwrap_or(f64::NAN);
        }
    }
    total
}

/// Picks a free loopback port (for tools that cannot report the port they
/// bound). Another process could take it before use; tests retry on that.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Starts a server that takes its listen address as a flag, on a free
/// loopback port, and waits until its `/-/ready` answers 200. Another
/// process may take the port first: then it tries another, three times.
fn start_ready(
    name: &str,
    dir: &Path,
    mut command: impl FnMut(SocketAddr, usize) -> Command,
) -> (Child, SocketAddr) {
    for attempt in 0..3 {
        let addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
        let log = std::fs::File::create(dir.join(format!("{name}-{attempt}.log"))).unwrap();
        let mut child = command(addr, attempt)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("start {name}: {e}"));
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if child.try_wait().unwrap().is_some() {
                break; // port taken, or a config error: try again / report
            }
            if TcpStream::connect(addr).is_ok() && http_get(addr, "/-/ready").0 == 200 {
                return (child, addr);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = child.kill();
        let _ = child.wait();
    }
    let logs: Vec<String> = (0..3)
        .filter_map(|i| std::fs::read_to_string(dir.join(format!("{name}-{i}.log"))).ok())
        .collect();
    panic!("{name} did not become ready: {logs:?}");
}

/// A real Prometheus server on loopback with a temporary data directory.
pub struct Prometheus {
    child: Child,
    pub addr: SocketAddr,
    pub dir: PathBuf,
}

impl Prometheus {
    /// Starts Prometheus with `config` (YAML) and any extra files written
    /// beside it (`(name, contents)`), and waits until it is ready.
    pub fn start(bin: &Path, dir: &Path, config: &str, files: &[(&str, &str)]) -> Prometheus {
        Self::start_with_args(bin, dir, config, files, &[])
    }

    /// [`Prometheus::start`] with extra flags (`--web.enable-remote-write-receiver`).
    pub fn start_with_args(
        bin: &Path,
        dir: &Path,
        config: &str,
        files: &[(&str, &str)],
        args: &[&str],
    ) -> Prometheus {
        std::fs::write(dir.join("prometheus.yml"), config).unwrap();
        for (name, text) in files {
            std::fs::write(dir.join(name), text).unwrap();
        }
        let (child, addr) = start_ready("prometheus", dir, |addr, _| {
            let mut cmd = Command::new(bin);
            cmd.arg(format!(
                "--config.file={}",
                dir.join("prometheus.yml").display()
            ))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("data").display()
            ))
            .arg(format!("--web.listen-address={addr}"))
            .arg("--web.enable-lifecycle")
            .args(args);
            cmd
        });
        Prometheus {
            child,
            addr,
            dir: dir.to_path_buf(),
        }
    }

    /// Runs an instant query; returns (labels, value) per result.
    pub fn query(&self, promql: &str) -> Vec<(serde_json::Map<String, serde_json::Value>, f64)> {
        let (status, body) = http_get(
            self.addr,
            &format!("/api/v1/query?query={}", urlencode(promql)),
        );
        assert_eq!(status, 200, "query {promql}: {body}");
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        let mut out = Vec::new();
        for r in v["data"]["result"].as_array().cloned().unwrap_or_default() {
            let labels = r["metric"].as_object().cloned().unwrap_or_default();
            let value = r["value"][1]
                .as_str()
                .and_then(|s| s.parse().ok())
                .unwrap_or(f64::NAN);
            out.push((labels, value));
        }
        out
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// A real Alertmanager (Debian `prometheus-alertmanager`) on loopback, with
/// a temporary storage directory and clustering turned off.
pub struct Alertmanager {
    child: Child,
    pub addr: SocketAddr,
    pub dir: PathBuf,
}

impl Alertmanager {
    /// Starts Alertmanager with `config` (YAML) written to
    /// `dir/alertmanager.yml`, and waits until it is ready.
    pub fn start(bin: &Path, dir: &Path, config: &str) -> Alertmanager {
        let config_file = dir.join("alertmanager.yml");
        std::fs::write(&config_file, config).unwrap();
        let (child, addr) = start_ready("alertmanager", dir, |addr, attempt| {
            let mut cmd = Command::new(bin);
            cmd.arg(format!("--config.file={}", config_file.display()))
                .arg(format!(
                    "--storage.path={}",
                    dir.join(format!("am-data-{attempt}")).display()
                ))
                .arg(format!("--web.listen-address={addr}"))
                .arg("--cluster.listen-address=");
            cmd
        });
        Alertmanager {
            child,
            addr,
            dir: dir.to_path_buf(),
        }
    }

    /// What Alertmanager logged so far (for failure messages).
    pub fn log_text(&self) -> String {
        (0..3)
            .filter_map(|i| {
                std::fs::read_to_string(self.dir.join(format!("alertmanager-{i}.log"))).ok()
            })
            .collect::<Vec<_>>()
            .join("\n")
    }
}

impl Drop for Alertmanager {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One request a [`Webhook`] received.
#[derive(Clone, Debug)]
pub struct Post {
    pub path: String,
    pub body: String,
    pub at: Instant,
}

/// A tiny HTTP server on 127.0.0.1 that records every POST (path and body)
/// and answers 200: an Alertmanager webhook receiver inside the test.
pub struct Webhook {
    pub addr: SocketAddr,
    posts: Arc<Mutex<Vec<Post>>>,
    stop: Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Webhook {
    pub fn start() -> Webhook {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let posts = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (posts2, stop2) = (Arc::clone(&posts), Arc::clone(&stop));
        let thread = std::thread::spawn(move || {
            for stream in listener.incoming() {
                if stop2.load(std::sync::atomic::Ordering::SeqCst) {
                    break;
                }
                let Ok(stream) = stream else { continue };
                if let Some(post) = Self::serve(stream) {
                    posts2.lock().unwrap().push(post);
                }
            }
        });
        Webhook {
            addr,
            posts,
            stop,
            thread: Some(thread),
        }
    }

    /// Reads one request (Content-Length or chunked body), answers 200 and
    /// closes the connection.
    fn serve(mut stream: TcpStream) -> Option<Post> {
        stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
        let mut raw = Vec::new();
        let mut buf = [0u8; 8192];
        let head_end = loop {
            if let Some(i) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            let n = stream.read(&mut buf).ok()?;
            if n == 0 {
                return None;
            }
            raw.extend_from_slice(&buf[..n]);
        };
        let head = String::from_utf8_lossy(&raw[..head_end]).into_owned();
        let lower = head.to_ascii_lowercase();
        let mut request_line = head.lines().next()?.split_whitespace();
        let method = request_line.next()?.to_string();
        let path = request_line.next()?.to_string();
        let chunked = lower.contains("transfer-encoding: chunked");
        let length: usize = lower
            .lines()
            .find_map(|l| l.strip_prefix("content-length:"))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0);
        let complete = |raw: &[u8]| {
            let body = &raw[head_end..];
            if chunked {
                body.windows(5).any(|w| w == b"0\r\n\r\n")
            } else {
                body.len() >= length
            }
        };
        while !complete(&raw) {
            let n = stream.read(&mut buf).ok()?;
            if n == 0 {
                break;
            }
            raw.extend_from_slice(&buf[..n]);
        }
        let body = String::from_utf8_lossy(&raw[head_end..]).into_owned();
        let body = if chunked { dechunk(&body) } else { body };
        let _ =
            stream.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        (method == "POST").then(|| Post {
            path,
            body,
            at: Instant::now(),
        })
    }

    /// Every POST so far, oldest first.
    pub fn posts(&self) -> Vec<Post> {
        self.posts.lock().unwrap().clone()
    }

    /// Every alert of every Alertmanager webhook payload so far, with the
    /// path it was posted to: `(path, alert)`.
    pub fn alerts(&self) -> Vec<(String, serde_json::Value)> {
        let mut out = Vec::new();
        for post in self.posts() {
            let Ok(v) = serde_json::from_str::<serde_json::Value>(&post.body) else {
                continue;
            };
            for alert in v["alerts"].as_array().cloned().unwrap_or_default() {
                out.push((post.path.clone(), alert));
            }
        }
        out
    }
}

impl Drop for Webhook {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
        // Wake the accept loop so the thread sees the flag and ends.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

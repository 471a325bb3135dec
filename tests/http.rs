//! The HTTP layer over real loopback sockets, driven by raw HTTP/1.1 so the
//! tests see exactly the bytes a scraper would (and need no client crate).
//! Every test is bounded in time: a hang fails instead of blocking CI.

use std::future::Future;
use std::io::Read;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use gateway_exporter::http::{self, Exposition, HttpConfig, HttpError};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

const TEST_LIMIT: Duration = Duration::from_secs(20);
const METRICS: &str =
    "# HELP gateway_up Whether the exporter runs.\n# TYPE gateway_up gauge\ngateway_up 1\n";

/// Fails the test instead of hanging it.
async fn bounded<F: Future>(test: F) -> F::Output {
    tokio::time::timeout(TEST_LIMIT, test)
        .await
        .expect("test took too long")
}

#[derive(Default)]
struct Fake {
    ready: AtomicBool,
    totals: Mutex<Vec<(String, u64)>>,
    /// Makes each render take this long, to hold a request in flight.
    render_delay: Option<Duration>,
    rendering: AtomicBool,
}

impl Exposition for Fake {
    fn render_metrics(&self) -> String {
        self.rendering.store(true, Ordering::SeqCst);
        if let Some(delay) = self.render_delay {
            // render_metrics runs on the blocking pool, so sleeping is fine.
            std::thread::sleep(delay);
        }
        METRICS.repeat(20)
    }
    fn errname_totals(&self) -> Vec<(String, u64)> {
        self.totals.lock().unwrap().clone()
    }
    fn ready(&self) -> bool {
        self.ready.load(Ordering::SeqCst)
    }
}

struct Server {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<Result<(), HttpError>>,
}

impl Server {
    /// Stops the server and returns how long `serve` took to return.
    async fn shut_down(mut self) -> Duration {
        let started = Instant::now();
        let _ = self.stop.take().unwrap().send(());
        self.task.await.unwrap().unwrap();
        started.elapsed()
    }
}

fn loopback_config() -> HttpConfig {
    HttpConfig::new(http::parse_listen_address("127.0.0.1:0").unwrap())
}

async fn start(cfg: HttpConfig, fake: Arc<Fake>) -> Server {
    start_bound(http::bind(&cfg).await.unwrap(), fake)
}

fn start_bound(bound: http::Bound, fake: Arc<Fake>) -> Server {
    let addr = bound.local_addrs()[0];
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(bound.serve(fake, async {
        let _ = stopped.await;
    }));
    Server {
        addr,
        stop: Some(stop),
        task,
    }
}

#[derive(Debug)]
struct Response {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Response {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    fn text(&self) -> &str {
        std::str::from_utf8(&self.body).unwrap()
    }
}

fn request_bytes(method: &str, path: &str, headers: &[&str], close: bool) -> Vec<u8> {
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: test\r\n");
    for h in headers {
        req.push_str(h);
        req.push_str("\r\n");
    }
    if close {
        req.push_str("Connection: close\r\n");
    }
    req.push_str("\r\n");
    req.into_bytes()
}

/// Reads one response; `head` says the request was HEAD (no body follows
/// whatever Content-Length says).
async fn read_response(reader: &mut BufReader<TcpStream>, head: bool) -> Response {
    let mut line = String::new();
    reader.read_line(&mut line).await.unwrap();
    let status = line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("bad status line {line:?}"));
    let mut headers = Vec::new();
    loop {
        line.clear();
        reader.read_line(&mut line).await.unwrap();
        let trimmed = line.trim_end();
        if trimmed.is_empty() {
            break;
        }
        let (name, value) = trimmed.split_once(':').unwrap();
        headers.push((name.to_string(), value.trim().to_string()));
    }
    let mut response = Response {
        status,
        headers,
        body: Vec::new(),
    };
    if !head {
        let length: usize = response
            .header("content-length")
            .expect("every response here has a Content-Length")
            .parse()
            .unwrap();
        response.body.resize(length, 0);
        reader.read_exact(&mut response.body).await.unwrap();
    }
    response
}

async fn connect(addr: SocketAddr) -> BufReader<TcpStream> {
    BufReader::new(TcpStream::connect(addr).await.unwrap())
}

/// One request on a fresh connection that the server then closes; checks
/// that nothing follows the response (so a HEAD really had no body).
async fn send(addr: SocketAddr, method: &str, path: &str, headers: &[&str]) -> Response {
    let mut conn = connect(addr).await;
    conn.get_mut()
        .write_all(&request_bytes(method, path, headers, true))
        .await
        .unwrap();
    let response = read_response(&mut conn, method == "HEAD").await;
    let mut rest = Vec::new();
    conn.read_to_end(&mut rest).await.unwrap();
    assert!(rest.is_empty(), "bytes after the response: {rest:?}");
    response
}

async fn get(addr: SocketAddr, path: &str) -> Response {
    send(addr, "GET", path, &[]).await
}

#[tokio::test]
async fn metrics_have_the_exact_content_type() {
    bounded(async {
        let server = start(loopback_config(), Arc::default()).await;
        let r = get(server.addr, "/metrics").await;
        assert_eq!(r.status, 200);
        assert_eq!(
            r.header("content-type"),
            Some("text/plain; version=0.0.4; charset=utf-8")
        );
        assert_eq!(r.header("content-encoding"), None);
        assert_eq!(r.text(), METRICS.repeat(20));
        server.shut_down().await;
    })
    .await
}

#[tokio::test]
async fn metrics_gzipped_when_asked_and_not_when_q_is_zero() {
    bounded(async {
        let server = start(loopback_config(), Arc::default()).await;

        let r = send(server.addr, "GET", "/metrics", &["Accept-Encoding: gzip"]).await;
        assert_eq!(r.status, 200);
        assert_eq!(r.header("content-encoding"), Some("gzip"));
        assert_eq!(r.header("vary"), Some("Accept-Encoding"));
        assert_eq!(
            r.header("content-type"),
            Some("text/plain; version=0.0.4; charset=utf-8")
        );
        let mut unpacked = String::new();
        flate2::read::GzDecoder::new(&r.body[..])
            .read_to_string(&mut unpacked)
            .unwrap();
        assert_eq!(unpacked, METRICS.repeat(20));

        for refusal in [
            "Accept-Encoding: gzip;q=0",
            "Accept-Encoding: deflate, gzip; q=0.000",
            "Accept-Encoding: identity",
        ] {
            let r = send(server.addr, "GET", "/metrics", &[refusal]).await;
            assert_eq!(r.header("content-encoding"), None, "{refusal}");
            assert_eq!(r.text(), METRICS.repeat(20), "{refusal}");
        }
        server.shut_down().await;
    })
    .await
}

#[tokio::test]
async fn head_sends_headers_only() {
    bounded(async {
        let server = start(loopback_config(), Arc::default()).await;
        for path in ["/metrics", "/", "/-/healthy"] {
            let full = get(server.addr, path).await;
            let head = send(server.addr, "HEAD", path, &[]).await;
            assert_eq!(head.status, 200, "{path}");
            assert_eq!(head.header("content-type"), full.header("content-type"));
            assert_eq!(
                head.header("content-length"),
                Some(full.body.len().to_string().as_str()),
                "{path}"
            );
        }
        server.shut_down().await;
    })
    .await
}

#[tokio::test]
async fn unknown_paths_are_404() {
    bounded(async {
        let server = start(loopback_config(), Arc::default()).await;
        for path in ["/nope", "/metrics/", "/metricsx", "/-/", "/index.html"] {
            assert_eq!(get(server.addr, path).await.status, 404, "{path}");
        }
        // An unknown path is 404 whatever the method.
        assert_eq!(send(server.addr, "POST", "/nope", &[]).await.status, 404);
        server.shut_down().await;
    })
    .await
}

#[tokio::test]
async fn other_methods_are_405_with_allow() {
    bounded(async {
        let server = start(loopback_config(), Arc::default()).await;
        for (method, path) in [
            ("POST", "/metrics"),
            ("PUT", "/"),
            ("DELETE", "/-/healthy"),
            ("OPTIONS", "/-/ready"),
        ] {
            let r = send(server.addr, method, path, &["Content-Length: 0"]).await;
            assert_eq!(r.status, 405, "{method} {path}");
            assert_eq!(r.header("allow"), Some("GET, HEAD"), "{method} {path}");
        }
        server.shut_down().await;
    })
    .await
}

#[tokio::test]
async fn healthy_and_ready() {
    bounded(async {
        let fake = Arc::new(Fake::default());
        let server = start(loopback_config(), Arc::clone(&fake)).await;

        let healthy = get(server.addr, "/-/healthy").await;
        assert_eq!((healthy.status, healthy.text()), (200, "OK"));

        let not_ready = get(server.addr, "/-/ready").await;
        assert_eq!(not_ready.status, 503);
        assert!(not_ready.text().contains("not every source has started"));

        fake.ready.store(true, Ordering::SeqCst);
        let ready = get(server.addr, "/-/ready").await;
        assert_eq!((ready.status, ready.text()), (200, "OK"));
        server.shut_down().await;
    })
    .await
}

#[tokio::test]
async fn landing_page_shows_errname_table_escaped() {
    bounded(async {
        let fake = Arc::new(Fake::default());
        let server = start(loopback_config(), Arc::clone(&fake)).await;

        let empty = get(server.addr, "/").await;
        assert_eq!(empty.status, 200);
        assert_eq!(
            empty.header("content-type"),
            Some("text/html; charset=utf-8")
        );
        assert!(empty.text().contains("<table id=\"socket-errors\">"));
        assert!(empty.text().contains("No socket errors counted yet."));

        *fake.totals.lock().unwrap() = vec![
            ("ECONNRESET".into(), 41),
            ("<script>alert(1)</script>".into(), 2),
        ];
        let page = get(server.addr, "/").await;
        let html = page.text();
        assert!(html.contains(
            "<td class=\"errname\">ECONNRESET</td><td class=\"count\">41</td>"
        ));
        assert!(html.contains(
            "<td class=\"errname\">&lt;script&gt;alert(1)&lt;/script&gt;</td><td class=\"count\">2</td>"
        ));
        assert!(!html.contains("<script"), "{html}");
        assert!(!html.contains("No socket errors counted yet."));
        assert!(html.contains(env!("CARGO_PKG_VERSION")));
        for href in ["/metrics", "/-/healthy", "/-/ready", "/runbook"] {
            assert!(html.contains(&format!("href=\"{href}\"")), "{href}");
        }
        server.shut_down().await;
    })
    .await
}

#[tokio::test]
async fn external_url_moves_every_route_under_its_path() {
    bounded(async {
        let mut cfg = loopback_config();
        cfg.external_url = Some("http://example.com/gw/".into());
        let fake = Arc::new(Fake {
            ready: AtomicBool::new(true),
            ..Fake::default()
        });
        let server = start(cfg, fake).await;

        let metrics = get(server.addr, "/gw/metrics").await;
        assert_eq!(metrics.status, 200);
        assert_eq!(metrics.text(), METRICS.repeat(20));
        assert_eq!(get(server.addr, "/gw/-/healthy").await.status, 200);
        assert_eq!(get(server.addr, "/gw/-/ready").await.status, 200);
        assert_eq!(get(server.addr, "/metrics").await.status, 404);
        assert_eq!(get(server.addr, "/-/healthy").await.status, 404);

        let root = get(server.addr, "/").await;
        assert_eq!(root.status, 302);
        assert_eq!(root.header("location"), Some("/gw/"));

        let landing = get(server.addr, "/gw/").await;
        assert_eq!(landing.status, 200);
        for href in ["/gw/metrics", "/gw/-/healthy", "/gw/-/ready", "/gw/runbook"] {
            assert!(
                landing.text().contains(&format!("href=\"{href}\"")),
                "{href}"
            );
        }
        server.shut_down().await;
    })
    .await
}

#[tokio::test]
async fn keep_alive_serves_several_requests_on_one_connection() {
    bounded(async {
        let server = start(loopback_config(), Arc::default()).await;
        let mut conn = connect(server.addr).await;
        for path in ["/metrics", "/-/healthy", "/"] {
            conn.get_mut()
                .write_all(&request_bytes("GET", path, &[], false))
                .await
                .unwrap();
            assert_eq!(read_response(&mut conn, false).await.status, 200, "{path}");
        }
        server.shut_down().await;
    })
    .await
}

#[tokio::test]
async fn header_read_timeout_closes_a_stalled_client() {
    bounded(async {
        let mut cfg = loopback_config();
        cfg.header_read_timeout = Duration::from_millis(200);
        let server = start(cfg, Arc::default()).await;

        let mut conn = connect(server.addr).await;
        conn.get_mut()
            .write_all(b"GET /metrics HTTP/1.1\r\nHost: te")
            .await
            .unwrap();
        let started = Instant::now();
        let mut rest = Vec::new();
        // EOF (or a reset) ends the read; either way the server hung up.
        let _ = tokio::time::timeout(Duration::from_secs(5), conn.read_to_end(&mut rest))
            .await
            .expect("the server kept a stalled connection open");
        let waited = started.elapsed();
        assert!(
            waited >= Duration::from_millis(150),
            "closed after {waited:?}"
        );
        assert!(!String::from_utf8_lossy(&rest).starts_with("HTTP/1.1 200"));

        // The server is still fine for everyone else.
        assert_eq!(get(server.addr, "/-/healthy").await.status, 200);
        server.shut_down().await;
    })
    .await
}

#[tokio::test]
async fn idle_keep_alive_connection_is_closed_after_the_header_timeout() {
    bounded(async {
        // Otherwise idle clients could hold every connection slot forever.
        let mut cfg = loopback_config();
        cfg.header_read_timeout = Duration::from_millis(200);
        let server = start(cfg, Arc::default()).await;
        let mut idle = connect(server.addr).await;
        idle.get_mut()
            .write_all(&request_bytes("GET", "/-/healthy", &[], false))
            .await
            .unwrap();
        assert_eq!(read_response(&mut idle, false).await.status, 200);
        let mut rest = Vec::new();
        let _ = tokio::time::timeout(Duration::from_secs(5), idle.read_to_end(&mut rest))
            .await
            .expect("an idle keep-alive connection was kept open");
        assert!(rest.is_empty(), "{rest:?}");
        server.shut_down().await;
    })
    .await
}

#[tokio::test]
async fn a_new_client_closes_the_oldest_idle_keep_alive_connection() {
    bounded(async {
        let mut cfg = loopback_config();
        cfg.max_connections = 2;
        cfg.header_read_timeout = Duration::from_secs(60);
        let server = start(cfg, Arc::default()).await;

        let mut first = connect(server.addr).await;
        let mut second = connect(server.addr).await;
        for conn in [&mut first, &mut second] {
            conn.get_mut()
                .write_all(&request_bytes("GET", "/-/healthy", &[], false))
                .await
                .unwrap();
            assert_eq!(read_response(conn, false).await.status, 200);
        }

        // Both slots hold idle keep-alive connections: the third client is
        // served at once, and the oldest idle one is closed for it.
        let mut third = connect(server.addr).await;
        third
            .get_mut()
            .write_all(&request_bytes("GET", "/-/healthy", &[], false))
            .await
            .unwrap();
        let served = tokio::time::timeout(Duration::from_secs(1), read_response(&mut third, false))
            .await
            .expect("a new client waited behind idle connections");
        assert_eq!(served.status, 200);
        let mut rest = Vec::new();
        let closed =
            tokio::time::timeout(Duration::from_secs(2), first.read_to_end(&mut rest)).await;
        assert!(closed.is_ok(), "the oldest idle connection was kept");

        // The younger one still works.
        second
            .get_mut()
            .write_all(&request_bytes("GET", "/-/healthy", &[], false))
            .await
            .unwrap();
        assert_eq!(read_response(&mut second, false).await.status, 200);
        server.shut_down().await;
    })
    .await
}

#[tokio::test]
async fn a_request_being_answered_is_never_closed_for_a_new_client() {
    bounded(async {
        let fake = Arc::new(Fake {
            render_delay: Some(Duration::from_millis(400)),
            ..Fake::default()
        });
        let mut cfg = loopback_config();
        cfg.max_connections = 1;
        let server = start(cfg, Arc::clone(&fake)).await;
        let mut busy = connect(server.addr).await;
        busy.get_mut()
            .write_all(&request_bytes("GET", "/metrics", &[], false))
            .await
            .unwrap();
        while !fake.rendering.load(Ordering::SeqCst) {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        // The only slot is answering: the newcomer waits for it.
        let mut waiting = connect(server.addr).await;
        waiting
            .get_mut()
            .write_all(&request_bytes("GET", "/-/healthy", &[], false))
            .await
            .unwrap();
        let r = read_response(&mut busy, false).await;
        assert_eq!(r.status, 200);
        assert_eq!(r.text(), METRICS.repeat(20));
        // Then the busy connection, now idle, makes room for it.
        let served =
            tokio::time::timeout(Duration::from_secs(2), read_response(&mut waiting, false))
                .await
                .expect("the waiting client was not served once the slot was idle");
        assert_eq!(served.status, 200);
        server.shut_down().await;
    })
    .await
}

/// The measurement: 1,000 idle connections and 100 slowloris ones
/// (a header sent a few bytes at a time) open, then a scrape. The loops
/// are bounded in count and time, on loopback only.
#[tokio::test]
async fn a_scrape_is_answered_within_a_second_past_idle_and_slowloris_clients() {
    bounded(async {
        let mut cfg = loopback_config();
        cfg.header_read_timeout = Duration::from_secs(30);
        let server = start(cfg, Arc::default()).await;
        let addr = server.addr;
        let mut idle = Vec::with_capacity(1000);
        for _ in 0..1000 {
            idle.push(TcpStream::connect(addr).await.unwrap());
        }
        let (stop_slow, slow_stopped) = tokio::sync::watch::channel(false);
        let mut slow = Vec::new();
        for _ in 0..100 {
            let mut stopped = slow_stopped.clone();
            slow.push(tokio::spawn(async move {
                let Ok(mut s) = TcpStream::connect(addr).await else {
                    return;
                };
                let header = b"GET /metrics HTTP/1.1\r\nHost: x\r\nX-Slow: ";
                for chunk in header.chunks(4).chain(std::iter::repeat_n(&b"a"[..], 200)) {
                    if s.write_all(chunk).await.is_err() || *stopped.borrow() {
                        return;
                    }
                    tokio::select! {
                        () = tokio::time::sleep(Duration::from_millis(50)) => {}
                        _ = stopped.changed() => return,
                    }
                }
            }));
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
        for attempt in 0..3 {
            let started = Instant::now();
            let r = tokio::time::timeout(Duration::from_secs(1), get(addr, "/metrics"))
                .await
                .unwrap_or_else(|_| panic!("scrape {attempt} took over 1 s"));
            assert_eq!(r.status, 200);
            let took = started.elapsed();
            println!("scrape {attempt} past 1,000 idle + 100 slowloris connections: {took:?}");
            assert!(took < Duration::from_secs(1));
        }
        let _ = stop_slow.send(true);
        for t in slow {
            let _ = t.await;
        }
        drop(idle);
        server.shut_down().await;
    })
    .await
}

#[tokio::test]
async fn shutdown_with_idle_connections_returns_promptly() {
    bounded(async {
        let server = start(loopback_config(), Arc::default()).await;
        let addr = server.addr;
        let mut idle = connect(addr).await;
        idle.get_mut()
            .write_all(&request_bytes("GET", "/-/healthy", &[], false))
            .await
            .unwrap();
        assert_eq!(read_response(&mut idle, false).await.status, 200);
        let _never_sent_anything = connect(addr).await;

        let took = server.shut_down().await;
        assert!(took < Duration::from_secs(1), "shutdown took {took:?}");
        assert!(
            TcpStream::connect(addr).await.is_err(),
            "still accepting after shutdown"
        );
    })
    .await
}

#[tokio::test]
async fn shutdown_lets_an_in_flight_request_finish() {
    bounded(async {
        let fake = Arc::new(Fake {
            render_delay: Some(Duration::from_millis(300)),
            ..Fake::default()
        });
        let server = start(loopback_config(), Arc::clone(&fake)).await;
        let mut conn = connect(server.addr).await;
        conn.get_mut()
            .write_all(&request_bytes("GET", "/metrics", &[], false))
            .await
            .unwrap();
        while !fake.rendering.load(Ordering::SeqCst) {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }

        let stopping = tokio::spawn(server.shut_down());
        let r = read_response(&mut conn, false).await;
        assert_eq!(r.status, 200);
        assert_eq!(r.text(), METRICS.repeat(20));
        // Asked to close after this request, the server hangs up.
        let mut rest = Vec::new();
        conn.read_to_end(&mut rest).await.unwrap();
        assert!(rest.is_empty());
        let took = stopping.await.unwrap();
        assert!(took < Duration::from_secs(2), "shutdown took {took:?}");
    })
    .await
}

#[tokio::test]
async fn shutdown_grace_bounds_a_client_that_never_finishes() {
    bounded(async {
        let mut cfg = loopback_config();
        cfg.header_read_timeout = Duration::from_secs(60);
        let bound = http::bind(&cfg)
            .await
            .unwrap()
            .with_shutdown_grace(Duration::from_millis(200));
        let server = start_bound(bound, Arc::default());
        let mut stalled = connect(server.addr).await;
        stalled
            .get_mut()
            .write_all(b"GET /metrics HTTP/1.1\r\n")
            .await
            .unwrap();
        // Let the server read the partial request before stopping.
        tokio::time::sleep(Duration::from_millis(50)).await;

        let took = server.shut_down().await;
        assert!(took < Duration::from_secs(2), "shutdown took {took:?}");
    })
    .await
}

#[tokio::test]
async fn bind_fails_fast_naming_the_address() {
    bounded(async {
        let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let busy = taken.local_addr().unwrap();
        let mut cfg = loopback_config();
        cfg.listen.push(busy);
        let err = http::bind(&cfg).await.unwrap_err();
        assert!(matches!(err, HttpError::Bind { addr, .. } if addr == busy));
        assert!(err.to_string().contains(&busy.to_string()), "{err}");
    })
    .await
}

#[tokio::test]
async fn bad_settings_are_refused_before_binding() {
    bounded(async {
        let mut cfg = loopback_config();
        cfg.max_connections = 0;
        assert!(matches!(
            http::bind(&cfg).await,
            Err(HttpError::Config { .. })
        ));

        let mut cfg = loopback_config();
        cfg.external_url = Some("example.com/gw".into());
        let err = http::bind(&cfg).await.unwrap_err();
        assert!(err.to_string().contains("http://"), "{err}");

        let mut cfg = loopback_config();
        cfg.listen.clear();
        assert!(matches!(
            http::bind(&cfg).await,
            Err(HttpError::NoListenAddress)
        ));
    })
    .await
}

#[tokio::test]
async fn serves_on_every_address_including_ipv6_loopback() {
    bounded(async {
        if std::net::TcpListener::bind("[::1]:0").is_err() {
            eprintln!("no IPv6 loopback here; checking IPv4 only");
            return;
        }
        let mut cfg = loopback_config();
        cfg.listen.push("[::1]:0".parse().unwrap());
        let bound = http::bind(&cfg).await.unwrap();
        let addrs = bound.local_addrs().to_vec();
        assert_eq!(addrs.len(), 2);
        let server = start_bound(bound, Arc::default());
        for addr in addrs {
            assert_eq!(get(addr, "/-/healthy").await.status, 200, "{addr}");
        }
        server.shut_down().await;
    })
    .await
}

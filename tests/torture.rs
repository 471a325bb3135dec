//! Exactly-once under fire: a writer appends K socket-error lines at full
//! speed while rotating by rename, copytruncate and delete + recreate; the
//! exporter is killed with SIGKILL and restarted at random moments, once in
//! the middle of a rotation. At the end it has counted exactly K, and no
//! scrape ever saw the counter go down.

mod support;

use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use support::{Exporter, sum, tmpdir};

const K: u64 = 200_000;
const RESTARTS: usize = 12;
/// The writer writes each batch at full speed but paces batches so the run
/// lasts long enough for every restart and rotation (about 8 s).
const LINES_PER_SECOND: f64 = 25_000.0;

/// A tiny deterministic PRNG (xorshift), so a failure can be replayed with
/// the seed it prints.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// The ENOTCONN total of one scrape, or `None` while the exporter is down
/// or restarting.
fn count(addr: SocketAddr) -> Option<f64> {
    use std::io::Read;
    let mut s = std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(500)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        s,
        "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut raw = String::new();
    s.read_to_string(&mut raw).ok()?;
    let (head, body) = raw.split_once("\r\n\r\n")?;
    if !head.starts_with("HTTP/1.1 200") || head.to_ascii_lowercase().contains("chunked") {
        return None;
    }
    sum(body, "gateway_socket_errors_total", &[])
}

struct Shared {
    addr: Mutex<Option<SocketAddr>>,
    written: AtomicU64,
    done: AtomicBool,
    /// The killer asks for a kill in the middle of the next rotation.
    want_mid_rotation: AtomicBool,
    /// The writer says it is in the middle of a rotation and waits.
    mid_rotation: AtomicBool,
    /// The killer says the kill happened.
    killed_mid_rotation: AtomicBool,
    rotations: Mutex<Vec<&'static str>>,
    per_generation: Mutex<Vec<u64>>,
}

/// Line `i`, written while the log was in generation `generation` (the
/// number of rotations so far). The gateway's own code carries the
/// generation, so a miscount shows in which file it happened.
fn line(i: u64, generation: u64) -> String {
    format!("{i:09} ERROR write: ({generation}) network error\n")
}

fn append(path: &Path, text: &[u8]) {
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap();
    f.write_all(text).unwrap();
}

fn writer(dir: PathBuf, shared: Arc<Shared>, seed: u64) {
    let log = dir.join("gw.log");
    let mut rng = Rng(seed);
    let mut i = 0u64;
    let mut n_rot = 0u64;
    let mut per_generation = vec![0u64; 1000];
    let started = Instant::now();
    let mut next_rotation = Instant::now() + Duration::from_millis(300);
    while i < K {
        let due = started + Duration::from_secs_f64(i as f64 / LINES_PER_SECOND);
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
        // A batch of whole lines, sometimes ending in half a line that the
        // next batch completes.
        let n = (1 + rng.below(400)).min(K - i);
        let mut buf = String::new();
        for _ in 0..n {
            buf.push_str(&line(i, n_rot));
            i += 1;
        }
        per_generation[n_rot as usize] += n;
        if rng.below(10) == 0 && i < K {
            let l = line(i, n_rot);
            per_generation[n_rot as usize] += 1;
            let cut = 1 + rng.below(l.len() as u64 - 1) as usize;
            append(&log, buf.as_bytes());
            append(&log, &l.as_bytes()[..cut]);
            shared.written.store(i, Ordering::Release);
            std::thread::sleep(Duration::from_micros(rng.below(2000)));
            append(&log, &l.as_bytes()[cut..]);
            i += 1;
        } else {
            append(&log, buf.as_bytes());
        }
        shared.written.store(i, Ordering::Release);
        if Instant::now() >= next_rotation && i < K {
            n_rot += 1;
            let rotated = dir.join(format!("gw.log.{n_rot}"));
            let pause = shared.want_mid_rotation.swap(false, Ordering::AcqRel);
            let mid = |shared: &Shared| {
                if pause {
                    shared.mid_rotation.store(true, Ordering::Release);
                    let deadline = Instant::now() + Duration::from_secs(10);
                    while !shared.killed_mid_rotation.load(Ordering::Acquire)
                        && Instant::now() < deadline
                    {
                        std::thread::sleep(Duration::from_millis(1));
                    }
                }
            };
            // Deleting a file loses whatever nobody has read yet, for any
            // tool: only delete once the running exporter has counted all.
            let want_recreate = rng.below(3) == 2;
            let mut all_read = false;
            if want_recreate {
                let deadline = Instant::now() + Duration::from_millis(1500);
                while !all_read && Instant::now() < deadline {
                    let addr = *shared.addr.lock().unwrap();
                    all_read = addr.and_then(count) == Some(i as f64);
                    std::thread::sleep(Duration::from_millis(5));
                }
            }
            let kind = match if want_recreate { 2 } else { rng.below(2) } {
                2 if all_read => "recreate",
                1 => "copytruncate",
                _ => "rename",
            };
            match kind {
                "rename" => {
                    std::fs::rename(&log, &rotated).unwrap();
                    mid(&shared);
                    append(&log, b"");
                }
                "copytruncate" => {
                    std::fs::copy(&log, &rotated).unwrap();
                    mid(&shared);
                    std::fs::OpenOptions::new()
                        .write(true)
                        .truncate(true)
                        .open(&log)
                        .unwrap();
                }
                _ => {
                    std::fs::remove_file(&log).unwrap();
                    mid(&shared);
                    append(&log, b"");
                }
            }
            shared.rotations.lock().unwrap().push(kind);
            next_rotation = Instant::now() + Duration::from_millis(200 + rng.below(500));
        }
    }
    *shared.per_generation.lock().unwrap() = per_generation;
    shared.done.store(true, Ordering::Release);
}

#[test]
fn exactly_once_through_rotations_and_sigkill() {
    let seed = std::env::var("TORTURE_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| (gateway_exporter::clock::unix_now() * 1e9) as u64 | 1);
    eprintln!("TORTURE_SEED={seed}");
    let dir = tmpdir("torture");
    let state = dir.join("state");
    let logs = dir.join("logs");
    std::fs::create_dir_all(&logs).unwrap();
    append(&logs.join("gw.log"), b"");
    let cfg = dir.join("gw.yml");
    std::fs::write(
        &cfg,
        format!(
            "sources:\n  - name: gw\n    paths: ['{0}/gw.log']\n    rotated: ['{0}/gw.log.*']\n    profile: msmail\n    start_at: beginning\n",
            logs.display()
        ),
    )
    .unwrap();
    let args = [
        "--config",
        cfg.to_str().unwrap(),
        "--state.dir",
        state.to_str().unwrap(),
        "--state.checkpoint-interval",
        "200ms",
    ];
    let shared = Arc::new(Shared {
        addr: Mutex::new(None),
        written: AtomicU64::new(0),
        done: AtomicBool::new(false),
        want_mid_rotation: AtomicBool::new(false),
        mid_rotation: AtomicBool::new(false),
        killed_mid_rotation: AtomicBool::new(false),
        rotations: Mutex::new(Vec::new()),
        per_generation: Mutex::new(Vec::new()),
    });

    let mut exporter = Some(Exporter::start(&args));
    *shared.addr.lock().unwrap() = exporter.as_ref().map(|e| e.addr);

    // A scraper that checks every value it ever sees only goes up.
    let seen = Arc::new(Mutex::new(Vec::<f64>::new()));
    let scraper = {
        let (shared, seen) = (Arc::clone(&shared), Arc::clone(&seen));
        std::thread::spawn(move || {
            while !shared.done.load(Ordering::Acquire)
                || seen.lock().unwrap().last() != Some(&(K as f64))
            {
                let addr = *shared.addr.lock().unwrap();
                if let Some(v) = addr.and_then(count) {
                    seen.lock().unwrap().push(v);
                }
                std::thread::sleep(Duration::from_millis(20));
                if seen.lock().unwrap().len() > 200_000 {
                    break;
                }
            }
        })
    };
    let w = {
        let (dir, shared) = (logs.clone(), Arc::clone(&shared));
        std::thread::spawn(move || writer(dir, shared, seed ^ 0x9e37_79b9))
    };

    let mut rng = Rng(seed);
    let mut history: Vec<String> = Vec::new();
    let mut restarts = 0;
    let mut mid_rotation_done = false;
    while restarts < RESTARTS && !shared.done.load(Ordering::Acquire) {
        std::thread::sleep(Duration::from_millis(100 + rng.below(250)));
        let in_rotation = !mid_rotation_done && restarts == RESTARTS / 2;
        if in_rotation {
            shared.want_mid_rotation.store(true, Ordering::Release);
            let deadline = Instant::now() + Duration::from_secs(10);
            while !shared.mid_rotation.load(Ordering::Acquire) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(1));
            }
        }
        *shared.addr.lock().unwrap() = None;
        if let Some(e) = exporter.take() {
            history.push(format!("--- exporter {restarts} killed"));
            history.extend(e.log_lines());
            e.kill9();
        }
        if in_rotation && shared.mid_rotation.load(Ordering::Acquire) {
            mid_rotation_done = true;
            shared.killed_mid_rotation.store(true, Ordering::Release);
        }
        std::thread::sleep(Duration::from_millis(rng.below(300)));
        // Keep what each restart resumes from: a failure can then be
        // traced to the checkpoint that misled it.
        let _ = std::fs::copy(
            state.join("gateway_exporter.state.json"),
            dir.join(format!("resumed-{restarts}.state.json")),
        );
        let e = Exporter::start(&args);
        *shared.addr.lock().unwrap() = Some(e.addr);
        exporter = Some(e);
        restarts += 1;
    }
    w.join().unwrap();
    let e = exporter.as_ref().unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while count(e.addr) != Some(K as f64) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    let text = e.scrape();
    let per_generation = shared.per_generation.lock().unwrap().clone();
    for (g, want) in per_generation.iter().enumerate().filter(|(_, n)| **n > 0) {
        let got = sum(
            &text,
            "gateway_socket_errors_total",
            &[("errno", &g.to_string())],
        );
        if got != Some(*want as f64) {
            eprintln!("generation {g}: want {want}, got {got:?}");
        }
    }
    history.push("--- last exporter".into());
    history.extend(e.log_lines());
    let logs = dir.join("exporter-logs.txt");
    std::fs::write(&logs, history.join("\n")).unwrap();
    eprintln!("exporter logs: {}", logs.display());
    e.wait_for("gateway_socket_errors_total", &[], K as f64);
    // Settled: nothing counted twice later either.
    std::thread::sleep(Duration::from_millis(1500));
    let text = e.scrape();
    let total = sum(&text, "gateway_socket_errors_total", &[]);
    shared.done.store(true, Ordering::Release);
    scraper.join().unwrap();
    let rotations = shared.rotations.lock().unwrap().clone();
    eprintln!(
        "restarts: {restarts} (one mid-rotation: {mid_rotation_done}), rotations: {} (rename {}, copytruncate {}, recreate {})",
        rotations.len(),
        rotations.iter().filter(|k| **k == "rename").count(),
        rotations.iter().filter(|k| **k == "copytruncate").count(),
        rotations.iter().filter(|k| **k == "recreate").count(),
    );
    assert_eq!(total, Some(K as f64), "seed {seed}");
    assert!(
        restarts >= 10,
        "only {restarts} restarts before the writer finished"
    );
    assert!(mid_rotation_done, "no kill happened mid-rotation");
    let seen = seen.lock().unwrap();
    // Each scrape persists a checkpoint (fsync) before answering, which
    // under the writer's load takes a while: a few dozen are expected.
    eprintln!("scrapes seen: {}", seen.len());
    assert!(seen.len() >= 10, "too few scrapes: {}", seen.len());
    for w in seen.windows(2) {
        assert!(
            w[1] >= w[0],
            "a scrape went down from {} to {} (seed {seed})",
            w[0],
            w[1]
        );
    }
    let lines = sum(&text, "gateway_log_lines_total", &[]);
    assert_eq!(lines, Some(K as f64), "lines read (seed {seed})");
}

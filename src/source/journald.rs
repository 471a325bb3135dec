//! The systemd journal as a source, through a supervised
//! `journalctl --output=json --follow` child.
//!
//! Why a child and not the C library: the crate stays free of C and of
//! `unsafe`, `journalctl` is on every systemd host, and its JSON output
//! carries each entry's cursor. The cursor of the last entry of a block is
//! that block's [`Position::Cursor`]; a restart continues with
//! `--after-cursor`, so nothing is lost or counted twice across restarts,
//! SIGKILL included.
//!
//! The child must never outlive the exporter: it is started through
//! util-linux `setpriv --pdeathsig SIGKILL` (the kernel kills it when the
//! source's thread dies, even if the exporter is SIGKILLed), and killed on
//! drop. A child that exits is restarted with backoff (1 s doubling to
//! 30 s) from the last cursor, and the source reports itself down
//! meanwhile. The line given to the classifier is `TIME IDENTIFIER[PID]: MESSAGE`
//! (TIME the entry's `__REALTIME_TIMESTAMP` in RFC 3339, UTC),
//! the shape syslog gives Postfix's lines in files, so profiles match alike.

use std::io::{BufRead, BufReader, Read};
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError, TryRecvError, sync_channel};
use std::time::{Duration, Instant};

use super::file::StartAt;
use super::{Position, ReadErrorReason, Sink, Source, Status};

const CHANNEL: usize = 4096;
const BLOCK_BYTES: usize = 1 << 20;
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// What to read from the journal.
#[derive(Debug, Clone)]
pub struct JournaldConfig {
    /// `--unit` filters (`postfix@-.service`).
    pub units: Vec<String>,
    /// `FIELD=value` matches (`SYSLOG_IDENTIFIER=postfix/smtp`).
    pub matches: Vec<String>,
    /// An offline journal directory (`--directory`).
    pub directory: Option<PathBuf>,
    /// Offline journal files (`--file`).
    pub files: Vec<PathBuf>,
    /// Where to start without a stored cursor.
    pub start_at: StartAt,
    pub poll_interval: Duration,
    /// The `journalctl` to run.
    pub journalctl: PathBuf,
}

impl JournaldConfig {
    pub fn new() -> JournaldConfig {
        JournaldConfig {
            units: Vec::new(),
            matches: Vec::new(),
            directory: None,
            files: Vec::new(),
            start_at: StartAt::End,
            poll_interval: Duration::from_secs(1),
            journalctl: PathBuf::from("journalctl"),
        }
    }
}

impl Default for JournaldConfig {
    fn default() -> Self {
        Self::new()
    }
}

struct Running {
    child: Child,
    /// Output lines; `None` once the child's output ended.
    lines: Receiver<Option<Vec<u8>>>,
}

/// The journal, followed.
pub struct JournaldSource {
    cfg: JournaldConfig,
    cursor: Option<String>,
    running: Option<Running>,
    early: Option<Option<Vec<u8>>>,
    backoff: Duration,
    next_start: Instant,
    failing: bool,
}

fn setpriv() -> Option<&'static str> {
    ["/usr/bin/setpriv", "/bin/setpriv"]
        .into_iter()
        .find(|p| Path::new(p).is_file())
}

impl JournaldSource {
    pub fn new(cfg: JournaldConfig) -> JournaldSource {
        JournaldSource {
            cfg,
            cursor: None,
            running: None,
            early: None,
            backoff: Duration::from_secs(1),
            next_start: Instant::now(),
            failing: false,
        }
    }

    /// The arguments `journalctl` gets, given where to continue.
    pub fn arguments(cfg: &JournaldConfig, cursor: Option<&str>) -> Vec<String> {
        let mut args: Vec<String> = ["--output=json", "--follow", "--no-pager", "--all"]
            .map(String::from)
            .into();
        match (cursor, cfg.start_at) {
            (Some(c), _) => {
                args.push(format!("--after-cursor={c}"));
                args.push("--lines=all".into());
            }
            (None, StartAt::Beginning) => args.push("--lines=all".into()),
            (None, StartAt::End) => args.push("--lines=0".into()),
        }
        if let Some(d) = &cfg.directory {
            args.push(format!("--directory={}", d.display()));
        }
        for f in &cfg.files {
            args.push(format!("--file={}", f.display()));
        }
        // journalctl 252 takes --follow on journal files as "this boot
        // only", which a journal from another host does not have.
        if cfg.directory.is_some() || !cfg.files.is_empty() {
            args.push("--merge".into());
        }
        for u in &cfg.units {
            args.push(format!("--unit={u}"));
        }
        args.extend(cfg.matches.iter().cloned());
        args
    }

    fn start(&mut self, sink: &mut dyn Sink) {
        let args = Self::arguments(&self.cfg, self.cursor.as_deref());
        let mut cmd = match setpriv() {
            Some(sp) => {
                let mut c = Command::new(sp);
                c.args(["--pdeathsig", "SIGKILL", "--"])
                    .arg(&self.cfg.journalctl);
                c
            }
            None => Command::new(&self.cfg.journalctl),
        };
        let spawned = cmd
            .args(&args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn();
        let mut child = match spawned {
            Ok(c) => c,
            Err(e) => {
                sink.read_error("journalctl", ReadErrorReason::of(&e), &e, !self.failing);
                self.failing = true;
                self.schedule_restart();
                return;
            }
        };
        let (tx, rx) = sync_channel(CHANNEL);
        if let Some(out) = child.stdout.take() {
            std::thread::spawn(move || {
                let mut r = BufReader::with_capacity(256 * 1024, out);
                loop {
                    let mut line = Vec::new();
                    match r.read_until(b'\n', &mut line) {
                        Ok(0) | Err(_) => {
                            let _ = tx.send(None);
                            return;
                        }
                        Ok(_) => {
                            if tx.send(Some(line)).is_err() {
                                return;
                            }
                        }
                    }
                }
            });
        }
        if let Some(mut err) = child.stderr.take() {
            std::thread::spawn(move || {
                let mut text = String::new();
                let _ = err.read_to_string(&mut text);
                for line in text.lines().take(5) {
                    log::warn!(stderr = line; "journalctl");
                }
            });
        }
        log::info!(args = args.join(" ").as_str(); "following the journal");
        self.running = Some(Running { child, lines: rx });
    }

    fn schedule_restart(&mut self) {
        self.next_start = Instant::now() + self.backoff;
        self.backoff = (self.backoff * 2).min(MAX_BACKOFF);
    }

    fn next_line(&mut self) -> Option<Option<Vec<u8>>> {
        if let Some(l) = self.early.take() {
            return Some(l);
        }
        let running = self.running.as_ref()?;
        match running.lines.try_recv() {
            Ok(l) => Some(l),
            Err(TryRecvError::Empty) => None,
            Err(TryRecvError::Disconnected) => Some(None),
        }
    }

    /// The child's output ended: reap it and plan a restart.
    fn ended(&mut self, sink: &mut dyn Sink) {
        if let Some(mut r) = self.running.take() {
            let status = r.child.wait();
            let e = std::io::Error::other(format!("journalctl exited: {status:?}"));
            sink.read_error("journalctl", ReadErrorReason::Io, &e, !self.failing);
        }
        self.failing = true;
        self.schedule_restart();
    }
}

/// An entry's line (`IDENTIFIER[PID]: MESSAGE`) and cursor.
pub fn entry_line(json: &[u8]) -> Option<(Vec<u8>, String)> {
    let v: serde_json::Value = serde_json::from_slice(json).ok()?;
    let cursor = v.get("__CURSOR")?.as_str()?.to_string();
    let text = |key: &str| v.get(key).and_then(serde_json::Value::as_str);
    // A binary MESSAGE comes as an array of bytes.
    let message: Vec<u8> = match v.get("MESSAGE") {
        Some(serde_json::Value::String(s)) => s.as_bytes().to_vec(),
        Some(serde_json::Value::Array(a)) => a
            .iter()
            .filter_map(|b| b.as_u64().and_then(|b| u8::try_from(b).ok()))
            .collect(),
        _ => Vec::new(),
    };
    let ident = text("SYSLOG_IDENTIFIER").or_else(|| text("_COMM"));
    let pid = text("SYSLOG_PID").or_else(|| text("_PID"));
    let mut line = Vec::with_capacity(message.len() + 80);
    // The entry's own time leads the line, as rsyslog's RFC 3339 files
    // have it: what the classifier sees is a file's line, and a backlog
    // read after a restart keeps the times the gateway logged.
    if let Some(us) = text("__REALTIME_TIMESTAMP").and_then(|t| t.parse::<u64>().ok()) {
        let stamp = crate::timestamp::rfc3339_utc((us / 1_000_000) as f64);
        line.extend_from_slice(stamp.trim_end_matches('Z').as_bytes());
        line.extend_from_slice(format!(".{:06}Z ", us % 1_000_000).as_bytes());
    }
    if let Some(ident) = ident {
        line.extend_from_slice(ident.as_bytes());
        if let Some(pid) = pid {
            line.push(b'[');
            line.extend_from_slice(pid.as_bytes());
            line.push(b']');
        }
        line.extend_from_slice(b": ");
    }
    line.extend(
        message
            .iter()
            .map(|c| if matches!(c, b'\n' | b'\r') { b' ' } else { *c }),
    );
    Some((line, cursor))
}

impl Source for JournaldSource {
    fn kind(&self) -> &'static str {
        "journald"
    }

    fn resume(&mut self, positions: Vec<Position>, _covered_until: f64) {
        self.cursor = positions.into_iter().find_map(|p| match p {
            Position::Cursor { cursor } => Some(cursor),
            _ => None,
        });
    }

    fn pass(&mut self, sink: &mut dyn Sink) -> ControlFlow<()> {
        if self.running.is_none() && Instant::now() >= self.next_start {
            self.start(sink);
        }
        let mut block = Vec::new();
        let mut last: Option<String> = None;
        let flush = |block: &mut Vec<u8>, last: &Option<String>, sink: &mut dyn Sink| {
            let Some(cursor) = last.clone() else {
                return ControlFlow::Continue(());
            };
            let flow = sink.lines(&Position::Cursor { cursor }, block, 0);
            block.clear();
            flow
        };
        while let Some(item) = self.next_line() {
            let Some(json) = item else {
                if flush(&mut block, &last, sink).is_break() {
                    return ControlFlow::Break(());
                }
                last = None;
                self.ended(sink);
                break;
            };
            if let Some((line, cursor)) = entry_line(&json) {
                if self.failing {
                    self.failing = false;
                    self.backoff = Duration::from_secs(1);
                    sink.recovered("journalctl");
                }
                block.extend_from_slice(&line);
                block.push(b'\n');
                self.cursor = Some(cursor.clone());
                last = Some(cursor);
                if block.len() >= BLOCK_BYTES && flush(&mut block, &last, sink).is_break() {
                    return ControlFlow::Break(());
                }
            }
        }
        if !block.is_empty() && flush(&mut block, &last, sink).is_break() {
            return ControlFlow::Break(());
        }
        sink.status(Status {
            up: self.running.is_some(),
            ..Status::default()
        });
        ControlFlow::Continue(())
    }

    fn wait(&mut self) {
        if self.early.is_some() {
            return;
        }
        match &self.running {
            Some(r) => match r.lines.recv_timeout(self.cfg.poll_interval) {
                Ok(l) => self.early = Some(l),
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => self.early = Some(None),
            },
            None => std::thread::sleep(self.cfg.poll_interval),
        }
    }
}

impl Drop for JournaldSource {
    fn drop(&mut self) {
        if let Some(mut r) = self.running.take() {
            let _ = r.child.kill();
            let _ = r.child.wait();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_become_syslog_shaped_lines() {
        let (line, cursor) = entry_line(
            br#"{"__CURSOR":"s=1;i=2","SYSLOG_IDENTIFIER":"postfix/smtp","_PID":"42","MESSAGE":"connect to mx[192.0.2.1]:25: Connection refused"}"#,
        )
        .unwrap();
        assert_eq!(cursor, "s=1;i=2");
        assert_eq!(
            line,
            b"postfix/smtp[42]: connect to mx[192.0.2.1]:25: Connection refused"
        );
        let (line, _) = entry_line(
            br#"{"__CURSOR":"c","__REALTIME_TIMESTAMP":"1795860001250000","SYSLOG_IDENTIFIER":"smtpgate","MESSAGE":"ERROR write: (57) Socket is not connected"}"#,
        )
        .unwrap();
        assert_eq!(
            line,
            b"2026-11-28T10:00:01.250000Z smtpgate: ERROR write: (57) Socket is not connected"
        );
        let (line, _) = entry_line(br#"{"__CURSOR":"c","MESSAGE":[104,105,10,33]}"#).unwrap();
        assert_eq!(line, b"hi !");
        assert!(entry_line(b"not json").is_none());
        assert!(entry_line(br#"{"MESSAGE":"no cursor"}"#).is_none());
    }

    #[test]
    fn arguments_continue_from_the_cursor() {
        let mut cfg = JournaldConfig::new();
        cfg.units = vec!["postfix@-.service".into()];
        cfg.files = vec!["/j/remote.journal".into()];
        let args = JournaldSource::arguments(&cfg, Some("s=1"));
        assert!(args.contains(&"--after-cursor=s=1".to_string()));
        assert!(args.contains(&"--unit=postfix@-.service".to_string()));
        assert!(args.contains(&"--merge".to_string()));
        let args = JournaldSource::arguments(&JournaldConfig::new(), None);
        assert!(args.contains(&"--lines=0".to_string()));
        assert!(!args.contains(&"--merge".to_string()));
    }
}

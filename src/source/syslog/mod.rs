//! Syslog over UDP and TCP as a source: RFC 3164 and RFC 5424 messages,
//! TCP framed by octet counting or by newlines (RFC 6587, detected per
//! connection), each message becoming the line a log file would hold.
//!
//! Sockets are bound when the source is built, so a taken port fails the
//! start. Listeners run on threads of their own and hand messages over a
//! bounded channel: a pass only takes what has arrived. Every TCP
//! connection has its own thread, buffer bounded by `max_message_bytes`
//! and idle timeout, so a slow or stuck client holds up nobody else; the
//! number of connections is bounded too. A UDP burst beyond what the
//! channel and the socket's receive buffer hold is dropped by the kernel,
//! which counts it (see [`SyslogSource::udp_sockets`]). Malformed frames
//! are reported per reason and dropped. Messages carry no position: a
//! restart takes whatever the senders send next.
//!
//! ```
//! use gateway_exporter::source::syslog::Listen;
//! let l = Listen::parse("tcp://[::1]:5514").unwrap();
//! assert_eq!(l.to_string(), "tcp://[::1]:5514");
//! assert!(Listen::parse("http://127.0.0.1:80").is_err());
//! ```

pub mod parse;

use std::fmt;
use std::io::{self, Read};
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::ops::ControlFlow;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, sync_channel};
use std::time::Duration;

pub use parse::Malformed;

use super::{Position, Sink, Source, Status};

/// Messages in flight between the listeners and the source.
const CHANNEL: usize = 8192;
/// A block handed to the sink holds about this much.
const BLOCK_BYTES: usize = 1 << 20;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    Udp,
    Tcp,
}

/// One address to listen on: `udp://127.0.0.1:5514`, `tcp://[::1]:5514`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Listen {
    pub transport: Transport,
    pub addr: SocketAddr,
}

impl Listen {
    pub fn parse(s: &str) -> Result<Listen, String> {
        let bad =
            || format!("expected udp://HOST:PORT or tcp://HOST:PORT (IPv6 in brackets), got {s:?}");
        let (transport, addr) = if let Some(a) = s.strip_prefix("udp://") {
            (Transport::Udp, a)
        } else if let Some(a) = s.strip_prefix("tcp://") {
            (Transport::Tcp, a)
        } else {
            return Err(bad());
        };
        let addr: SocketAddr = addr.parse().map_err(|_| bad())?;
        Ok(Listen { transport, addr })
    }
}

impl fmt::Display for Listen {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scheme = match self.transport {
            Transport::Udp => "udp",
            Transport::Tcp => "tcp",
        };
        write!(f, "{scheme}://{}", self.addr)
    }
}

/// What to listen on, and how.
#[derive(Debug, Clone)]
pub struct SyslogConfig {
    pub listen: Vec<Listen>,
    /// Globs on APP-NAME / TAG (`postfix/*`); empty takes every message.
    pub programs: Vec<String>,
    pub max_message_bytes: usize,
    /// `SO_RCVBUF` of UDP sockets; the kernel's default when `None`.
    pub receive_buffer_bytes: Option<usize>,
    /// TCP connections served at once; more are closed at once.
    pub max_connections: usize,
    /// A TCP connection that sends nothing for this long is closed.
    pub idle_timeout: Duration,
    pub poll_interval: Duration,
}

impl SyslogConfig {
    pub fn new(listen: Vec<Listen>) -> SyslogConfig {
        SyslogConfig {
            listen,
            programs: Vec::new(),
            max_message_bytes: 64 * 1024,
            receive_buffer_bytes: None,
            max_connections: 256,
            idle_timeout: Duration::from_secs(600),
            poll_interval: Duration::from_secs(1),
        }
    }
}

enum Item {
    Line(Vec<u8>),
    Malformed(Malformed),
}

/// What every listener thread shares.
struct Shared {
    tx: SyncSender<Item>,
    programs: Vec<glob::Pattern>,
    max_message_bytes: usize,
    idle_timeout: Duration,
    max_connections: usize,
    connections: AtomicUsize,
    refused_logged: AtomicBool,
}

impl Shared {
    /// Parses a message, filters it by program, and queues what is left.
    /// False when the source is gone.
    fn deliver(&self, raw: &[u8]) -> bool {
        let item = match parse::parse(raw) {
            Ok(m) => {
                if !self.programs.is_empty() && !self.programs.iter().any(|p| p.matches(&m.program))
                {
                    return true;
                }
                Item::Line(m.line)
            }
            Err(why) => Item::Malformed(why),
        };
        self.tx.send(item).is_ok()
    }

    fn malformed(&self, why: Malformed) -> bool {
        self.tx.send(Item::Malformed(why)).is_ok()
    }
}

/// A bound UDP socket, for the kernel's drop count.
#[derive(Debug, Clone)]
pub struct UdpSocketInfo {
    pub listen: String,
    /// The socket's inode: its line in `/proc/net/udp{,6}`.
    pub inode: u64,
}

/// Syslog listeners as one source.
pub struct SyslogSource {
    rx: Receiver<Item>,
    early: Option<Item>,
    poll_interval: Duration,
    bound: Vec<Listen>,
    udp: Vec<UdpSocketInfo>,
}

impl SyslogSource {
    /// Binds every address and starts the listener threads.
    pub fn bind(cfg: &SyslogConfig) -> io::Result<SyslogSource> {
        let (tx, rx) = sync_channel(CHANNEL);
        let shared = Arc::new(Shared {
            tx,
            programs: cfg
                .programs
                .iter()
                .filter_map(|p| glob::Pattern::new(p).ok())
                .collect(),
            max_message_bytes: cfg.max_message_bytes,
            idle_timeout: cfg.idle_timeout,
            max_connections: cfg.max_connections,
            connections: AtomicUsize::new(0),
            refused_logged: AtomicBool::new(false),
        });
        let mut bound = Vec::new();
        let mut udp = Vec::new();
        let mut starts: Vec<Box<dyn FnOnce() + Send>> = Vec::new();
        for l in &cfg.listen {
            let with_addr = |e: io::Error| io::Error::new(e.kind(), format!("{l}: {e}"));
            match l.transport {
                Transport::Udp => {
                    let socket = UdpSocket::bind(l.addr).map_err(with_addr)?;
                    if let Some(n) = cfg.receive_buffer_bytes {
                        rustix::net::sockopt::set_socket_recv_buffer_size(&socket, n)
                            .map_err(|e| with_addr(e.into()))?;
                    }
                    let local = socket.local_addr()?;
                    let actual = Listen {
                        transport: Transport::Udp,
                        addr: local,
                    };
                    udp.push(UdpSocketInfo {
                        listen: actual.to_string(),
                        inode: rustix::fs::fstat(&socket).map_err(io::Error::from)?.st_ino,
                    });
                    bound.push(actual);
                    let shared = Arc::clone(&shared);
                    starts.push(Box::new(move || serve_udp(socket, &shared)));
                }
                Transport::Tcp => {
                    let listener = TcpListener::bind(l.addr).map_err(with_addr)?;
                    bound.push(Listen {
                        transport: Transport::Tcp,
                        addr: listener.local_addr()?,
                    });
                    let shared = Arc::clone(&shared);
                    starts.push(Box::new(move || accept_tcp(listener, &shared)));
                }
            }
        }
        // Every address bound before any thread runs: a failure leaves
        // nothing behind.
        for start in starts {
            std::thread::Builder::new()
                .name("syslog-listener".into())
                .spawn(start)?;
        }
        Ok(SyslogSource {
            rx,
            early: None,
            poll_interval: cfg.poll_interval,
            bound,
            udp,
        })
    }

    /// The addresses actually bound (port 0 resolved).
    pub fn local_addrs(&self) -> &[Listen] {
        &self.bound
    }

    /// The UDP sockets, for the collector of the kernel's drop counts.
    pub fn udp_sockets(&self) -> &[UdpSocketInfo] {
        &self.udp
    }
}

fn serve_udp(socket: UdpSocket, shared: &Shared) {
    // One byte more than allowed: a datagram that fills it was cut.
    let mut buf = vec![0u8; shared.max_message_bytes + 1];
    loop {
        let go_on = match socket.recv(&mut buf) {
            Ok(n) if n > shared.max_message_bytes => shared.malformed(Malformed::Oversize),
            Ok(n) => shared.deliver(&buf[..n]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => true,
            Err(_) => {
                std::thread::sleep(Duration::from_millis(100));
                true
            }
        };
        if !go_on {
            return;
        }
    }
}

fn accept_tcp(listener: TcpListener, shared: &Arc<Shared>) {
    for stream in listener.incoming() {
        let Ok(stream) = stream else {
            // EMFILE and the like: wait, do not spin.
            std::thread::sleep(Duration::from_millis(100));
            continue;
        };
        let taken = shared.connections.fetch_add(1, Ordering::AcqRel);
        if taken >= shared.max_connections {
            shared.connections.fetch_sub(1, Ordering::AcqRel);
            if !shared.refused_logged.swap(true, Ordering::AcqRel) {
                log::warn!(limit = shared.max_connections; "syslog TCP connection limit reached; closing new connections");
            }
            continue;
        }
        let shared2 = Arc::clone(shared);
        let spawned = std::thread::Builder::new()
            .name("syslog-conn".into())
            .spawn(move || {
                serve_tcp(stream, &shared2);
                shared2.connections.fetch_sub(1, Ordering::AcqRel);
            });
        if spawned.is_err() {
            shared.connections.fetch_sub(1, Ordering::AcqRel);
        }
    }
}

/// How a TCP connection frames its messages (RFC 6587), decided by its
/// first byte: a digit starts an octet count, anything else is a message
/// ended by a newline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Framing {
    OctetCounting,
    NewLine,
}

/// One connection's framing state.
struct Frames {
    framing: Option<Framing>,
    buf: Vec<u8>,
    /// Bytes of an oversize octet-counted frame still to skip.
    skip: usize,
    /// Skipping an oversize newline-framed message up to its newline.
    skip_line: bool,
    max: usize,
}

/// What a connection's bytes held.
#[derive(Debug, PartialEq, Eq)]
enum Frame {
    Message(Vec<u8>),
    Malformed(Malformed),
    /// The stream cannot be understood further: close it.
    Fatal(Malformed),
}

impl Frames {
    fn new(max: usize) -> Frames {
        Frames {
            framing: None,
            buf: Vec::new(),
            skip: 0,
            skip_line: false,
            max,
        }
    }

    /// Takes more bytes and hands out every frame they complete.
    fn push(&mut self, mut data: &[u8], out: &mut Vec<Frame>) {
        if self.skip > 0 {
            let n = self.skip.min(data.len());
            self.skip -= n;
            data = &data[n..];
        }
        self.buf.extend_from_slice(data);
        loop {
            if self.buf.is_empty() {
                return;
            }
            let framing = *self.framing.get_or_insert(if self.buf[0].is_ascii_digit() {
                Framing::OctetCounting
            } else {
                Framing::NewLine
            });
            match framing {
                Framing::NewLine => match memchr::memchr(b'\n', &self.buf) {
                    Some(i) => {
                        let frame: Vec<u8> = self.buf.drain(..=i).collect();
                        if std::mem::take(&mut self.skip_line) {
                            continue;
                        }
                        if frame.len() - 1 > self.max {
                            out.push(Frame::Malformed(Malformed::Oversize));
                        } else if frame.len() > 1 {
                            out.push(Frame::Message(frame));
                        }
                    }
                    None => {
                        if self.buf.len() > self.max {
                            if !self.skip_line {
                                out.push(Frame::Malformed(Malformed::Oversize));
                            }
                            self.skip_line = true;
                            self.buf.clear();
                        }
                        return;
                    }
                },
                Framing::OctetCounting => {
                    let Some(sp) = self.buf.iter().take(11).position(|b| *b == b' ') else {
                        if self.buf.len() > 10 || !self.buf.iter().all(u8::is_ascii_digit) {
                            out.push(Frame::Fatal(Malformed::BadFrame));
                            self.buf.clear();
                        }
                        return;
                    };
                    let digits = &self.buf[..sp];
                    let len = std::str::from_utf8(digits)
                        .ok()
                        .filter(|d| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit()))
                        .and_then(|d| d.parse::<usize>().ok());
                    let Some(len) = len else {
                        out.push(Frame::Fatal(Malformed::BadFrame));
                        self.buf.clear();
                        return;
                    };
                    if len > self.max {
                        out.push(Frame::Malformed(Malformed::Oversize));
                        let have = self.buf.len() - (sp + 1);
                        let drop = have.min(len);
                        self.buf.drain(..sp + 1 + drop);
                        self.skip = len - drop;
                        if self.skip > 0 {
                            return;
                        }
                        continue;
                    }
                    if self.buf.len() < sp + 1 + len {
                        return;
                    }
                    let frame: Vec<u8> = self.buf.drain(..sp + 1 + len).skip(sp + 1).collect();
                    out.push(Frame::Message(frame));
                }
            }
        }
    }

    /// The connection closed: a frame left unfinished.
    fn end(&mut self, out: &mut Vec<Frame>) {
        match self.framing {
            Some(Framing::OctetCounting) if !self.buf.is_empty() || self.skip > 0 => {
                out.push(Frame::Malformed(Malformed::Truncated));
            }
            // The last message of a newline-framed stream may lack its
            // newline; it is a message all the same.
            Some(Framing::NewLine) if !self.buf.is_empty() && !self.skip_line => {
                out.push(Frame::Message(std::mem::take(&mut self.buf)));
            }
            _ => {}
        }
        self.buf.clear();
    }
}

fn serve_tcp(mut stream: TcpStream, shared: &Shared) {
    // A silent client is closed after the idle timeout; its thread waits
    // in read() meanwhile, and nobody else does.
    let _ = stream.set_read_timeout(Some(shared.idle_timeout));
    let mut frames = Frames::new(shared.max_message_bytes);
    let mut chunk = vec![0u8; 64 * 1024];
    let mut out = Vec::new();
    loop {
        let n = match stream.read(&mut chunk) {
            Ok(0) => {
                frames.end(&mut out);
                0
            }
            Ok(n) => {
                frames.push(&chunk[..n], &mut out);
                n
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            // Idle for too long, reset, or gone.
            Err(_) => 0,
        };
        for frame in out.drain(..) {
            let go_on = match frame {
                Frame::Message(m) => shared.deliver(&m),
                Frame::Malformed(why) => shared.malformed(why),
                Frame::Fatal(why) => {
                    shared.malformed(why);
                    false
                }
            };
            if !go_on {
                return;
            }
        }
        if n == 0 {
            return;
        }
    }
}

impl SyslogSource {
    fn take(&mut self) -> Option<Item> {
        if let Some(item) = self.early.take() {
            return Some(item);
        }
        self.rx.try_recv().ok()
    }
}

impl Source for SyslogSource {
    fn kind(&self) -> &'static str {
        "syslog"
    }

    fn malformed_reasons(&self) -> &'static [&'static str] {
        const NAMES: [&str; 6] = [
            Malformed::BadPri.as_str(),
            Malformed::Oversize.as_str(),
            Malformed::Truncated.as_str(),
            Malformed::BadFrame.as_str(),
            Malformed::Binary.as_str(),
            Malformed::BadHeader.as_str(),
        ];
        &NAMES
    }

    /// Messages have no position to resume from.
    fn resume(&mut self, _positions: Vec<Position>, _covered_until: f64) {}

    fn pass(&mut self, sink: &mut dyn Sink) -> ControlFlow<()> {
        let mut block = Vec::new();
        while let Some(item) = self.take() {
            match item {
                Item::Line(line) => {
                    block.extend_from_slice(&line);
                    block.push(b'\n');
                    if block.len() >= BLOCK_BYTES {
                        let flow = sink.lines(&Position::Stream, &block, 0);
                        block.clear();
                        if flow.is_break() {
                            return flow;
                        }
                    }
                }
                Item::Malformed(why) => sink.malformed(why.as_str()),
            }
        }
        if !block.is_empty() && sink.lines(&Position::Stream, &block, 0).is_break() {
            return ControlFlow::Break(());
        }
        sink.status(Status {
            up: true,
            ..Status::default()
        });
        ControlFlow::Continue(())
    }

    fn wait(&mut self) {
        if self.early.is_none() {
            match self.rx.recv_timeout(self.poll_interval) {
                Ok(item) => self.early = Some(item),
                Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frames(max: usize, chunks: &[&[u8]], close: bool) -> Vec<Frame> {
        let mut f = Frames::new(max);
        let mut out = Vec::new();
        for c in chunks {
            f.push(c, &mut out);
        }
        if close {
            f.end(&mut out);
        }
        out
    }

    fn msg(s: &str) -> Frame {
        Frame::Message(s.as_bytes().to_vec())
    }

    #[test]
    fn octet_counting_across_reads() {
        let got = frames(100, &[b"5 he", b"llo3 abc", b"11 <13>gw: hi\n"], true);
        assert_eq!(got, [msg("hello"), msg("abc"), msg("<13>gw: hi\n")]);
    }

    #[test]
    fn newline_framing_and_an_unterminated_last_message() {
        let got = frames(100, &[b"<13>a\n<13>b", b"\n\n<13>c"], true);
        assert_eq!(got, [msg("<13>a\n"), msg("<13>b\n"), msg("<13>c")]);
    }

    #[test]
    fn oversize_frames_are_skipped_and_the_next_one_read() {
        let got = frames(4, &[b"10 0123", b"456789", b"2 ok"], true);
        assert_eq!(got, [Frame::Malformed(Malformed::Oversize), msg("ok")]);
        let got = frames(4, &[b"<13>toolong", b"stillgoing\n<1>a\n"], true);
        assert_eq!(got, [Frame::Malformed(Malformed::Oversize), msg("<1>a\n")]);
    }

    #[test]
    fn truncated_and_bad_counts() {
        assert_eq!(
            frames(100, &[b"10 short"], true),
            [Frame::Malformed(Malformed::Truncated)]
        );
        assert_eq!(
            frames(100, &[b"12x <13>a"], true),
            [Frame::Fatal(Malformed::BadFrame)]
        );
    }
}

//! The few pieces of the kernel's `NETLINK_SOCK_DIAG` protocol this crate
//! needs: a TCP dump request with a state mask, no extensions and a port
//! filter in `inet_diag` bytecode, and the fixed 72-byte `inet_diag_msg`
//! head of each reply.
//!
//! Two requests list the same sockets. `SOCK_DIAG_BY_FAMILY` asks for one
//! address family, so IPv4 and IPv6 take two dumps, and each dump walks the
//! kernel's whole established-socket hash table (at 100,000 sockets the
//! walk that finds no IPv6 socket alone costs 15–30 ms). The older
//! `TCPDIAG_GETSOCK` request, which the kernel keeps for compatibility,
//! walks it once for both families, so [`Dump::Both`] uses it; a kernel that
//! refuses it gets the two per-family dumps instead.
//!
//! Owns the wire format and the socket; it knows nothing of metrics or
//! configuration. Built on `rustix::net` (no `unsafe`, no extra crates):
//! the structs are few and fixed, and reading the five fields we need
//! straight from the receive buffer costs no allocation per socket, which
//! matters at tens of thousands of connections. Netlink answers for the
//! network namespace of the calling process, whatever procfs path the rest
//! of the exporter reads.
//!
//! ```no_run
//! use gateway_exporter::sockstat::sock_diag::{port_filter, Dump, SockDiag, ALL_TCP_STATES};
//! let mut diag = SockDiag::open().unwrap();
//! let filter = port_filter(&[25], &[25]);
//! let mut established = 0;
//! diag.dump_tcp(Dump::Both, ALL_TCP_STATES, filter.as_deref(), |s| {
//!     established += usize::from(s.state == 1);
//! })
//! .unwrap();
//! ```

use std::fmt;
use std::os::fd::OwnedFd;
use std::time::Duration;

use rustix::io::Errno;
use rustix::net::{
    AddressFamily, RecvFlags, SendFlags, SocketFlags, SocketType, netlink, recv, send, socket_with,
    sockopt,
};

const NLMSG_HDRLEN: usize = 16;
const NLMSG_NOOP: u16 = 1;
const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
const NLMSG_OVERRUN: u16 = 4;
const NLM_F_REQUEST: u16 = 0x1;
/// NLM_F_ROOT | NLM_F_MATCH.
const NLM_F_DUMP: u16 = 0x300;
const SOCK_DIAG_BY_FAMILY: u16 = 20;
/// The compatibility request (and reply) type: TCP, both families.
const TCPDIAG_GETSOCK: u16 = 18;
const IPPROTO_TCP: u8 = 6;
/// sizeof(struct inet_diag_req_v2).
const REQ_V2_LEN: usize = 56;
/// sizeof(struct inet_diag_req), the compatibility request.
const REQ_V1_LEN: usize = 60;
/// sizeof(struct inet_diag_msg).
const DIAG_MSG_LEN: usize = 72;
const INET_DIAG_REQ_BYTECODE: u16 = 1;

const INET_DIAG_BC_JMP: u8 = 1;
const INET_DIAG_BC_S_GE: u8 = 2;
const INET_DIAG_BC_S_LE: u8 = 3;
const INET_DIAG_BC_D_GE: u8 = 4;
const INET_DIAG_BC_D_LE: u8 = 5;

/// Bits 1 (ESTABLISHED) to 11 (CLOSING) of the kernel's TCP states; the
/// kernel adds its internal NEW_SYN_RECV when SYN_RECV is asked for.
pub const ALL_TCP_STATES: u32 = 0xffe;

/// The kernel caps netlink dump messages near 32 KiB; twice that leaves no
/// chance of a truncated read.
const RECV_BUFFER: usize = 64 * 1024;

/// A stuck kernel reply must not hang a scrape forever.
const RECV_TIMEOUT: Duration = Duration::from_secs(5);

/// An address family, as the kernel numbers it in `inet_diag_msg`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    Ipv4,
    Ipv6,
}

impl Family {
    const AF_INET: u8 = 2;
    const AF_INET6: u8 = 10;

    fn from_af(af: u8) -> Option<Family> {
        match af {
            Family::AF_INET => Some(Family::Ipv4),
            Family::AF_INET6 => Some(Family::Ipv6),
            _ => None,
        }
    }
}

/// Which sockets one dump lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dump {
    /// `SOCK_DIAG_BY_FAMILY` for AF_INET.
    Ipv4,
    /// `SOCK_DIAG_BY_FAMILY` for AF_INET6.
    Ipv6,
    /// `TCPDIAG_GETSOCK`: both families in one walk.
    Both,
}

impl fmt::Display for Dump {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Dump::Ipv4 => "AF_INET",
            Dump::Ipv6 => "AF_INET6",
            Dump::Both => "TCPDIAG_GETSOCK",
        })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DiagError {
    #[error("cannot open a NETLINK_SOCK_DIAG socket: {0}")]
    Open(Errno),
    #[error("cannot send the {dump} dump request: {errno}")]
    Send { dump: Dump, errno: Errno },
    #[error("cannot receive the {dump} dump: {errno}")]
    Recv { dump: Dump, errno: Errno },
    #[error("the kernel refused the {dump} TCP dump: {errno}")]
    Refused { dump: Dump, errno: Errno },
    #[error("malformed {dump} dump reply: {what}")]
    Malformed { dump: Dump, what: &'static str },
}

impl DiagError {
    /// The kernel has no handler for this request (IPv6 compiled out,
    /// `tcp_diag` not loadable, the compatibility request removed): not a
    /// fault of the socket.
    pub fn is_refused(&self) -> bool {
        matches!(self, DiagError::Refused { .. })
    }
}

/// The fields of one `inet_diag_msg` this crate reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DiagSocket {
    pub family: Family,
    /// The kernel's TCP state number (1 = ESTABLISHED … 11 = CLOSING).
    pub state: u8,
    pub local_port: u16,
    pub remote_port: u16,
    /// Listening sockets: the accept queue length. Others: bytes received
    /// and not yet read (plus one for a received FIN).
    pub recv_queue: u32,
    /// Listening sockets: the accept backlog. Others: bytes written and not
    /// yet acknowledged.
    pub send_queue: u32,
}

/// One `inet_diag_bc_op`: code, where to go when the test holds (`yes`,
/// relative, must be a multiple of 4) and where when it fails (`no`).
fn op(bytecode: &mut Vec<u8>, code: u8, yes: u8, no: u16) {
    bytecode.push(code);
    bytecode.push(yes);
    bytecode.extend_from_slice(&no.to_ne_bytes());
}

/// Bytecode keeping sockets whose local port is in `local` or whose remote
/// port is in `remote`, so the kernel does not copy out the rest.
///
/// Each port is tested as `port >= p && port <= p` (the `*_GE`/`*_LE` ops
/// exist in every kernel; the `*_EQ` ones only since 4.16). Alternatives
/// are chained the way `ss` does: a failed test jumps to the next
/// alternative, a passed one to a `JMP` to the end (accept); jumping 4
/// bytes past the end rejects. The kernel's verifier walks the `yes` edges
/// from the start and requires every `no` target to be on that walk, which
/// this layout satisfies. Returns `None` when there is nothing to match or
/// the program would not fit the 16-bit offsets (the caller then filters
/// in user space).
pub fn port_filter(local: &[u16], remote: &[u16]) -> Option<Vec<u8>> {
    let alternatives: Vec<(u8, u8, u16)> = local
        .iter()
        .map(|&p| (INET_DIAG_BC_S_GE, INET_DIAG_BC_S_LE, p))
        .chain(
            remote
                .iter()
                .map(|&p| (INET_DIAG_BC_D_GE, INET_DIAG_BC_D_LE, p)),
        )
        .collect();
    if alternatives.is_empty() {
        return None;
    }
    // 16 bytes of tests per alternative, plus a 4-byte JMP between them.
    let len = alternatives.len() * 20 - 4;
    // The attribute header (4 bytes) and the reject target (len + 4) must
    // both fit in 16 bits.
    if len + 8 > usize::from(u16::MAX) {
        return None;
    }
    let mut bytecode = Vec::with_capacity(len);
    for (i, &(ge, le, port)) in alternatives.iter().enumerate() {
        op(&mut bytecode, ge, 8, 20);
        op(&mut bytecode, 0, 0, port);
        op(&mut bytecode, le, 8, 12);
        op(&mut bytecode, 0, 0, port);
        if i + 1 < alternatives.len() {
            let to_end = len - bytecode.len();
            op(&mut bytecode, INET_DIAG_BC_JMP, 4, to_end as u16);
        }
    }
    debug_assert_eq!(bytecode.len(), len);
    Some(bytecode)
}

fn request(seq: u32, dump: Dump, states: u32, bytecode: Option<&[u8]>) -> Vec<u8> {
    let (kind, body_len) = match dump {
        Dump::Ipv4 | Dump::Ipv6 => (SOCK_DIAG_BY_FAMILY, REQ_V2_LEN),
        Dump::Both => (TCPDIAG_GETSOCK, REQ_V1_LEN),
    };
    let attr_len = bytecode.map_or(0, |bc| 4 + bc.len());
    let total = NLMSG_HDRLEN + body_len + attr_len.next_multiple_of(4);
    let mut buf = Vec::with_capacity(total);
    // struct nlmsghdr
    buf.extend_from_slice(&(total as u32).to_ne_bytes());
    buf.extend_from_slice(&kind.to_ne_bytes());
    buf.extend_from_slice(&(NLM_F_REQUEST | NLM_F_DUMP).to_ne_bytes());
    buf.extend_from_slice(&seq.to_ne_bytes());
    buf.extend_from_slice(&0u32.to_ne_bytes());
    match dump {
        Dump::Ipv4 | Dump::Ipv6 => {
            let af = if dump == Dump::Ipv4 {
                Family::AF_INET
            } else {
                Family::AF_INET6
            };
            // struct inet_diag_req_v2: family, protocol, no extensions,
            // padding, the state mask, and an all-zero socket id (any).
            buf.extend_from_slice(&[af, IPPROTO_TCP, 0, 0]);
            buf.extend_from_slice(&states.to_ne_bytes());
            buf.extend_from_slice(&[0u8; 48]);
        }
        Dump::Both => {
            // struct inet_diag_req: the family byte is ignored (the kernel
            // dumps AF_UNSPEC), no address lengths, no extensions, an
            // all-zero socket id, the state mask, and the unused table mask.
            buf.extend_from_slice(&[Family::AF_INET, 0, 0, 0]);
            buf.extend_from_slice(&[0u8; 48]);
            buf.extend_from_slice(&states.to_ne_bytes());
            buf.extend_from_slice(&0u32.to_ne_bytes());
        }
    }
    if let Some(bc) = bytecode {
        buf.extend_from_slice(&(attr_len as u16).to_ne_bytes());
        buf.extend_from_slice(&INET_DIAG_REQ_BYTECODE.to_ne_bytes());
        buf.extend_from_slice(bc);
        buf.resize(total, 0);
    }
    buf
}

fn u16_ne(b: &[u8], at: usize) -> u16 {
    u16::from_ne_bytes([b[at], b[at + 1]])
}

fn u32_ne(b: &[u8], at: usize) -> u32 {
    u32::from_ne_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// Reads one `inet_diag_msg` head. Ports travel in network byte order;
/// everything else in host order.
fn parse_diag_msg(payload: &[u8]) -> Option<DiagSocket> {
    if payload.len() < DIAG_MSG_LEN {
        return None;
    }
    Some(DiagSocket {
        family: Family::from_af(payload[0])?,
        state: payload[1],
        local_port: u16::from_be_bytes([payload[4], payload[5]]),
        remote_port: u16::from_be_bytes([payload[6], payload[7]]),
        recv_queue: u32_ne(payload, 56),
        send_queue: u32_ne(payload, 60),
    })
}

/// What one receive buffer held.
enum Batch {
    More,
    Done,
}

/// Walks the netlink messages in `buf`, handing each socket to `each`.
fn parse_batch(
    buf: &[u8],
    seq: u32,
    dump: Dump,
    each: &mut impl FnMut(&DiagSocket),
) -> Result<Batch, DiagError> {
    let malformed = |what| DiagError::Malformed { dump, what };
    let mut offset = 0;
    while offset + NLMSG_HDRLEN <= buf.len() {
        let len = u32_ne(buf, offset) as usize;
        let kind = u16_ne(buf, offset + 4);
        let msg_seq = u32_ne(buf, offset + 8);
        if len < NLMSG_HDRLEN || offset + len > buf.len() {
            return Err(malformed("a message length beyond the datagram"));
        }
        let payload = &buf[offset + NLMSG_HDRLEN..offset + len];
        offset += len.next_multiple_of(4);
        // Only this request's replies count; anything else on the socket
        // (there should be nothing) is not ours to interpret.
        if msg_seq != seq {
            continue;
        }
        match kind {
            NLMSG_DONE => {
                // A dump that failed midway says so in DONE's payload.
                if payload.len() >= 4 {
                    let code = i32::from_ne_bytes([payload[0], payload[1], payload[2], payload[3]]);
                    if code < 0 {
                        return Err(DiagError::Refused {
                            dump,
                            errno: Errno::from_raw_os_error(-code),
                        });
                    }
                }
                return Ok(Batch::Done);
            }
            NLMSG_ERROR => {
                if payload.len() < 4 {
                    return Err(malformed("a short NLMSG_ERROR"));
                }
                let code = i32::from_ne_bytes([payload[0], payload[1], payload[2], payload[3]]);
                if code < 0 {
                    return Err(DiagError::Refused {
                        dump,
                        errno: Errno::from_raw_os_error(-code),
                    });
                }
            }
            NLMSG_OVERRUN => return Err(malformed("NLMSG_OVERRUN")),
            NLMSG_NOOP => {}
            // Each request's replies carry its own type.
            SOCK_DIAG_BY_FAMILY | TCPDIAG_GETSOCK => {
                if payload.len() < DIAG_MSG_LEN {
                    return Err(malformed("a short inet_diag_msg"));
                }
                // Neither IPv4 nor IPv6: not a TCP/IP socket to count.
                if let Some(socket) = parse_diag_msg(payload) {
                    each(&socket);
                }
            }
            _ => {}
        }
    }
    Ok(Batch::More)
}

/// An open `NETLINK_SOCK_DIAG` socket.
pub struct SockDiag {
    fd: OwnedFd,
    seq: u32,
    buf: Vec<u8>,
}

impl SockDiag {
    pub fn open() -> Result<SockDiag, DiagError> {
        let fd = socket_with(
            AddressFamily::NETLINK,
            SocketType::RAW,
            SocketFlags::CLOEXEC,
            Some(netlink::SOCK_DIAG),
        )
        .map_err(DiagError::Open)?;
        sockopt::set_socket_timeout(&fd, sockopt::Timeout::Recv, Some(RECV_TIMEOUT))
            .map_err(DiagError::Open)?;
        Ok(SockDiag {
            fd,
            seq: 0,
            buf: vec![0; RECV_BUFFER],
        })
    }

    /// Dumps the TCP sockets `dump` lists, in the states of `states` (a
    /// mask of `1 << state`), kept by `bytecode` if given, calling `each` on
    /// every one.
    pub fn dump_tcp(
        &mut self,
        dump: Dump,
        states: u32,
        bytecode: Option<&[u8]>,
        mut each: impl FnMut(&DiagSocket),
    ) -> Result<(), DiagError> {
        self.seq = self.seq.wrapping_add(1);
        let req = request(self.seq, dump, states, bytecode);
        loop {
            match send(&self.fd, &req, SendFlags::empty()) {
                Ok(n) if n == req.len() => break,
                Ok(_) => {
                    return Err(DiagError::Malformed {
                        dump,
                        what: "a short send",
                    });
                }
                Err(Errno::INTR) => continue,
                Err(errno) => return Err(DiagError::Send { dump, errno }),
            }
        }
        loop {
            // TRUNC makes the kernel report a datagram's full length even
            // when it did not fit, so a cut reply is detected, not misread.
            let (filled, full) = match recv(&self.fd, &mut self.buf[..], RecvFlags::TRUNC) {
                Ok(r) => r,
                Err(Errno::INTR) => continue,
                Err(errno) => return Err(DiagError::Recv { dump, errno }),
            };
            if full > filled {
                return Err(DiagError::Malformed {
                    dump,
                    what: "a datagram larger than the receive buffer",
                });
            }
            if filled == 0 {
                return Err(DiagError::Malformed {
                    dump,
                    what: "an empty datagram",
                });
            }
            if let Batch::Done = parse_batch(&self.buf[..filled], self.seq, dump, &mut each)? {
                return Ok(());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The kernel's `inet_diag_bc_audit()` and `valid_cc()`, ported, so the
    /// bytecode is checked against the verifier it must pass.
    fn audit(bc: &[u8]) -> bool {
        fn valid_cc(bc: &[u8], mut len: i64, cc: i64) -> bool {
            let mut at = 0usize;
            while len >= 0 {
                if cc > len {
                    return false;
                }
                if cc == len {
                    return true;
                }
                let yes = i64::from(bc[at + 1]);
                if yes < 4 || yes & 3 != 0 {
                    return false;
                }
                len -= yes;
                at += yes as usize;
            }
            false
        }
        let total = bc.len() as i64;
        let mut len = total;
        let mut at = 0usize;
        while len > 0 {
            let code = bc[at];
            let yes = i64::from(bc[at + 1]);
            let no = i64::from(u16_ne(bc, at + 2));
            let mut min_len = 4;
            match code {
                INET_DIAG_BC_S_GE | INET_DIAG_BC_S_LE | INET_DIAG_BC_D_GE | INET_DIAG_BC_D_LE => {
                    min_len += 4;
                    if len < min_len {
                        return false;
                    }
                }
                INET_DIAG_BC_JMP | 0 => {}
                _ => return false,
            }
            if code != 0 {
                if no < min_len || no > len + 4 || no & 3 != 0 {
                    return false;
                }
                if no < len && !valid_cc(bc, total, len - no) {
                    return false;
                }
            }
            if yes < min_len || yes > len + 4 || yes & 3 != 0 {
                return false;
            }
            at += yes as usize;
            len -= yes;
        }
        len == 0
    }

    /// The kernel's `inet_diag_bc_run()` for the ops used here.
    fn run(bc: &[u8], sport: u16, dport: u16) -> bool {
        let mut len = bc.len() as i64;
        let mut at = 0usize;
        while len > 0 {
            let arg = || u16_ne(bc, at + 6);
            let yes = match bc[at] {
                0 => true,
                INET_DIAG_BC_JMP => false,
                INET_DIAG_BC_S_GE => sport >= arg(),
                INET_DIAG_BC_S_LE => sport <= arg(),
                INET_DIAG_BC_D_GE => dport >= arg(),
                INET_DIAG_BC_D_LE => dport <= arg(),
                _ => unreachable!(),
            };
            let step = if yes {
                i64::from(bc[at + 1])
            } else {
                i64::from(u16_ne(bc, at + 2))
            };
            len -= step;
            if len < 0 {
                break;
            }
            at += step as usize;
        }
        len == 0
    }

    #[test]
    fn port_filter_passes_the_verifier_and_keeps_exactly_the_ports() {
        let cases: &[(&[u16], &[u16])] = &[
            (&[25], &[]),
            (&[], &[25]),
            (&[25, 587], &[25]),
            (&[1, 2, 3, 65535], &[0, 443, 65534]),
        ];
        for &(local, remote) in cases {
            let bc = port_filter(local, remote).unwrap();
            assert!(audit(&bc), "{local:?} {remote:?}");
            for sport in [
                0u16, 1, 2, 3, 4, 24, 25, 26, 443, 586, 587, 588, 65534, 65535,
            ] {
                for dport in [0u16, 1, 24, 25, 26, 443, 587, 65534, 65535] {
                    let want = local.contains(&sport) || remote.contains(&dport);
                    assert_eq!(
                        run(&bc, sport, dport),
                        want,
                        "{local:?} {remote:?} {sport} {dport}"
                    );
                }
            }
        }
        assert_eq!(port_filter(&[], &[]), None);
        let many: Vec<u16> = (1..=3276).collect();
        assert!(port_filter(&many, &[]).is_some_and(|bc| audit(&bc)));
        let too_many: Vec<u16> = (1..=3277).collect();
        assert_eq!(port_filter(&too_many, &[]), None);
    }

    #[test]
    fn request_layout() {
        let bc = port_filter(&[25], &[]).unwrap();
        let req = request(7, Dump::Ipv6, ALL_TCP_STATES, Some(&bc));
        assert_eq!(req.len(), 16 + 56 + 4 + 16);
        assert_eq!(u32_ne(&req, 0) as usize, req.len());
        assert_eq!(u16_ne(&req, 4), SOCK_DIAG_BY_FAMILY);
        assert_eq!(u32_ne(&req, 8), 7);
        assert_eq!(&req[16..20], &[10, 6, 0, 0]);
        assert_eq!(u32_ne(&req, 20), 0xffe);
        assert_eq!(u16_ne(&req, 72), 20);
        assert_eq!(u16_ne(&req, 74), INET_DIAG_REQ_BYTECODE);
        assert_eq!(request(1, Dump::Ipv4, 2, None).len(), 72);
        let compat = request(1, Dump::Both, ALL_TCP_STATES, Some(&bc));
        assert_eq!(compat.len(), 16 + 60 + 4 + 16);
        assert_eq!(u16_ne(&compat, 4), TCPDIAG_GETSOCK);
        // idiag_states follows the 4-byte head and the 48-byte socket id.
        assert_eq!(u32_ne(&compat, 16 + 52), 0xffe);
        assert_eq!(u16_ne(&compat, 76), 20);
    }

    fn reply(seq: u32, kind: u16, payload: &[u8]) -> Vec<u8> {
        let mut m = Vec::new();
        m.extend_from_slice(&((16 + payload.len()) as u32).to_ne_bytes());
        m.extend_from_slice(&kind.to_ne_bytes());
        m.extend_from_slice(&2u16.to_ne_bytes());
        m.extend_from_slice(&seq.to_ne_bytes());
        m.extend_from_slice(&0u32.to_ne_bytes());
        m.extend_from_slice(payload);
        m.resize(m.len().next_multiple_of(4), 0);
        m
    }

    fn diag_msg(af: u8, state: u8, sport: u16, dport: u16, rq: u32, wq: u32) -> Vec<u8> {
        let mut p = vec![0u8; 72];
        p[0] = af;
        p[1] = state;
        p[4..6].copy_from_slice(&sport.to_be_bytes());
        p[6..8].copy_from_slice(&dport.to_be_bytes());
        p[56..60].copy_from_slice(&rq.to_ne_bytes());
        p[60..64].copy_from_slice(&wq.to_ne_bytes());
        // An attribute after the head, as kernels append (INET_DIAG_SHUTDOWN).
        p.extend_from_slice(&[5, 0, 8, 0, 0, 0, 0, 0]);
        p
    }

    #[test]
    fn parses_messages_errors_and_done() {
        let mut buf = reply(3, SOCK_DIAG_BY_FAMILY, &diag_msg(2, 1, 25, 40000, 10, 20));
        // Another request's reply, a compatibility reply, a non-IP family.
        buf.extend(reply(2, SOCK_DIAG_BY_FAMILY, &diag_msg(2, 1, 1, 1, 0, 0)));
        buf.extend(reply(3, TCPDIAG_GETSOCK, &diag_msg(10, 6, 25, 40001, 0, 0)));
        buf.extend(reply(3, SOCK_DIAG_BY_FAMILY, &diag_msg(1, 1, 25, 1, 0, 0)));
        buf.extend(reply(3, NLMSG_NOOP, &[]));
        let mut seen = Vec::new();
        let r = parse_batch(&buf, 3, Dump::Both, &mut |s| seen.push(*s));
        assert!(matches!(r, Ok(Batch::More)));
        assert_eq!(
            seen,
            [
                DiagSocket {
                    family: Family::Ipv4,
                    state: 1,
                    local_port: 25,
                    remote_port: 40000,
                    recv_queue: 10,
                    send_queue: 20
                },
                DiagSocket {
                    family: Family::Ipv6,
                    state: 6,
                    local_port: 25,
                    remote_port: 40001,
                    recv_queue: 0,
                    send_queue: 0
                }
            ]
        );
        let done = reply(3, NLMSG_DONE, &0i32.to_ne_bytes());
        assert!(matches!(
            parse_batch(&done, 3, Dump::Ipv4, &mut |_| {}),
            Ok(Batch::Done)
        ));
        let err = reply(3, NLMSG_ERROR, &(-2i32).to_ne_bytes());
        let e = parse_batch(&err, 3, Dump::Ipv6, &mut |_| {}).err().unwrap();
        assert!(e.is_refused(), "{e}");
        assert!(e.to_string().contains("AF_INET6"), "{e}");
        let failed = reply(3, NLMSG_DONE, &(-4i32).to_ne_bytes());
        assert!(parse_batch(&failed, 3, Dump::Both, &mut |_| {}).is_err());
        let mut cut = reply(3, SOCK_DIAG_BY_FAMILY, &diag_msg(2, 1, 25, 1, 0, 0));
        cut.truncate(40);
        assert!(parse_batch(&cut, 3, Dump::Ipv4, &mut |_| {}).is_err());
        let short = reply(3, SOCK_DIAG_BY_FAMILY, &[0; 8]);
        assert!(parse_batch(&short, 3, Dump::Ipv4, &mut |_| {}).is_err());
    }

    /// Both requests, against real sockets: a listener per family, found by
    /// the one-walk request and by the per-family ones alike.
    #[test]
    fn dumps_listeners_of_this_process() {
        let v4 = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let v4_port = v4.local_addr().unwrap().port();
        // A host without IPv6 still checks the IPv4 half.
        let v6 = std::net::TcpListener::bind("[::1]:0").ok();
        let v6_port = v6.as_ref().map(|l| l.local_addr().unwrap().port());
        let mut want = vec![(Family::Ipv4, 10, v4_port)];
        want.extend(v6_port.map(|p| (Family::Ipv6, 10, p)));
        let ports: Vec<u16> = want.iter().map(|w| w.2).collect();
        let bc = port_filter(&ports, &[]).unwrap();
        let mut diag = SockDiag::open().unwrap();
        let mut both = Vec::new();
        diag.dump_tcp(Dump::Both, ALL_TCP_STATES, Some(&bc), |s| {
            both.push((s.family, s.state, s.local_port))
        })
        .unwrap();
        let mut each = Vec::new();
        for dump in [Dump::Ipv4, Dump::Ipv6] {
            diag.dump_tcp(dump, ALL_TCP_STATES, Some(&bc), |s| {
                each.push((s.family, s.state, s.local_port))
            })
            .unwrap();
        }
        // The one walk visits the listening hash in bucket order.
        both.sort_by_key(|&(_, _, port)| port);
        each.sort_by_key(|&(_, _, port)| port);
        want.sort_by_key(|&(_, _, port)| port);
        assert_eq!(both, want);
        assert_eq!(each, want);
    }
}

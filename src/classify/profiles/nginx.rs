//! nginx (`<call>() failed (<n>: <text>)`; current builds write `connect()
//! to <addr> failed (...)`), "upstream timed out (110: ...)", and nginx Unit
//! (`<call>(<args>) failed (<n>: <text>)` from unitd, `<call>(<args>)
//! failed: <text> (<n>)` from libunit). Linux numbering.
//!
//! Only socket calls count: `open() "/x" failed (2: No such file or
//! directory)` is a file error and is left to the drift counter.
//!
//! Repeats: after a failed connect nginx writes `upstream server
//! temporarily disabled` and, while the peer is marked down, `no live
//! upstreams` for later requests: no connection is attempted. A client going
//! away (`client prematurely closed connection`) is not counted.

use crate::classify::rule::{Gate, RuleSpec};

pub const RULES: &[RuleSpec] = &[
    RuleSpec::repeat(
        "nginx.peer_down",
        Gate::Literals(&["upstream"]),
        r"\b(?:upstream server temporarily disabled|no live upstreams) while ",
    ),
    RuleSpec::event(
        "nginx",
        Gate::Literals(&["fail", "Fail", "FAIL"]),
        r"\b(?P<op>connect|recv|send|writev|readv|sendmsg|recvmsg|recvfrom|sendto|sendfile|SSL_write|SSL_read|SSL_do_handshake|SSL_shutdown|accept4?|bind|listen|shutdown|close|setsockopt|getsockopt|getsockname)\([^()]*\)(?: to \S+)? failed (?:\(SSL:[^)]*\) )?\((?P<errno>[0-9]{1,9}): (?P<text>[^)]*)\)",
    ),
    RuleSpec::event(
        "nginx.unit",
        Gate::Literals(&["fail", "Fail", "FAIL"]),
        r"\b(?P<op>connect|recv|send|writev|readv|sendmsg|recvmsg|recvfrom|sendto|sendfile|SSL_write|SSL_read|accept4?|bind|listen|shutdown|close|setsockopt|getsockopt)\([^()]*\)(?: to \S+)? failed: (?P<text>[^()]*?) \((?P<errno>[0-9]{1,9})\)",
    ),
    RuleSpec::event(
        "nginx.upstream_timeout",
        Gate::Literals(&["d out"]),
        r"\bupstream timed out \((?P<errno>[0-9]{1,9}): (?P<text>[^)]*)\)(?: while (?P<stage>[a-z ]+))?",
    ),
    RuleSpec::event(
        "nginx.upstream_closed",
        Gate::Literals(&["upstream"]),
        r"\bupstream prematurely closed connection while (?P<stage>[a-z ]+)",
    ),
];

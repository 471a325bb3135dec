//! nginx (`<call>() failed (<n>: <text>)`, "upstream timed out (110: ...)")
//! and nginx Unit (`<call>(<args>) failed (<n>: <text>)` and
//! `<call>(<args>) failed: <text> (<n>)`), Linux numbering.
//!
//! Only socket calls count: `open() "/x" failed (2: No such file or
//! directory)` is a file error, and is left to the drift counter.
//! nginx's "no live upstreams" and "upstream server temporarily disabled"
//! lines carry no error text: they report that an upstream is marked down
//! after a failure already counted, and no rule matches them.

use crate::classify::rule::{Gate, RuleSpec};

pub const RULES: &[RuleSpec] = &[
    RuleSpec::event(
        "nginx",
        Gate::Literals(&["fail", "Fail", "FAIL"]),
        r"\b(?P<op>connect|recv|send|writev|readv|sendmsg|recvmsg|recvfrom|sendto|sendfile|SSL_write|SSL_read|SSL_do_handshake|SSL_shutdown|accept4?|bind|listen|shutdown|close|setsockopt|getsockopt|getsockname)\([^()]{0,200}\) failed \((?P<errno>[0-9]{1,9}): (?P<text>[^)]*)\)",
    ),
    RuleSpec::event(
        "nginx.unit",
        Gate::Literals(&["fail", "Fail", "FAIL"]),
        r"\b(?P<op>connect|recv|send|writev|readv|sendmsg|recvmsg|recvfrom|sendto|sendfile|SSL_write|SSL_read|accept4?|bind|listen|shutdown|close|setsockopt|getsockopt)\([^()]{0,200}\) failed: (?P<text>[^()]*?) \((?P<errno>[0-9]{1,9})\)",
    ),
    RuleSpec::event(
        "nginx.upstream_timeout",
        Gate::Literals(&["timed out"]),
        r"\bupstream timed out \((?P<errno>[0-9]{1,9}): (?P<text>[^)]*)\)(?: while (?P<stage>[a-z ]+))?",
    ),
];

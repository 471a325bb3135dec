//! HAProxy: health-check failures and server state changes, which carry the
//! socket error as text (`info: "Connection refused"`), and traffic logs
//! whose termination state says the connect to the server failed. HAProxy
//! never logs an errno number.
//!
//! Every health check is a new connect(): with `option log-health-checks`
//! each failed check is logged (events), and the DOWN transition then has no
//! reason (repeat). Without it, the DOWN transition carries the last check's
//! reason (event). journald holds both the stderr copy (`[WARNING] ...`) and
//! the syslog copy of one message: the second is a repeat (same text).
//! `has no server available!`, traffic logs against `<NOSRV>` and "Health
//! analyze" summaries make no connection attempt of their own.

use crate::classify::op::Op;
use crate::classify::rule::{Gate, RuleSpec};

pub const RULES: &[RuleSpec] = &[
    RuleSpec::repeat(
        "haproxy.state",
        Gate::Literals(&["DOWN", "vailable", "fail", "SC--", "sC--"]),
        r"\bServer \S+ is DOWN\. |\bhas no server available!|reason: Health analyze|/<NOSRV> .* [sS]C-- ",
    ),
    RuleSpec::event(
        "haproxy.check_timeout",
        Gate::Literals(&["Layer4"]),
        r"\b(?P<key>(?:Health check for (?:backup )?server|Server) \S+ (?:failed|is DOWN), reason: Layer4 timeout)",
    )
    .with_op(Op::Connect)
    .implies("ETIMEDOUT")
    .dedupe(4),
    RuleSpec::event(
        "haproxy.check",
        Gate::Literals(&["Layer4"]),
        r#"\b(?P<key>(?:Health check for (?:backup )?server|Server) \S+ (?:failed|is DOWN), reason: Layer4 connection problem(?:, info: "(?P<text>[^"]*)")?.*)"#,
    )
    .with_op(Op::Connect)
    .dedupe(4),
    // Traffic log: `be/srv Tq/Tw/Tc/Tr/Tt status ... SC--`: the connection
    // to a named server was refused or failed (sC: it timed out).
    RuleSpec::event(
        "haproxy.traffic_connect",
        Gate::Literals(&["SC--", "sC--"]),
        r" \S+/[^<\s]\S* (?:-?[0-9]+/){3,4}\+?-?[0-9]+ [0-9]{3} .* SC-- ",
    )
    .with_op(Op::Connect),
    RuleSpec::event(
        "haproxy.traffic_connect_timeout",
        Gate::Literals(&["SC--", "sC--"]),
        r" \S+/[^<\s]\S* (?:-?[0-9]+/){3,4}\+?-?[0-9]+ [0-9]{3} .* sC-- ",
    )
    .with_op(Op::Connect)
    .implies("ETIMEDOUT"),
];

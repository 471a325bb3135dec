//! HAProxy: health-check failures and server state changes, which carry the
//! socket error as text (`info: "Connection refused"`). HAProxy never logs
//! the errno number.

use crate::classify::op::Op;
use crate::classify::rule::{Gate, RuleSpec};

pub const RULES: &[RuleSpec] = &[
    RuleSpec::event(
        "haproxy.check",
        Gate::Literals(&["Layer4"]),
        r#"(?:Health check for (?:backup )?server \S+ failed|Server \S+ is DOWN), reason: Layer4 (?:connection problem|timeout)(?:, info: "(?P<text>[^"]*)")?"#,
    )
    .with_op(Op::Connect),
];

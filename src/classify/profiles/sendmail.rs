//! Sendmail: one delivery status line per attempt (`stat=Deferred:
//! Connection refused by mx.example.com.`), with texts rewritten by err.c
//! (`by <host>`, `with <host>`, `during <phase>`). Linux numbering.
//!
//! Repeats: a fresh attempt logs `relay=<host>. [<ip>]` (makeconnection()
//! sets the address before connect(), so failed attempts carry it too); a
//! status taken from the host-status cache (mci cache, HostStatusDirectory)
//! logs `relay=<host>.` with no address. A read timeout is first noted as
//! `timeout waiting for input from <host> during <phase>` and then repeated
//! by that attempt's status line (same process and queue id).
//!
//! Inbound hang-ups (`lost input channel from ...`, `timeout waiting for
//! input from <client> during message collect`) are not counted: only the
//! client phases (`during client greeting`, `client EHLO`, ...) are ours.

use crate::classify::op::Op;
use crate::classify::rule::{Gate, RuleSpec};

pub const RULES: &[RuleSpec] = &[
    RuleSpec::repeat(
        "sendmail.cached",
        Gate::Texts,
        r"\b(?:sendmail|sm-mta|sm-msp-queue)\[[0-9]+\]: .*\brelay=[^\[\s,]+\.?, .*\bstat=",
    ),
    RuleSpec::event(
        "sendmail.read_timeout",
        Gate::Literals(&["waiting for input"]),
        r"\b(?:sendmail|sm-mta|sm-msp-queue)\[(?P<key>[0-9]+)\]: (?P<key2>[0-9A-Za-z]+): timeout waiting for input from \S+ during (?P<stage>client\b[^\r\n]*)",
    )
    .with_op(Op::Read)
    .witness_only(8),
    // err.c: "Host %s is down" (EHOSTDOWN) carries the host in the middle.
    RuleSpec::event(
        "sendmail.host_down",
        Gate::Texts,
        r"\b(?:sendmail|sm-mta|sm-msp-queue)\[(?P<key>[0-9]+)\]: (?P<key2>[0-9A-Za-z]+): .*\bstat=[A-Za-z ]*: Host \S+ is down",
    )
    .with_op(Op::Connect)
    .implies("EHOSTDOWN")
    .dedupe(8),
    // "Connection timed out with <host>" without "during <phase>": the
    // connect() timed out.
    RuleSpec::event(
        "sendmail.connect_timeout",
        Gate::Texts,
        r"\b(?:sendmail|sm-mta|sm-msp-queue)\[(?P<key>[0-9]+)\]: (?P<key2>[0-9A-Za-z]+): .*\bstat=[A-Za-z ]*: (?P<text>Connection timed out with \S+)$",
    )
    .with_op(Op::Connect)
    .strict()
    .dedupe(8),
    RuleSpec::event(
        "sendmail.stat",
        Gate::Texts,
        r"\b(?:sendmail|sm-mta|sm-msp-queue)\[(?P<key>[0-9]+)\]: (?P<key2>[0-9A-Za-z]+): .*\bstat=[A-Za-z ]*: (?P<text>.*)",
    )
    .strict()
    .dedupe(8),
];

//! Windows programs: Winsock `WSAE…` names, `[WinError N]` (Python),
//! `(os error N)` (Rust), .NET `SocketException (N)` and `IOException:
//! Unable to read data from the transport connection`, and Exchange's
//! "Winsock error code: N". Winsock numbering (10000 + 4.3BSD).
//!
//! Windows usually logs the long FormatMessage sentence, often localised;
//! the number, when present, decides, so a localised sentence still counts.
//!
//! Repeats: a .NET exception record prints the outer exception, then inner
//! ones on lines starting ` ---> `; the first line naming the socket
//! failure is the event and inner lines after it repeat it. Exchange's
//! `441 4.4.1 Error encountered while communicating with primary target`
//! summarises connection attempts already logged.

use super::generic::WINSOCK_BARE;
use crate::classify::rule::{Gate, RuleSpec};

pub const RULES: &[RuleSpec] = &[
    RuleSpec::repeat(
        "windows.exchange_summary",
        Gate::Literals(&["Error"]),
        r"\b4\.4\.[0-9] Error encountered while communicating with ",
    ),
    // Inner exception lines: a repeat when an outer line just named the
    // failure, otherwise the first witness.
    RuleSpec::event(
        "windows.dotnet_inner",
        Gate::Literals(&["Exception"]),
        r"^\s*---> System\.Net\.Sockets\.SocketException(?: \((?P<errno>[0-9]{1,9})\))?:? ?(?P<text>.*)",
    )
    .dedupe(2),
    RuleSpec::event(
        "windows.dotnet_io",
        Gate::Literals(&["Exception"]),
        r"IOException: Unable to (?P<op>read|write) data from the transport connection: ?(?P<text>.*)",
    )
    .witness_only(2),
    // .NET only: Java's java.net.SocketException is left to `generic`.
    RuleSpec::event(
        "windows.socket_exception",
        Gate::Literals(&["Exception"]),
        r"(?:^|[^.\w])(?:System\.Net\.Sockets\.)?SocketException(?: \((?P<errno>[0-9]{1,9})\))?:? ?(?P<text>.*)",
    )
    .witness_only(2),
    RuleSpec::event(
        "windows.wsa",
        Gate::Literals(&["WSAE"]),
        r"\b(?P<wsa>WSAE[A-Z]{2,20})\b(?:[ :]*\(?(?P<errno>1[01][0-9]{3})\)?)?",
    ),
    RuleSpec::event(
        "windows.winerror",
        Gate::Literals(&["Error"]),
        r"\[WinError (?P<errno>[0-9]{1,9})\] ?(?P<text>.*)",
    ),
    RuleSpec::event(
        "windows.winsock_code",
        Gate::Literals(&["error", "Error", "ERROR"]),
        r"(?i)winsock error(?: code)?:? (?P<errno>[0-9]{1,9})",
    ),
    RuleSpec::event(
        "windows.os_error",
        Gate::Literals(&["error"]),
        r"(?P<text>[^()]*)\(os error (?P<errno>1[01][0-9]{3})\)",
    ),
    // .NET exceptions that name the failure in the outer message, e.g.
    // HttpRequestException: "A connection attempt failed ... (host:443)".
    RuleSpec::event(
        "windows.dotnet_outer",
        Gate::Texts,
        r"\bSystem\.Net\.[A-Za-z.]*Exception: (?P<text>.*)",
    )
    .strict()
    .witness_only(2),
    WINSOCK_BARE,
];

//! `diagnose --redact`: masks IP addresses (v4 and v6), e-mail addresses
//! and host names before a report leaves the host, consistently — the same
//! value gets the same token everywhere in one report and its raw files
//! (`ip-1`, `host-2`, `mail-3@example.invalid`), so a vendor can still
//! follow "the same peer failed again" without learning who the peer is.
//!
//! It runs once per report, so it favours catching everything over speed:
//! one regex with an alternative per kind, tried left to right. Host names
//! are tokens that look like DNS names (dotted labels ending in a letter
//! TLD, file extensions such as `.log` left alone), the names in
//! Postfix/Exim's `name[address]` shapes and the host field of syslog
//! lines, which may be single labels.
//! Nothing here reads files or knows the report's layout.
//!
//! ```
//! use gateway_exporter::diagnose::redact::Redactor;
//! let mut r = Redactor::new();
//! let out = r.redact("connect to mx.example.com[192.0.2.7]:25 for <a@b.example>");
//! assert_eq!(out, "connect to host-1[ip-1]:25 for <mail-1@example.invalid>");
//! assert_eq!(r.redact("192.0.2.7 again"), "ip-1 again");
//! ```

use std::collections::HashMap;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::sync::LazyLock;

use regex::{Captures, Regex};

/// The domain every masked e-mail address gets (RFC 2606: never resolves).
pub const MAIL_DOMAIN: &str = "example.invalid";

/// Dotted names whose last label is one of these are file names, not
/// hosts: the report names the files it read.
const FILE_SUFFIXES: &[&str] = &[
    "log", "txt", "md", "json", "yml", "yaml", "gz", "conf", "cfg", "rs", "py", "sh", "toml",
    "html", "pid", "sock", "service", "socket", "prom", "invalid", "tsv", "csv", "old", "bak",
];

static PATTERN: LazyLock<Regex> = LazyLock::new(|| {
    let v4 = r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])(?:\.(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])){3}";
    // Wide on purpose; every match is checked with the standard parser
    // and left alone when it is not an address (a time like 10:00:01).
    let v6 = format!(r"(?:[0-9A-Fa-f]{{0,4}}:){{2,7}}(?:{v4}|[0-9A-Fa-f]{{0,4}})");
    let label = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?";
    // The host field of a syslog line: after an RFC 3164 or RFC 3339 time,
    // before a `program[pid]:` tag (the tag is required, so a message word
    // after a bare time is never taken for a host).
    let syslog = r"(?P<systime>(?:[A-Z][a-z]{2} [ 0-3][0-9] [0-9]{2}:[0-9]{2}:[0-9]{2}|[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]+(?:Z|[+-][0-9]{2}:?[0-9]{2})?) )(?P<syshost>[A-Za-z0-9][A-Za-z0-9_.-]*)(?P<systag> [A-Za-z0-9_./-]+\[[0-9]+\]:)";
    let pattern = format!(
        r"{syslog}|(?P<mail>[A-Za-z0-9._%+=-]+@{label}(?:\.{label})+)|(?P<bname>[A-Za-z0-9][A-Za-z0-9_.-]*)\[(?P<baddr>{v4}|{v6})\]|(?P<v4>\b{v4}\b)|(?P<v6>{v6})|(?P<dns>\b(?:{label}\.)+[A-Za-z]{{2,63}}\b)"
    );
    Regex::new(&pattern).expect("the redaction pattern is a constant")
});

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Kind {
    Ip,
    Host,
    Mail,
}

/// Tokens handed out so far; one per report.
#[derive(Debug, Default)]
pub struct Redactor {
    tokens: HashMap<(Kind, String), String>,
    next: HashMap<Kind, usize>,
}

impl Redactor {
    pub fn new() -> Redactor {
        Redactor::default()
    }

    /// `text` with every address and host name replaced by its token.
    pub fn redact(&mut self, text: &str) -> String {
        PATTERN
            .replace_all(text, |c: &Captures<'_>| self.replace(text, c))
            .into_owned()
    }

    fn replace(&mut self, text: &str, c: &Captures<'_>) -> String {
        let whole = &c[0];
        if let (Some(time), Some(host), Some(tag)) =
            (c.name("systime"), c.name("syshost"), c.name("systag"))
        {
            let host = match self.ip(host.as_str()) {
                Some(token) => token,
                None => self.token(Kind::Host, &host.as_str().to_ascii_lowercase()),
            };
            return format!("{}{host}{}", time.as_str(), tag.as_str());
        }
        if let Some(m) = c.name("mail") {
            return self.token(Kind::Mail, &m.as_str().to_ascii_lowercase());
        }
        if let (Some(name), Some(addr)) = (c.name("bname"), c.name("baddr")) {
            let addr = match self.ip(addr.as_str()) {
                Some(token) => token,
                None => return whole.to_string(),
            };
            let name = name.as_str();
            // Postfix's placeholder for a peer without a name.
            let name = if name == "unknown" {
                name.to_string()
            } else if let Some(token) = self.ip(name) {
                token
            } else {
                self.token(Kind::Host, &name.to_ascii_lowercase())
            };
            return format!("{name}[{addr}]");
        }
        if let Some(m) = c.name("v4") {
            return self.ip(m.as_str()).unwrap_or_else(|| whole.to_string());
        }
        if let Some(m) = c.name("v6") {
            // The regex has no look-behind: `std::io` must not lose its
            // `d::`.
            let inside_word =
                |b: Option<&u8>| b.is_some_and(|b| b.is_ascii_alphanumeric() || *b == b'.');
            let before = m
                .start()
                .checked_sub(1)
                .and_then(|i| text.as_bytes().get(i));
            if inside_word(before) || inside_word(text.as_bytes().get(m.end())) {
                return whole.to_string();
            }
            return self.ip(m.as_str()).unwrap_or_else(|| whole.to_string());
        }
        if let Some(m) = c.name("dns") {
            let name = m.as_str();
            let last = name.rsplit('.').next().unwrap_or("");
            if FILE_SUFFIXES.iter().any(|s| last.eq_ignore_ascii_case(s)) {
                return whole.to_string();
            }
            return self.token(Kind::Host, &name.to_ascii_lowercase());
        }
        whole.to_string()
    }

    /// The token of an address, `None` when `text` is not one. IPv4-mapped
    /// IPv6 addresses share their IPv4 address's token.
    fn ip(&mut self, text: &str) -> Option<String> {
        let canonical = if let Ok(a) = text.parse::<Ipv4Addr>() {
            a.to_string()
        } else if let Ok(a) = text.parse::<Ipv6Addr>() {
            match a.to_ipv4_mapped() {
                Some(v4) => v4.to_string(),
                None => a.to_string(),
            }
        } else {
            return None;
        };
        Some(self.token(Kind::Ip, &canonical))
    }

    fn token(&mut self, kind: Kind, value: &str) -> String {
        if let Some(t) = self.tokens.get(&(kind, value.to_string())) {
            return t.clone();
        }
        let n = self.next.entry(kind).or_default();
        *n += 1;
        let token = match kind {
            Kind::Ip => format!("ip-{n}"),
            Kind::Host => format!("host-{n}"),
            Kind::Mail => format!("mail-{n}@{MAIL_DOMAIN}"),
        };
        self.tokens.insert((kind, value.to_string()), token.clone());
        token
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn postfix_shapes() {
        let mut r = Redactor::new();
        let line = "Dec  1 10:00:01 gw postfix/smtp[4242]: connect to mx1.example.net[2001:db8::25]:25: Connection refused; from=<Bob@Example.org> to=<c@d.example>";
        assert_eq!(
            r.redact(line),
            "Dec  1 10:00:01 host-1 postfix/smtp[4242]: connect to host-2[ip-1]:25: Connection refused; from=<mail-1@example.invalid> to=<mail-2@example.invalid>"
        );
        assert_eq!(
            r.redact(
                "lost connection with unknown[198.51.100.9] and gw01[198.51.100.10] MX1.example.net"
            ),
            "lost connection with unknown[ip-2] and host-3[ip-3] host-2"
        );
        assert_eq!(
            r.redact("2026-11-28T10:00:01.5+01:00 GW exim[7]: ERROR write: (57) at 10:00:01"),
            "2026-11-28T10:00:01.5+01:00 host-1 exim[7]: ERROR write: (57) at 10:00:01"
        );
        assert_eq!(r.redact("bob@example.org"), "mail-1@example.invalid");
    }

    #[test]
    fn leaves_times_versions_and_files() {
        let mut r = Redactor::new();
        let text = "2026-11-28T10:00:01Z ERROR write: (57) read /var/log/gateway.log, kernel 6.1.0-18-amd64, version 0.4.1, std::io";
        assert_eq!(r.redact(text), text);
    }

    #[test]
    fn every_address_form() {
        let mut r = Redactor::new();
        assert_eq!(
            r.redact("10.0.0.1:25 [::ffff:10.0.0.1] fe80::1 H=(helo.example.com) [192.0.2.1]:587"),
            "ip-1:25 [ip-1] ip-2 H=(host-1) [ip-3]:587"
        );
    }
}

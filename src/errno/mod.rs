//! Errno numbers and texts as data: which number means which error in which
//! numbering, and which strerror texts name it.
//!
//! This module owns the tables and nothing else. It knows no log formats and no
//! metrics: the classifier asks it "what is 57 in BSD numbering?" or "which
//! error does this text name?", and it answers with an [`Errname`], a small
//! copyable type whose `Display` is the canonical POSIX name used as a label.
//!
//! The numbers and texts come from `errno.tsv` (a copy of
//! `shared/reference/errno.tsv`, whose header lists the sources), embedded at
//! build time so the binary carries its tables. A few facts that the table
//! cannot express as one number per cell live in [`EXTRA_NUMBERS`] and
//! [`EXTRA_TEXTS`], each with the reason it exists.
//!
//! ```
//! use gateway_exporter::errno::{Dialect, Errname, table};
//! let t = table();
//! assert_eq!(t.by_number(Dialect::Bsd, 57).unwrap().to_string(), "ENOTCONN");
//! assert_eq!(t.by_number(Dialect::Linux, 57), None); // EBADSLT: not a socket error
//! assert_eq!(t.by_name("WSAECONNRESET"), t.by_name("ECONNRESET"));
//! assert_eq!(Errname::UNKNOWN.to_string(), "UNKNOWN");
//! ```

use std::collections::HashMap;
use std::fmt;
use std::sync::OnceLock;

const TABLE_TSV: &str = include_str!("errno.tsv");

/// A numbering of errno values. The first four are the numberings of the
/// table; `Text` and `Vendor` say how an event's name was decided when no
/// numbering did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Dialect {
    /// 4.3BSD, FreeBSD, macOS (and the 4.3BSD-derived stacks of old gateways).
    Bsd,
    /// Linux (asm-generic).
    Linux,
    /// Winsock: 10000 + the 4.3BSD number.
    Winsock,
    /// SVR4 / Solaris / illumos.
    Svr4,
    /// The line logged only a text; the text table decided.
    Text,
    /// A number was logged but it is the program's own code, or it disagrees
    /// with the logged text in every numbering; the text decided.
    Vendor,
}

impl Dialect {
    /// The numberings a user can configure, in the order used to break ties.
    pub const NUMBERINGS: [Dialect; 4] = [
        Dialect::Bsd,
        Dialect::Linux,
        Dialect::Winsock,
        Dialect::Svr4,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Dialect::Bsd => "bsd",
            Dialect::Linux => "linux",
            Dialect::Winsock => "winsock",
            Dialect::Svr4 => "svr4",
            Dialect::Text => "text",
            Dialect::Vendor => "vendor",
        }
    }

    /// Parses a configurable numbering (`bsd`, `linux`, `winsock`, `svr4`).
    pub fn parse_numbering(s: &str) -> Option<Dialect> {
        Self::NUMBERINGS
            .into_iter()
            .find(|d| d.as_str().eq_ignore_ascii_case(s))
    }

    fn column(self) -> Option<usize> {
        Self::NUMBERINGS.iter().position(|d| *d == self)
    }
}

impl fmt::Display for Dialect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A canonical error name: an index into the table, or [`Errname::UNKNOWN`]
/// for a socket error whose code is not a known errno (a gateway's own code).
///
/// Label values are rendered from this type only, so they can never be an
/// ad-hoc string from a log line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Errname(u16);

impl Errname {
    pub const UNKNOWN: Errname = Errname(u16::MAX);

    pub fn as_str(self) -> &'static str {
        if self == Self::UNKNOWN {
            "UNKNOWN"
        } else {
            table().rows[self.0 as usize].name
        }
    }

    pub fn is_unknown(self) -> bool {
        self == Self::UNKNOWN
    }
}

impl fmt::Display for Errname {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One row of the table.
#[derive(Debug)]
pub struct Row {
    pub name: &'static str,
    /// Number per numbering, in [`Dialect::NUMBERINGS`] order.
    pub numbers: [Option<u32>; 4],
    pub texts: Vec<&'static str>,
}

/// Numbers that the table's one-number-per-cell layout cannot hold.
/// (dialect, number, name, why)
pub const EXTRA_NUMBERS: &[(Dialect, u32, &str, &str)] = &[
    // 4.3BSD kept EAGAIN (11) apart from EWOULDBLOCK (35); FreeBSD merged them
    // at 35. Old BSD-derived gateway stacks log 11 for a would-block send.
    (Dialect::Bsd, 11, "EAGAIN", "4.3BSD EAGAIN"),
    // macOS moved EPROTO to 100 (FreeBSD keeps 92).
    (Dialect::Bsd, 100, "EPROTO", "macOS EPROTO"),
];

/// Texts that real programs log but that are not in the table as a whole
/// sentence. (text, name, why)
pub const EXTRA_TEXTS: &[(&str, &str, &str)] = &[
    // Java's SocketException and Sendmail's "Connection reset by <host>".
    ("Connection reset", "ECONNRESET", "Java, Sendmail"),
];

/// Numbers below this are looked up by index (see [`Table`]'s `small`).
const SMALL_NUMBERS: usize = 256;

/// Where `n` in `dialect` sits in [`Table`]'s `small`, if it is there.
fn small_index(dialect: Dialect, n: u32) -> Option<usize> {
    let n = usize::try_from(n).ok().filter(|&n| n < SMALL_NUMBERS)?;
    Some(dialect.column()? * SMALL_NUMBERS + n)
}

/// The parsed table. Build it once with [`table()`].
#[derive(Debug)]
pub struct Table {
    rows: Vec<Row>,
    /// Looked up once per counted line. Numbers below [`SMALL_NUMBERS`] in
    /// one of the four numberings (all but Winsock's) are an index into
    /// `small` ([`small_index`]); the rest, and only the rest, a binary
    /// search of the sorted `by_number`. Either beats hashing the key.
    small: Vec<Option<Errname>>,
    by_number: Vec<((Dialect, u32), Errname)>,
    by_name: HashMap<&'static str, Errname>,
}

impl Table {
    fn parse(tsv: &'static str) -> Table {
        let mut rows = Vec::new();
        for line in tsv.lines() {
            if line.starts_with('#') || line.trim().is_empty() {
                continue;
            }
            let cols: Vec<&'static str> = line.split('\t').collect();
            // The table is compiled in and covered by tests; a malformed row is
            // a build defect, not user input.
            assert_eq!(cols.len(), 6, "errno.tsv: bad row {line:?}");
            let mut numbers = [None; 4];
            for (i, cell) in cols[1..5].iter().enumerate() {
                if *cell != "-" {
                    numbers[i] = Some(cell.parse().expect("errno.tsv: bad number"));
                }
            }
            rows.push(Row {
                name: cols[0],
                numbers,
                texts: cols[5].split('|').collect(),
            });
        }
        let mut by_name = HashMap::new();
        // A later insert replaces an earlier one: EXTRA_NUMBERS override.
        let mut by_number = std::collections::BTreeMap::new();
        for (i, row) in rows.iter().enumerate() {
            let id = Errname(i as u16);
            by_name.insert(row.name, id);
            for (d, n) in Dialect::NUMBERINGS.iter().zip(row.numbers) {
                if let Some(n) = n {
                    by_number.insert((*d, n), id);
                }
            }
        }
        for (dialect, n, name, _) in EXTRA_NUMBERS {
            let id = by_name[name];
            by_number.insert((*dialect, *n), id);
        }
        let mut small = vec![None; Dialect::NUMBERINGS.len() * SMALL_NUMBERS];
        by_number.retain(|&(d, n), id| match small_index(d, n) {
            Some(i) => {
                small[i] = Some(*id);
                false
            }
            None => true,
        });
        Table {
            rows,
            small,
            by_number: by_number.into_iter().collect(),
            by_name,
        }
    }

    pub fn rows(&self) -> &[Row] {
        &self.rows
    }

    /// All known names, in table order.
    pub fn errnames(&self) -> impl Iterator<Item = Errname> + '_ {
        (0..self.rows.len()).map(|i| Errname(i as u16))
    }

    pub fn by_number(&self, dialect: Dialect, n: u32) -> Option<Errname> {
        if let Some(i) = small_index(dialect, n) {
            return self.small[i];
        }
        let i = self
            .by_number
            .binary_search_by_key(&(dialect, n), |(k, _)| *k)
            .ok()?;
        Some(self.by_number[i].1)
    }

    /// Looks up a symbolic name, accepting the Winsock spelling (`WSAE…`)
    /// and EWOULDBLOCK for EAGAIN.
    pub fn by_name(&self, name: &str) -> Option<Errname> {
        let upper = name.to_ascii_uppercase();
        let bare = upper.strip_prefix("WSA").unwrap_or(&upper);
        let bare = if bare == "EWOULDBLOCK" {
            "EAGAIN"
        } else {
            bare
        };
        self.by_name.get(bare).copied()
    }

    /// The number `name` has in `dialect`, if it has one.
    pub fn number(&self, dialect: Dialect, name: Errname) -> Option<u32> {
        if name.is_unknown() {
            return None;
        }
        let col = dialect.column()?;
        self.rows[name.0 as usize].numbers[col]
    }

    /// Every (text, name) pair: the table's variants and [`EXTRA_TEXTS`].
    pub fn texts(&self) -> Vec<(&'static str, Errname)> {
        let mut out = Vec::new();
        for (i, row) in self.rows.iter().enumerate() {
            for t in &row.texts {
                out.push((*t, Errname(i as u16)));
            }
        }
        for (text, name, _) in EXTRA_TEXTS {
            out.push((*text, self.by_name[name]));
        }
        out
    }
}

/// The process-wide table, parsed on first use.
pub fn table() -> &'static Table {
    static TABLE: OnceLock<Table> = OnceLock::new();
    TABLE.get_or_init(|| Table::parse(TABLE_TSV))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn winsock_is_10000_plus_bsd() {
        let t = table();
        for row in t.rows() {
            if let (Some(bsd), Some(ws)) = (row.numbers[0], row.numbers[2]) {
                assert_eq!(ws, 10000 + bsd, "{}", row.name);
            }
        }
    }

    #[test]
    fn same_number_differs_across_dialects() {
        let t = table();
        let n = |d, x| t.by_number(d, x).map(|e| e.to_string());
        assert_eq!(n(Dialect::Bsd, 57).as_deref(), Some("ENOTCONN"));
        assert_eq!(n(Dialect::Linux, 107).as_deref(), Some("ENOTCONN"));
        assert_eq!(n(Dialect::Winsock, 10057).as_deref(), Some("ENOTCONN"));
        assert_eq!(n(Dialect::Svr4, 134).as_deref(), Some("ENOTCONN"));
        assert_eq!(n(Dialect::Linux, 104).as_deref(), Some("ECONNRESET"));
        assert_eq!(n(Dialect::Bsd, 104), None);
        assert_eq!(n(Dialect::Bsd, 60).as_deref(), Some("ETIMEDOUT"));
        assert_eq!(n(Dialect::Linux, 60), None);
        assert_eq!(n(Dialect::Bsd, 35).as_deref(), Some("EAGAIN"));
        assert_eq!(n(Dialect::Bsd, 11).as_deref(), Some("EAGAIN"));
        assert_eq!(n(Dialect::Bsd, 92).as_deref(), Some("EPROTO"));
        assert_eq!(n(Dialect::Bsd, 100).as_deref(), Some("EPROTO"));
        assert_eq!(n(Dialect::Winsock, 10032), None, "there is no WSAEPIPE");
    }

    #[test]
    fn names_accept_winsock_and_ewouldblock() {
        let t = table();
        assert_eq!(t.by_name("WSAENOTCONN"), t.by_name("ENOTCONN"));
        assert_eq!(t.by_name("EWOULDBLOCK"), t.by_name("EAGAIN"));
        assert_eq!(t.by_name("WSAEWOULDBLOCK"), t.by_name("EAGAIN"));
        assert_eq!(t.by_name("ENOSUCH"), None);
    }

    #[test]
    fn numbers_round_trip() {
        let t = table();
        for name in t.errnames() {
            for d in Dialect::NUMBERINGS {
                if let Some(n) = t.number(d, name) {
                    assert_eq!(t.by_number(d, n), Some(name), "{d} {n}");
                }
            }
        }
    }

    #[test]
    fn embedded_table_matches_shared_reference() {
        // The shared reference is the source of truth; the embedded copy must
        // not drift from it. Outside the workspace layout the check is moot.
        let shared = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/reference/errno.tsv");
        if let Ok(text) = std::fs::read_to_string(shared) {
            assert_eq!(text, TABLE_TSV, "src/errno/errno.tsv differs from {shared}");
        }
    }
}

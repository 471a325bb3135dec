//! The exporter's own log: logfmt (the Prometheus exporters' default) or
//! JSON lines on stderr, filtered by level.
//!
//! Built on the `log` facade with key-values, so library code writes
//! `log::warn!(source = name, path = p; "cannot read log file")` and stays
//! unaware of the format.
//!
//! ```
//! use gateway_exporter::logging::{format_record, Format};
//! let line = format_record(Format::Logfmt, 0.0, log::Level::Info, "listening", &[("address", "127.0.0.1:10057")]);
//! assert_eq!(line, "ts=1970-01-01T00:00:00.000Z level=info msg=listening address=127.0.0.1:10057");
//! ```

use std::io::Write;
use std::str::FromStr;

use log::kv::{Key, Value, VisitSource};
use log::{Level, LevelFilter, Log, Metadata, Record};

use crate::clock::rfc3339_millis;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Logfmt,
    Json,
}

impl FromStr for Format {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "logfmt" => Ok(Format::Logfmt),
            "json" => Ok(Format::Json),
            _ => Err("expected logfmt or json".into()),
        }
    }
}

/// Parses a Prometheus-style level (`debug`, `info`, `warn`, `error`).
pub fn parse_level(s: &str) -> Result<LevelFilter, String> {
    match s {
        "debug" => Ok(LevelFilter::Debug),
        "info" => Ok(LevelFilter::Info),
        "warn" => Ok(LevelFilter::Warn),
        "error" => Ok(LevelFilter::Error),
        _ => Err("expected debug, info, warn or error".into()),
    }
}

struct Logger {
    format: Format,
    level: LevelFilter,
}

/// Installs the logger for the process. Calling it twice keeps the first.
pub fn init(format: Format, level: LevelFilter) {
    if log::set_boxed_logger(Box::new(Logger { format, level })).is_ok() {
        log::set_max_level(level);
    }
}

impl Log for Logger {
    fn enabled(&self, m: &Metadata<'_>) -> bool {
        m.level() <= self.level
    }

    fn log(&self, record: &Record<'_>) {
        if !self.enabled(record.metadata()) {
            return;
        }
        struct Collect(Vec<(String, String)>);
        impl<'kvs> VisitSource<'kvs> for Collect {
            fn visit_pair(&mut self, k: Key<'kvs>, v: Value<'kvs>) -> Result<(), log::kv::Error> {
                self.0.push((k.to_string(), v.to_string()));
                Ok(())
            }
        }
        let mut kv = Collect(Vec::new());
        let _ = record.key_values().visit(&mut kv);
        let pairs: Vec<(&str, &str)> = kv.0.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let line = format_record(
            self.format,
            crate::clock::unix_now(),
            record.level(),
            &record.args().to_string(),
            &pairs,
        );
        // Nowhere to report a failure to write the log itself.
        let _ = writeln!(std::io::stderr().lock(), "{line}");
    }

    fn flush(&self) {}
}

/// One log line.
pub fn format_record(
    format: Format,
    ts: f64,
    level: Level,
    msg: &str,
    kv: &[(&str, &str)],
) -> String {
    let ts = rfc3339_millis(ts);
    let level = level.as_str().to_ascii_lowercase();
    match format {
        Format::Json => {
            let mut obj = serde_json::Map::new();
            obj.insert("ts".into(), ts.into());
            obj.insert("level".into(), level.into());
            obj.insert("msg".into(), msg.into());
            for (k, v) in kv {
                obj.insert((*k).into(), (*v).into());
            }
            serde_json::Value::Object(obj).to_string()
        }
        Format::Logfmt => {
            let mut out = format!("ts={ts} level={level} msg={}", logfmt_value(msg));
            for (k, v) in kv {
                out.push(' ');
                out.push_str(k);
                out.push('=');
                out.push_str(&logfmt_value(v));
            }
            out
        }
    }
}

fn logfmt_value(v: &str) -> String {
    let plain = !v.is_empty()
        && v.chars()
            .all(|c| !c.is_whitespace() && c != '"' && c != '=' && !c.is_control());
    if plain {
        v.to_string()
    } else {
        // JSON string escaping is a valid logfmt quoting.
        serde_json::Value::from(v).to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert_eq!(rfc3339_millis(0.0), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339_millis(951_782_400.5), "2000-02-29T00:00:00.500Z");
        assert_eq!(rfc3339_millis(1_795_887_799.0), "2026-11-28T17:43:19.000Z");
    }

    #[test]
    fn logfmt_quotes_when_needed() {
        let l = format_record(
            Format::Logfmt,
            0.0,
            Level::Warn,
            "cannot read",
            &[("path", "/a b"), ("n", "3")],
        );
        assert_eq!(
            l,
            r#"ts=1970-01-01T00:00:00.000Z level=warn msg="cannot read" path="/a b" n=3"#
        );
    }

    #[test]
    fn json_lines() {
        let l = format_record(Format::Json, 0.0, Level::Error, "x", &[("k", "v")]);
        let v: serde_json::Value = serde_json::from_str(&l).unwrap();
        assert_eq!(v["level"], "error");
        assert_eq!(v["k"], "v");
    }
}

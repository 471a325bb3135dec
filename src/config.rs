//! The YAML config file, as written: its model, with the place of every
//! value, and its syntax errors located.
//!
//! This module only reads. Whether a value makes sense (a known profile, a
//! glob that compiles, a rule whose regex builds) is decided by
//! [`crate::settings`], which turns this raw model and the command line
//! into validated settings and points at the value's line and column when
//! it does not, because the person reading the error is fixing a config
//! at 3 a.m.
//!
//! ```
//! use gateway_exporter::config::ConfigFile;
//! let cfg = ConfigFile::parse("inline.yml", "sources:\n  - name: gw\n    paths: [/var/log/gw.log]\n").unwrap();
//! assert_eq!(cfg.sources[0].paths[0].referenced.line(), 3);
//! let err = ConfigFile::parse("inline.yml", "sources:\n  - name: gw\n    colour: red\n").unwrap_err();
//! assert!(err.to_string().starts_with("inline.yml:3:"), "{err}");
//! ```

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::Deserialize;
pub use serde_saphyr::Spanned;

/// A config problem, located.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub file: String,
    pub line: usize,
    pub column: usize,
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line > 0 {
            write!(
                f,
                "{}:{}:{}: {}",
                self.file, self.line, self.column, self.message
            )
        } else {
            write!(f, "{}: {}", self.file, self.message)
        }
    }
}

impl std::error::Error for ConfigError {}

impl ConfigError {
    /// An error at the place `s` was written in `file`.
    pub fn at<T>(file: &str, s: &Spanned<T>, message: String) -> ConfigError {
        ConfigError {
            file: file.to_string(),
            line: s.referenced.line() as usize,
            column: s.referenced.column() as usize,
            message,
        }
    }
}

/// The whole file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    /// Where it was read from: relative paths in it are relative to it.
    #[serde(skip)]
    pub path: PathBuf,
    /// How errors name it.
    #[serde(skip)]
    pub file: String,
    #[serde(default)]
    pub rules: Vec<RawRule>,
    #[serde(default)]
    pub sources: Vec<RawSource>,
    #[serde(default)]
    pub watch_errnames: Option<Vec<Spanned<String>>>,
    #[serde(default)]
    pub tcp: Option<RawTcp>,
    #[serde(default)]
    pub gateway_processes: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTcp {
    #[serde(default)]
    pub local_ports: Vec<u16>,
    #[serde(default)]
    pub remote_ports: Vec<u16>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRule {
    pub name: Spanned<String>,
    pub regex: Spanned<String>,
    #[serde(default)]
    pub dialect: Option<Spanned<String>>,
    #[serde(default)]
    pub op: Option<Spanned<String>>,
    #[serde(default)]
    pub anchors: Vec<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSource {
    pub name: Spanned<String>,
    /// `file` (the default) or `stdin`.
    #[serde(default, rename = "type")]
    pub kind: Option<Spanned<String>>,
    #[serde(default)]
    pub paths: Vec<Spanned<String>>,
    #[serde(default)]
    pub profile: Option<Spanned<String>>,
    #[serde(default)]
    pub dialect: Option<Spanned<String>>,
    #[serde(default)]
    pub start_at: Option<Spanned<String>>,
    #[serde(default)]
    pub rotated: Option<Vec<Spanned<String>>>,
    #[serde(default)]
    pub poll_interval: Option<Spanned<String>>,
    // syslog
    #[serde(default)]
    pub listen: Option<Vec<Spanned<String>>>,
    #[serde(default)]
    pub programs: Option<Vec<Spanned<String>>>,
    #[serde(default)]
    pub max_message_bytes: Option<Spanned<u64>>,
    #[serde(default)]
    pub receive_buffer_bytes: Option<Spanned<u64>>,
    // journald
    #[serde(default)]
    pub units: Option<Vec<Spanned<String>>>,
    #[serde(default)]
    pub matches: Option<Vec<Spanned<String>>>,
    #[serde(default)]
    pub directory: Option<Spanned<String>>,
    #[serde(default)]
    pub files: Option<Vec<Spanned<String>>>,
}

impl ConfigFile {
    /// Reads `path`.
    pub fn load(path: &Path) -> Result<ConfigFile, ConfigError> {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
            file: file.clone(),
            line: 0,
            column: 0,
            message: format!("cannot read: {e}"),
        })?;
        let mut cfg = Self::parse(&file, &text)?;
        cfg.path = path.to_path_buf();
        Ok(cfg)
    }

    /// Parses YAML `text`; `file` names it in errors.
    pub fn parse(file: &str, text: &str) -> Result<ConfigFile, ConfigError> {
        let mut cfg: ConfigFile = parse_yaml(file, text)?;
        cfg.file = file.to_string();
        cfg.path = PathBuf::from(file);
        Ok(cfg)
    }

    /// Resolves a path written in the file relative to the file's directory.
    pub fn resolve(&self, p: &str) -> PathBuf {
        relative_to(&self.path, p)
    }
}

/// `p` as written in the file at `file`: absolute, or relative to the
/// file's directory.
fn relative_to(file: &Path, p: &str) -> PathBuf {
    let p = Path::new(p);
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        file.parent().unwrap_or(Path::new(".")).join(p)
    }
}

/// An empty file is the default; anything else must parse whole.
fn parse_yaml<T: Default + serde::de::DeserializeOwned>(
    file: &str,
    text: &str,
) -> Result<T, ConfigError> {
    if text.trim().is_empty() {
        return Ok(T::default());
    }
    serde_saphyr::from_str(text).map_err(|e| {
        let (line, column) = e
            .location()
            .map_or((0, 0), |l| (l.line() as usize, l.column() as usize));
        ConfigError {
            file: file.to_string(),
            line,
            column,
            message: first_line(&e.to_string()),
        }
    })
}

fn read(path: &Path) -> Result<String, ConfigError> {
    std::fs::read_to_string(path).map_err(|e| ConfigError {
        file: path.display().to_string(),
        line: 0,
        column: 0,
        message: format!("cannot read: {e}"),
    })
}

/// exporter-toolkit's web configuration (`--web.config.file`), as written.
/// Unknown keys are errors, as in the toolkit's strict parsing, so a
/// misspelt `basic_auth_user` never leaves an exporter open.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebConfigFile {
    #[serde(skip)]
    pub path: PathBuf,
    #[serde(skip)]
    pub file: String,
    #[serde(default)]
    pub tls_server_config: Option<Spanned<RawTlsServer>>,
    #[serde(default)]
    pub http_server_config: Option<RawHttpServer>,
    #[serde(default)]
    pub basic_auth_users: Option<BTreeMap<String, Spanned<String>>>,
    #[serde(default)]
    pub rate_limit: Option<Spanned<RawRateLimit>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTlsServer {
    pub cert: Option<Spanned<String>>,
    pub key: Option<Spanned<String>>,
    pub client_ca: Option<Spanned<String>>,
    pub cert_file: Option<Spanned<String>>,
    pub key_file: Option<Spanned<String>>,
    pub client_auth_type: Option<Spanned<String>>,
    pub client_ca_file: Option<Spanned<String>>,
    pub client_allowed_sans: Option<Vec<Spanned<String>>>,
    pub min_version: Option<Spanned<String>>,
    pub max_version: Option<Spanned<String>>,
    pub cipher_suites: Option<Vec<Spanned<String>>>,
    pub prefer_server_cipher_suites: Option<bool>,
    pub curve_preferences: Option<Vec<Spanned<String>>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawHttpServer {
    /// Accepted for compatibility; this exporter speaks HTTP/1.1.
    pub http2: Option<bool>,
    #[serde(default)]
    pub headers: BTreeMap<String, Spanned<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRateLimit {
    pub interval: Option<Spanned<String>>,
    pub burst: Option<Spanned<u64>>,
}

impl WebConfigFile {
    pub fn load(path: &Path) -> Result<WebConfigFile, ConfigError> {
        let text = read(path)?;
        let file = path.display().to_string();
        let mut cfg: WebConfigFile = parse_yaml(&file, &text)?;
        cfg.file = file;
        cfg.path = path.to_path_buf();
        Ok(cfg)
    }

    /// A path in the file, relative to the file's directory as in the
    /// toolkit.
    pub fn resolve(&self, p: &str) -> PathBuf {
        relative_to(&self.path, p)
    }
}

fn first_line(s: &str) -> String {
    s.lines().next().unwrap_or(s).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(text: &str) -> String {
        ConfigFile::parse("c.yml", text).unwrap_err().to_string()
    }

    #[test]
    fn unknown_keys_are_located() {
        let e = err("rules:\n  - name: a\n    regex: 'x(?P<errno>[0-9]+)'\n    colour: red\n");
        assert!(e.starts_with("c.yml:4:"), "{e}");
        assert!(e.contains("colour"), "{e}");
    }

    #[test]
    fn syntax_errors_are_located() {
        assert!(err("rules: [\n").starts_with("c.yml:"));
        assert!(err("tcp:\n  local_ports: [70000]\n").starts_with("c.yml:2:"));
    }

    #[test]
    fn relative_paths_follow_the_file() {
        let cfg = ConfigFile::parse("/etc/gw/c.yml", "").unwrap();
        assert_eq!(cfg.resolve("gw.log"), PathBuf::from("/etc/gw/gw.log"));
        assert_eq!(cfg.resolve("/var/gw.log"), PathBuf::from("/var/gw.log"));
    }
}

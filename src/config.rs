//! The YAML config file: its model and its validation.
//!
//! Every error names the file, the line and what was expected, because the
//! person reading it is fixing a config at 3 a.m. Validation compiles the
//! user rules exactly as the classifier will, so `check-config` accepts
//! precisely the files that `serve` and `scan` accept.
//!
//! ```
//! use gateway_exporter::config::Config;
//! let cfg = Config::parse("inline.yml", "rules:\n  - name: mine\n    regex: 'sockerr (?P<errno>[0-9]+)'\n").unwrap();
//! assert_eq!(cfg.rules.len(), 1);
//! let err = Config::parse("inline.yml", "rules:\n  - name: bad\n    regex: '(unclosed'\n").unwrap_err();
//! assert!(err.to_string().starts_with("inline.yml:3:"), "{err}");
//! ```

use std::fmt;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_saphyr::Spanned;

use crate::classify::{Classifier, Op, Profile, UserRule};
use crate::errno::{Dialect, table};

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

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default)]
    rules: Vec<RawRule>,
    #[serde(default)]
    sources: Vec<RawSource>,
    #[serde(default)]
    watch_errnames: Option<Vec<Spanned<String>>>,
    #[serde(default)]
    tcp: Option<RawTcp>,
    #[serde(default)]
    gateway_processes: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTcp {
    #[serde(default)]
    local_ports: Vec<u16>,
    #[serde(default)]
    remote_ports: Vec<u16>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    name: Spanned<String>,
    regex: Spanned<String>,
    #[serde(default)]
    dialect: Option<Spanned<String>>,
    #[serde(default)]
    op: Option<Spanned<String>>,
    #[serde(default)]
    anchors: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSource {
    name: Spanned<String>,
    paths: Vec<Spanned<String>>,
    #[serde(default)]
    profile: Option<Spanned<String>>,
    #[serde(default)]
    dialect: Option<Spanned<String>>,
    #[serde(default)]
    start_at: Option<Spanned<String>>,
    #[serde(default)]
    rotated: Option<Vec<String>>,
}

/// Where a source starts reading a file it has never seen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum StartAt {
    /// Like `tail -F`: only lines written from now on.
    #[default]
    End,
    Beginning,
}

/// A configured log source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceConfig {
    pub name: String,
    pub paths: Vec<String>,
    pub profile: Profile,
    pub dialect: Option<Dialect>,
    pub start_at: StartAt,
    /// Where rotated files go (globs); `None`: `<path>.1` and `<path>-[0-9]*`.
    pub rotated: Option<Vec<String>>,
}

/// The validated config.
#[derive(Debug, Clone, Default)]
pub struct Config {
    pub rules: Vec<UserRule>,
    pub sources: Vec<SourceConfig>,
    /// Errnames whose write-error series exist from the start (at 0).
    pub watch_errnames: Option<Vec<String>>,
    /// Local (inbound) and remote (outbound) TCP ports to count by state.
    pub tcp_local_ports: Vec<u16>,
    pub tcp_remote_ports: Vec<u16>,
    /// Gateway process names whose start times are restart witnesses.
    pub gateway_processes: Vec<String>,
}

fn at<T>(file: &str, s: &Spanned<T>, message: String) -> ConfigError {
    ConfigError {
        file: file.to_string(),
        line: s.referenced.line() as usize,
        column: s.referenced.column() as usize,
        message,
    }
}

impl Config {
    /// Reads and validates `path`.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
            file: file.clone(),
            line: 0,
            column: 0,
            message: format!("cannot read: {e}"),
        })?;
        Self::parse(&file, &text)
    }

    /// Parses and validates YAML `text`; `file` names it in errors.
    pub fn parse(file: &str, text: &str) -> Result<Config, ConfigError> {
        let raw: RawConfig = if text.trim().is_empty() {
            RawConfig {
                rules: vec![],
                sources: vec![],
                watch_errnames: None,
                tcp: None,
                gateway_processes: vec![],
            }
        } else {
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
            })?
        };
        let mut rules = Vec::new();
        for r in raw.rules {
            let dialect = r
                .dialect
                .as_ref()
                .map(|d| {
                    Dialect::parse_numbering(&d.value).ok_or_else(|| {
                        at(
                            file,
                            d,
                            format!(
                                "unknown dialect {:?}: expected bsd, linux, winsock or svr4",
                                d.value
                            ),
                        )
                    })
                })
                .transpose()?;
            let op = r
                .op
                .as_ref()
                .map(|o| {
                    Op::parse(&o.value).ok_or_else(|| {
                        at(
                            file,
                            o,
                            format!(
                                "unknown op {:?}: expected read, write, connect, accept, bind, close or unknown",
                                o.value
                            ),
                        )
                    })
                })
                .transpose()?;
            let rule = UserRule {
                name: r.name.value.clone(),
                regex: r.regex.value.clone(),
                dialect,
                op,
                anchors: r.anchors,
            };
            // Compile it alone, now, so a bad regex points at its own line.
            Classifier::builder()
                .profile(Profile::Generic)
                .user_rules(vec![rule.clone()])
                .build()
                .map_err(|e| at(file, &r.regex, format!("rule {:?}: {}", r.name.value, e)))?;
            if rules.iter().any(|u: &UserRule| u.name == rule.name) {
                return Err(at(
                    file,
                    &r.name,
                    format!("duplicate rule name {:?}", rule.name),
                ));
            }
            rules.push(rule);
        }
        let mut sources: Vec<SourceConfig> = Vec::new();
        for s in raw.sources {
            if s.name.value.is_empty() {
                return Err(at(file, &s.name, "source name must not be empty".into()));
            }
            if sources.iter().any(|o| o.name == s.name.value) {
                return Err(at(
                    file,
                    &s.name,
                    format!("duplicate source name {:?}", s.name.value),
                ));
            }
            if s.paths.is_empty() {
                return Err(at(
                    file,
                    &s.name,
                    format!("source {:?} has no paths", s.name.value),
                ));
            }
            let profile = match &s.profile {
                None => Profile::Auto,
                Some(p) => p.value.parse().map_err(|e| at(file, p, format!("{e}")))?,
            };
            let dialect = match &s.dialect {
                None => None,
                Some(d) => Some(Dialect::parse_numbering(&d.value).ok_or_else(|| {
                    at(
                        file,
                        d,
                        format!(
                            "unknown dialect {:?}: expected bsd, linux, winsock or svr4",
                            d.value
                        ),
                    )
                })?),
            };
            let start_at = match s.start_at.as_ref().map(|v| (v, v.value.as_str())) {
                None | Some((_, "end")) => StartAt::End,
                Some((_, "beginning")) => StartAt::Beginning,
                Some((v, other)) => {
                    return Err(at(
                        file,
                        v,
                        format!("unknown start_at {other:?}: expected end or beginning"),
                    ));
                }
            };
            sources.push(SourceConfig {
                name: s.name.value.clone(),
                paths: s.paths.into_iter().map(|p| p.value).collect(),
                profile,
                dialect,
                start_at,
                rotated: s.rotated,
            });
        }
        let watch_errnames = match raw.watch_errnames {
            None => None,
            Some(list) => {
                let mut out = Vec::new();
                for n in list {
                    let Some(name) = table().by_name(&n.value) else {
                        return Err(at(file, &n, format!("unknown errname {:?}", n.value)));
                    };
                    out.push(name.to_string());
                }
                Some(out)
            }
        };
        let (tcp_local_ports, tcp_remote_ports) = raw
            .tcp
            .map_or((vec![], vec![]), |t| (t.local_ports, t.remote_ports));
        Ok(Config {
            rules,
            sources,
            watch_errnames,
            tcp_local_ports,
            tcp_remote_ports,
            gateway_processes: raw.gateway_processes,
        })
    }
}

fn first_line(s: &str) -> String {
    s.lines().next().unwrap_or(s).to_string()
}

/// Resolves a path relative to the config file's directory.
pub fn relative_to(config: &Path, p: &str) -> PathBuf {
    let p = Path::new(p);
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        config.parent().unwrap_or(Path::new(".")).join(p)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(text: &str) -> String {
        Config::parse("c.yml", text).unwrap_err().to_string()
    }

    #[test]
    fn unknown_keys_are_located() {
        let e = err("rules:\n  - name: a\n    regex: 'x(?P<errno>[0-9]+)'\n    colour: red\n");
        assert!(e.starts_with("c.yml:4:"), "{e}");
        assert!(e.contains("colour"), "{e}");
    }

    #[test]
    fn bad_regex_is_located() {
        let e = err("rules:\n  - name: a\n    regex: 'x(?P<errno>[0-9]+'\n");
        assert!(e.starts_with("c.yml:3:"), "{e}");
        assert!(e.contains("invalid regex"), "{e}");
    }

    #[test]
    fn bad_values_are_located() {
        assert!(
            err("rules:\n  - name: a\n    regex: 'x'\n    dialect: vms\n").starts_with("c.yml:4:")
        );
        assert!(err("rules:\n  - name: a\n    regex: 'x'\n    op: send\n").starts_with("c.yml:4:"));
        assert!(
            err("sources:\n  - name: a\n    paths: [x]\n    profile: qmail\n")
                .starts_with("c.yml:4:")
        );
        assert!(
            err("sources:\n  - name: a\n    paths: [x]\n    start_at: middle\n")
                .starts_with("c.yml:4:")
        );
        assert!(err("watch_errnames: [ENOTCONN, EFOO]\n").starts_with("c.yml:1:"));
        assert!(err("rules: [\n").starts_with("c.yml:"));
    }

    #[test]
    fn a_full_config_parses() {
        let cfg = Config::parse(
            "c.yml",
            "rules:\n  - name: mine\n    regex: 'sockerr (?P<errno>[0-9]+)'\n    dialect: bsd\n    op: write\n\
             sources:\n  - name: gw\n    paths: ['/var/log/gw/*.log']\n    profile: msmail\n    start_at: beginning\n\
             watch_errnames: [WSAENOTCONN]\n",
        )
        .unwrap();
        assert_eq!(cfg.rules[0].dialect, Some(Dialect::Bsd));
        assert_eq!(cfg.rules[0].op, Some(Op::Write));
        assert_eq!(cfg.sources[0].profile, Profile::Msmail);
        assert_eq!(cfg.sources[0].start_at, StartAt::Beginning);
        assert_eq!(cfg.watch_errnames, Some(vec!["ENOTCONN".to_string()]));
    }
}

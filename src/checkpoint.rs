//! What survives a restart, and how it is written so that it always
//! describes one instant.
//!
//! A [`State`] holds, per source, the [`FileMark`]s of the files being read
//! (identity and the offset of the last line counted) *and* the counter
//! values — taken together, under the pipeline's commit lock, so that
//! offsets and counts never disagree. On start the counters are restored
//! and each file resumes at its mark: a line is counted before a crash or
//! after it, never both, never neither.
//!
//! The file is JSON with a `version`; [`load`] migrates older versions
//! forward (there is one so far). [`store`] writes a temporary file, fsyncs
//! it, renames it over the old one and fsyncs the directory, so a crash at
//! any point leaves either the old state or the new one.
//!
//! ```
//! use gateway_exporter::checkpoint::{State, load, store};
//! let dir = std::env::temp_dir().join(format!("gwexp-doc-ckpt-{}", std::process::id()));
//! std::fs::create_dir_all(&dir).unwrap();
//! store(&dir, &State::default()).unwrap();
//! assert_eq!(load(&dir).unwrap().unwrap().sources.len(), 0);
//! ```

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::source::follow::FileMark;

/// The current format version.
pub const VERSION: u32 = 1;

/// The state file's name inside the state directory.
pub const FILE_NAME: &str = "gateway_exporter.state.json";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct State {
    pub version: u32,
    /// When it was written (Unix seconds).
    pub written_at: f64,
    pub sources: BTreeMap<String, SourceState>,
}

impl Default for State {
    fn default() -> Self {
        State {
            version: VERSION,
            written_at: 0.0,
            sources: BTreeMap::new(),
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SourceState {
    pub files: Vec<FileMark>,
    pub counters: Vec<SeriesValue>,
    /// The start of the source's last complete pass (Unix seconds): every
    /// file under its paths before then has a mark. A rotated file without
    /// a mark that changed later was never seen, and is read whole.
    #[serde(default)]
    pub covered_until: f64,
}

/// One series of a counter (or the last-error gauge) of a source.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SeriesValue {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub value: f64,
}

#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("{}: not a valid state file (line {line}): {message}", path.display())]
    Corrupt {
        path: PathBuf,
        line: usize,
        message: String,
    },
    #[error("{}: state version {version} is newer than this exporter understands ({VERSION})", path.display())]
    TooNew { path: PathBuf, version: u32 },
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> CheckpointError + '_ {
    move |source| CheckpointError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Reads the state in `dir`; `Ok(None)` when there is none yet.
pub fn load(dir: &Path) -> Result<Option<State>, CheckpointError> {
    let path = dir.join(FILE_NAME);
    let text = match fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io_err(&path)(e)),
    };
    let corrupt = |e: serde_json::Error| CheckpointError::Corrupt {
        path: path.clone(),
        line: e.line(),
        message: e.to_string(),
    };
    let value: serde_json::Value = serde_json::from_str(&text).map_err(corrupt)?;
    let version = value
        .get("version")
        .and_then(serde_json::Value::as_u64)
        .unwrap_or(0) as u32;
    match version {
        // Future versions add a migration arm here, from N-1 to N.
        VERSION => serde_json::from_value(value).map(Some).map_err(corrupt),
        v if v > VERSION => Err(CheckpointError::TooNew { path, version: v }),
        _ => Err(CheckpointError::Corrupt {
            path,
            line: 1,
            message: format!("unknown version {version}"),
        }),
    }
}

/// Writes `state` to `dir` atomically and durably.
pub fn store(dir: &Path, state: &State) -> Result<(), CheckpointError> {
    fs::create_dir_all(dir).map_err(io_err(dir))?;
    let path = dir.join(FILE_NAME);
    let tmp = dir.join(format!("{FILE_NAME}.tmp"));
    let text = serde_json::to_vec(state).map_err(|e| CheckpointError::Io {
        path: tmp.clone(),
        source: io::Error::other(e),
    })?;
    let mut f = File::create(&tmp).map_err(io_err(&tmp))?;
    f.write_all(&text).map_err(io_err(&tmp))?;
    f.sync_all().map_err(io_err(&tmp))?;
    drop(f);
    fs::rename(&tmp, &path).map_err(io_err(&path))?;
    // The rename is only durable once the directory entry is.
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_err(dir))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("gwexp-ckpt-{}-{name}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn round_trip() {
        let d = dir("rt");
        let mut s = State::default();
        s.sources.insert(
            "gw".into(),
            SourceState {
                files: vec![FileMark {
                    path: "/var/log/gw.log".into(),
                    dev: 1,
                    ino: 2,
                    head_len: 10,
                    head_hash: 3,
                    offset: 4,
                }],
                covered_until: 5.0,
                counters: vec![SeriesValue {
                    name: "gateway_log_lines_total".into(),
                    labels: [("source".to_string(), "gw".to_string())].into(),
                    value: 7.0,
                }],
            },
        );
        store(&d, &s).unwrap();
        assert_eq!(load(&d).unwrap(), Some(s));
        assert!(!d.join(format!("{FILE_NAME}.tmp")).exists());
    }

    #[test]
    fn missing_corrupt_and_future_states() {
        let d = dir("bad");
        assert!(load(&d).unwrap().is_none());
        fs::write(d.join(FILE_NAME), "{\"version\": 1,\n \"sources\": [").unwrap();
        let e = load(&d).unwrap_err().to_string();
        assert!(e.contains("not a valid state file (line 2)"), "{e}");
        fs::write(d.join(FILE_NAME), "{\"version\": 99}").unwrap();
        assert!(load(&d).unwrap_err().to_string().contains("newer"));
        fs::write(d.join(FILE_NAME), "").unwrap();
        assert!(matches!(load(&d), Err(CheckpointError::Corrupt { .. })));
    }
}

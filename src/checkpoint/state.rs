//! The state file: what survives a restart, and how it is written so that
//! it always describes one instant.
//!
//! A [`State`] holds, per source, the [`Position`]s it was reading at (file
//! marks, a journal cursor) *and* the counter values — taken together,
//! under the journal's commit lock, so that positions and counts never
//! disagree. The file is JSON with a `version`; [`load`] migrates older
//! versions forward, one step per version. [`store`] writes a temporary
//! file, fsyncs it, renames it over the old one and fsyncs the directory,
//! so a crash at any point leaves either the old state or the new one.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::source::Position;

/// The current format version.
pub const VERSION: u32 = 2;

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
    /// What the source read when this was written (`file:<patterns>`):
    /// state of another configuration under the same name is not applied.
    /// Empty in files written before it was recorded.
    #[serde(default)]
    pub identity: String,
    /// Where the source stood: one entry per file for a file source.
    pub positions: Vec<Position>,
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
    #[error("state directory {}: {why}", path.display())]
    Unsafe { path: PathBuf, why: String },
    #[error("state directory {} is in use by another gateway_exporter (pid {holder}); give each instance its own --state.dir", path.display())]
    InUse { path: PathBuf, holder: String },
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
        // Not UTF-8 is not a state file this exporter wrote.
        Err(e) if e.kind() == io::ErrorKind::InvalidData => {
            return Err(CheckpointError::Corrupt {
                path,
                line: 0,
                message: e.to_string(),
            });
        }
        Err(e) => return Err(io_err(&path)(e)),
    };
    parse(&path, &text).map(Some)
}

/// Parses the text of a state file (`path` names it in errors), migrating
/// older versions forward.
pub fn parse(path: &Path, text: &str) -> Result<State, CheckpointError> {
    let path = path.to_path_buf();
    let corrupt = |e: serde_json::Error| CheckpointError::Corrupt {
        path: path.clone(),
        line: e.line(),
        message: e.to_string(),
    };
    let value: serde_json::Value = serde_json::from_str(text).map_err(corrupt)?;
    let version = value
        .get("version")
        .and_then(serde_json::Value::as_u64)
        .unwrap_or(0) as u32;
    let value = match version {
        1 => migrate_v1(value),
        _ => value,
    };
    match version {
        1 | VERSION => serde_json::from_value(value).map_err(corrupt),
        v if v > VERSION => Err(CheckpointError::TooNew { path, version: v }),
        _ => Err(CheckpointError::Corrupt {
            path,
            line: 1,
            message: format!("unknown version {version}"),
        }),
    }
}

/// Version 1 knew only files: `files: [mark, …]` per source becomes
/// `positions: [{"type": "file", …mark}, …]`.
fn migrate_v1(mut value: serde_json::Value) -> serde_json::Value {
    if let Some(sources) = value
        .get_mut("sources")
        .and_then(serde_json::Value::as_object_mut)
    {
        for source in sources.values_mut() {
            let Some(obj) = source.as_object_mut() else {
                continue;
            };
            let files = obj.remove("files").unwrap_or_else(|| serde_json::json!([]));
            let positions: Vec<serde_json::Value> = files
                .as_array()
                .into_iter()
                .flatten()
                .map(|m| {
                    let mut m = m.clone();
                    if let Some(o) = m.as_object_mut() {
                        o.insert("type".into(), "file".into());
                    }
                    m
                })
                .collect();
            obj.insert("positions".into(), positions.into());
        }
    }
    value["version"] = VERSION.into();
    value
}

/// Renames an unusable state file aside (`….unreadable-<unix time>`) so
/// the next checkpoint does not overwrite it: it may be a newer version's,
/// or evidence. Returns where it went.
pub fn keep_aside(dir: &Path, now: f64) -> Option<PathBuf> {
    let path = dir.join(FILE_NAME);
    let aside = dir.join(format!("{FILE_NAME}.unreadable-{}", now as u64));
    fs::rename(&path, &aside).ok().map(|()| aside)
}

/// Writes `state` to `dir` atomically and durably. The temporary file is
/// created exclusively and never through a symlink: whatever was planted
/// under its name is removed first, not written through.
pub fn store(dir: &Path, state: &State) -> Result<(), CheckpointError> {
    use std::os::unix::fs::OpenOptionsExt;
    fs::create_dir_all(dir).map_err(io_err(dir))?;
    let path = dir.join(FILE_NAME);
    let tmp = dir.join(format!("{FILE_NAME}.tmp"));
    let text = serde_json::to_vec(state).map_err(|e| CheckpointError::Io {
        path: tmp.clone(),
        source: io::Error::other(e),
    })?;
    // A leftover of a crash, or a planted symlink: unlink removes the link
    // itself, never its target.
    match fs::remove_file(&tmp) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(io_err(&tmp)(e)),
    }
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .custom_flags(rustix::fs::OFlags::NOFOLLOW.bits() as i32)
        .open(&tmp)
        .map_err(io_err(&tmp))?;
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

/// The lock file in a state directory; it holds the owner's pid.
pub const LOCK_NAME: &str = "gateway_exporter.lock";

/// An exclusive hold on a state directory, for as long as it lives.
#[derive(Debug)]
pub struct DirLock {
    _file: File,
}

/// Makes `dir` ready for checkpoints and takes it for this process: it is
/// created if missing (mode 0700), must belong to this user and be
/// writable by no one else (another user could otherwise swap the files
/// this process writes), and must not be held by another running exporter
/// (two instances on one state file would serve each other's counts).
pub fn lock_dir(dir: &Path) -> Result<DirLock, CheckpointError> {
    use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(io_err(dir))?;
    let meta = fs::metadata(dir).map_err(io_err(dir))?;
    let me = rustix::process::geteuid().as_raw();
    if meta.uid() != me || meta.mode() & 0o022 != 0 {
        return Err(CheckpointError::Unsafe {
            path: dir.to_path_buf(),
            why: format!(
                "it belongs to uid {} with mode {:o}; expected uid {me} and no group or other write",
                meta.uid(),
                meta.mode() & 0o7777
            ),
        });
    }
    let path = dir.join(LOCK_NAME);
    let mut file = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .custom_flags(rustix::fs::OFlags::NOFOLLOW.bits() as i32)
        .open(&path)
        .map_err(io_err(&path))?;
    use rustix::fs::{FlockOperation, flock};
    if flock(&file, FlockOperation::NonBlockingLockExclusive).is_err() {
        let holder = fs::read_to_string(&path).unwrap_or_default();
        return Err(CheckpointError::InUse {
            path: dir.to_path_buf(),
            holder: holder.trim().to_string(),
        });
    }
    file.set_len(0).map_err(io_err(&path))?;
    writeln!(file, "{}", std::process::id()).map_err(io_err(&path))?;
    Ok(DirLock { _file: file })
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
                identity: "file:/var/log/gw.log".into(),
                positions: vec![Position::File(crate::source::FileMark {
                    path: "/var/log/gw.log".into(),
                    dev: 1,
                    ino: 2,
                    head_len: 10,
                    head_hash: 3,
                    offset: 4,
                })],
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

    #[test]
    fn a_planted_symlink_is_never_written_through() {
        let d = dir("symlink");
        let target = d.join("target");
        fs::write(&target, "precious").unwrap();
        std::os::unix::fs::symlink(&target, d.join(format!("{FILE_NAME}.tmp"))).unwrap();
        store(&d, &State::default()).unwrap();
        assert_eq!(fs::read_to_string(&target).unwrap(), "precious");
        assert!(load(&d).unwrap().is_some());
    }

    #[test]
    fn a_second_lock_on_a_directory_is_refused() {
        let d = dir("lock");
        let first = lock_dir(&d).unwrap();
        let e = lock_dir(&d).unwrap_err().to_string();
        assert!(e.contains("in use by another gateway_exporter"), "{e}");
        assert!(e.contains(&std::process::id().to_string()), "{e}");
        drop(first);
        lock_dir(&d).unwrap();
    }

    #[test]
    fn version_1_files_become_positions() {
        let d = dir("v1");
        fs::write(
            d.join(FILE_NAME),
            r#"{"version":1,"written_at":3.0,"sources":{"gw":{"files":[{"path":"/l","dev":1,"ino":2,"head_len":3,"head_hash":4,"offset":5}],"counters":[],"covered_until":2.0}}}"#,
        )
        .unwrap();
        let s = load(&d).unwrap().unwrap();
        assert_eq!(s.version, VERSION);
        let gw = &s.sources["gw"];
        assert_eq!(gw.covered_until, 2.0);
        match &gw.positions[..] {
            [Position::File(m)] => assert_eq!((m.ino, m.offset), (2, 5)),
            other => panic!("{other:?}"),
        }
    }
}

//! Restart witnesses: `gateway_host_boot_time_seconds` (from
//! `<procfs>/stat` `btime`) and `gateway_process_start_time_seconds{process}`
//! for the configured gateway process names.
//!
//! An escalation alert needs to know whether "restart the gateway" already
//! happened (the process start time moved) or the whole host rebooted (the
//! boot time moved). This file owns finding those processes in `<procfs>`:
//! a process matches a name when its `comm` equals it, or when the basename
//! of its `argv[0]` does (gateways that retitle themselves, such as
//! `nginx: master process …`, and names longer than the kernel's 15-byte
//! `comm`). When several processes match, the earliest start is reported,
//! since that is the long-lived master. A name with no process is absent,
//! not an error. It never signals or inspects a process beyond those files.
//!
//! ```
//! use gateway_exporter::sockstat::witness::argv0_name;
//! assert_eq!(argv0_name(b"/usr/lib/postfix/sbin/master\0-w\0"), Some("master"));
//! assert_eq!(argv0_name(b"nginx: master process /usr/sbin/nginx\0"), Some("nginx"));
//! ```

use std::path::{Path, PathBuf};

use prometheus::core::Desc;
use prometheus::proto::MetricFamily;

use super::SockstatError;
use super::family::FamilySpec;
use super::health::Scrape;

/// The name a process gives itself in `argv[0]`: its first word, without a
/// trailing colon (retitled processes) and without directories.
pub fn argv0_name(cmdline: &[u8]) -> Option<&str> {
    let argv0 = cmdline.split(|b| *b == 0).next()?;
    let argv0 = std::str::from_utf8(argv0).ok()?;
    let word = argv0.split(' ').next()?.trim_end_matches(':');
    let name = word.rsplit('/').next()?;
    (!name.is_empty()).then_some(name)
}

/// `btime` from `/proc/stat`: the boot time in seconds since the epoch.
pub fn boot_time(stat: &str) -> Option<u64> {
    stat.lines()
        .find_map(|l| l.strip_prefix("btime "))
        .and_then(|v| v.trim().parse().ok())
}

/// Field 22 of `/proc/<pid>/stat`: the start time in clock ticks after
/// boot. The command name (field 2) may hold spaces and parentheses, so
/// fields are counted after the last `)`.
pub fn start_ticks(stat: &str) -> Option<u64> {
    let rest = &stat[stat.rfind(')')? + 1..];
    // rest starts with field 3, so field 22 is the 20th word.
    rest.split_ascii_whitespace().nth(19)?.parse().ok()
}

/// Reports the boot time and the configured processes' start times.
pub struct WitnessCollector {
    procfs: PathBuf,
    names: Vec<String>,
    boot: FamilySpec,
    start: FamilySpec,
}

impl WitnessCollector {
    pub fn new(procfs: impl AsRef<Path>, process_names: &[String]) -> WitnessCollector {
        let mut names: Vec<String> = process_names
            .iter()
            .filter(|n| !n.is_empty())
            .cloned()
            .collect();
        names.sort();
        names.dedup();
        WitnessCollector {
            procfs: procfs.as_ref().to_path_buf(),
            names,
            boot: FamilySpec::gauge(
                "gateway_host_boot_time_seconds",
                "When the host booted, in seconds since the epoch. From /proc/stat btime.",
                &[],
            ),
            start: FamilySpec::gauge(
                "gateway_process_start_time_seconds",
                "When the earliest running process with this name started, in seconds since the epoch. From /proc/<pid>/comm or cmdline, and stat field 22.",
                &["process"],
            ),
        }
    }

    /// The earliest start tick of each configured name, scanning every
    /// numeric directory once. Processes that exit mid-scan are skipped.
    fn earliest_starts(&self) -> Result<Vec<Option<u64>>, SockstatError> {
        let mut earliest: Vec<Option<u64>> = vec![None; self.names.len()];
        let dir =
            std::fs::read_dir(&self.procfs).map_err(|e| SockstatError::read(&self.procfs, e))?;
        for entry in dir.flatten() {
            let file_name = entry.file_name();
            let Some(pid) = file_name.to_str() else {
                continue;
            };
            if pid.is_empty() || !pid.bytes().all(|b| b.is_ascii_digit()) {
                continue;
            }
            let pid_dir = entry.path();
            let Some(index) = self.match_process(&pid_dir) else {
                continue;
            };
            let Some(ticks) = std::fs::read_to_string(pid_dir.join("stat"))
                .ok()
                .and_then(|s| start_ticks(&s))
            else {
                continue;
            };
            let slot = &mut earliest[index];
            *slot = Some(slot.map_or(ticks, |t| t.min(ticks)));
        }
        Ok(earliest)
    }

    fn match_process(&self, pid_dir: &Path) -> Option<usize> {
        if let Ok(comm) = std::fs::read_to_string(pid_dir.join("comm")) {
            let comm = comm.trim_end_matches('\n');
            if let Ok(i) = self.names.binary_search_by(|n| n.as_str().cmp(comm)) {
                return Some(i);
            }
        }
        let cmdline = std::fs::read(pid_dir.join("cmdline")).ok()?;
        let name = argv0_name(&cmdline)?;
        self.names.binary_search_by(|n| n.as_str().cmp(name)).ok()
    }
}

impl Scrape for WitnessCollector {
    fn name(&self) -> &'static str {
        "witness"
    }

    fn descs(&self) -> Result<Vec<Desc>, prometheus::Error> {
        Ok(vec![self.boot.desc()?, self.start.desc()?])
    }

    fn scrape(&self, out: &mut Vec<MetricFamily>) -> Result<(), SockstatError> {
        let stat_path = self.procfs.join("stat");
        let stat =
            std::fs::read_to_string(&stat_path).map_err(|e| SockstatError::read(&stat_path, e))?;
        let btime = boot_time(&stat).ok_or_else(|| SockstatError::Missing {
            path: stat_path.clone(),
            expected: "\"btime N\" line".to_string(),
        })?;
        out.push(self.boot.single(btime as f64));
        if self.names.is_empty() {
            return Ok(());
        }
        let ticks_per_second = rustix::param::clock_ticks_per_second() as f64;
        let mut starts = self.start.family();
        for (name, ticks) in self.names.iter().zip(self.earliest_starts()?) {
            if let Some(ticks) = ticks {
                let started = btime as f64 + ticks as f64 / ticks_per_second;
                self.start.push(&mut starts, &[name], started);
            }
        }
        out.push(starts);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::sockstat::fixture;

    fn starts(out: &[MetricFamily]) -> Vec<(String, f64)> {
        out.iter()
            .filter(|f| f.name() == "gateway_process_start_time_seconds")
            .flat_map(|f| f.get_metric())
            .map(|m| {
                (
                    m.get_label()[0].value().to_string(),
                    m.get_gauge().get_value(),
                )
            })
            .collect()
    }

    #[test]
    fn parses_the_pieces() {
        assert_eq!(
            argv0_name(b"sendmail: MTA: accepting connections\0"),
            Some("sendmail")
        );
        assert_eq!(argv0_name(b"/usr/sbin/exim4\0-bd\0-q30m\0"), Some("exim4"));
        assert_eq!(argv0_name(b""), None);
        assert_eq!(argv0_name(b"\xff\xfe\0"), None);
        assert_eq!(
            start_ticks("42 (a) b) S 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 4242 20"),
            Some(4242)
        );
        assert_eq!(start_ticks("42 (a) S 1 2"), None);
        assert_eq!(start_ticks("no parenthesis"), None);
    }

    #[test]
    fn real_capture_boot_time() {
        let stat = std::fs::read_to_string(fixture("host-capture").join("stat")).unwrap();
        let btime = boot_time(&stat).unwrap();
        // Any boot after 2020 and before the capture.
        assert!(btime > 1_577_836_800, "{btime}");
    }

    #[test]
    fn earliest_matching_process_by_comm_or_argv0() {
        let names: Vec<String> = ["master", "exim4", "a-very-long-gateway-name", "absent"]
            .map(String::from)
            .to_vec();
        let c = WitnessCollector::new(fixture("witness"), &names);
        let mut out = Vec::new();
        c.scrape(&mut out).unwrap();
        let ticks = rustix::param::clock_ticks_per_second() as f64;
        let boot = 1_700_000_000.0;
        let mut got = starts(&out);
        got.sort_by(|a, b| a.0.cmp(&b.0));
        // master: pids 100 (start 500) and 200 (start 300): the earlier wins.
        // exim4: only by argv[0], comm was retitled. The long name: comm is
        // cut at 15 bytes, argv[0] is whole.
        assert_eq!(
            got,
            [
                ("a-very-long-gateway-name".to_string(), boot + 700.0 / ticks),
                ("exim4".to_string(), boot + 900.0 / ticks),
                ("master".to_string(), boot + 300.0 / ticks),
            ]
        );
        let boot_family = out
            .iter()
            .find(|f| f.name() == "gateway_host_boot_time_seconds")
            .unwrap();
        assert_eq!(boot_family.get_metric()[0].get_gauge().get_value(), boot);
    }

    #[test]
    fn missing_btime_is_an_error() {
        let c = WitnessCollector::new(fixture("missing-fields"), &[]);
        assert!(matches!(
            c.scrape(&mut Vec::new()),
            Err(SockstatError::Missing { .. })
        ));
        let c = WitnessCollector::new(fixture("does-not-exist"), &[]);
        assert!(matches!(
            c.scrape(&mut Vec::new()),
            Err(SockstatError::Read { .. })
        ));
    }

    #[test]
    fn finds_this_test_process() {
        let exe = std::env::current_exe().unwrap();
        let name = exe.file_name().unwrap().to_str().unwrap().to_string();
        let c = WitnessCollector::new("/proc", std::slice::from_ref(&name));
        let mut out = Vec::new();
        c.scrape(&mut out).unwrap();
        let got = starts(&out);
        assert_eq!(got.len(), 1, "{got:?}");
        let now = crate::clock::unix_now();
        assert!(got[0].1 <= now + 1.0 && got[0].1 > now - 3600.0, "{got:?}");
    }
}

//! The `gateway_exporter` binary: parse the command line, turn it into
//! settings, run the command, and map errors to exit codes (2 = bad config
//! or usage, 1 = any other failure).

use std::io::{self, BufWriter, IsTerminal, Write};
use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;
use gateway_exporter::cli::{Cli, Command};
use gateway_exporter::config::ConfigError;
use gateway_exporter::serve::{self, ServeError};
use gateway_exporter::settings::{self, FileSettings, Settings, SettingsError};
use gateway_exporter::{cli, diagnose, logging, report, version};

fn main() -> ExitCode {
    let cli = Cli::parse();
    if cli.version {
        print!("{}", gateway_exporter::version::block());
        return ExitCode::SUCCESS;
    }
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("gateway_exporter: {e:#}");
            let usage = e.downcast_ref::<SettingsError>().is_some()
                || e.downcast_ref::<report::ScanError>()
                    .is_some_and(|s| matches!(s, report::ScanError::Usage(_)))
                || e.downcast_ref::<ConfigError>().is_some()
                || e.downcast_ref::<ServeError>()
                    .is_some_and(ServeError::is_usage);
            if usage {
                ExitCode::from(2)
            } else {
                ExitCode::FAILURE
            }
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    let command = cli.command.unwrap_or(Command::Serve(Box::new(cli.serve)));
    match command {
        Command::Serve(args) => {
            logging::init(args.log_format, args.log_level);
            log::info!(
                version = version::info().as_str(),
                build_context = version::build_context().as_str();
                "Starting gateway_exporter"
            );
            let argv: Vec<String> = std::env::args().collect();
            for (old, new) in cli::deprecated_in(&argv) {
                log::warn!(flag = old, use_instead = new; "deprecated flag: the --log.* flags name the exporter's own logging");
            }
            let settings = Settings::for_serve(&args)?;
            let reloader: serve::Reloader = Box::new(move || Settings::for_serve(&args));
            Ok(serve::run(settings, reloader)?)
        }
        Command::Explain(args) => {
            let c = settings::classifier(&args.classify)?;
            let mut out = BufWriter::new(io::stdout().lock());
            let result =
                report::explain(&c, &mut io::stdin().lock(), &mut out).and_then(|()| out.flush());
            ignore_broken_pipe(result).context("explain")
        }
        Command::Scan(args) => {
            let c = settings::classifier(&args.classify)?;
            let bucket = args.bucket.as_secs();
            if args.timeline && (bucket == 0 || args.bucket.subsec_nanos() != 0) {
                return Err(SettingsError::Flag {
                    flag: "--bucket",
                    message: format!(
                        "{:?}: expected whole seconds, like 15m, 1h or 1d",
                        args.bucket
                    ),
                }
                .into());
            }
            let terminal_width = io::stdout().is_terminal().then(|| {
                std::env::var("COLUMNS")
                    .ok()
                    .and_then(|c| c.parse().ok())
                    .unwrap_or(100)
            });
            let options = report::ScanOptions {
                timeline_bucket: args.timeline.then_some(bucket),
                terminal_width,
                threads: if args.threads == 0 {
                    std::thread::available_parallelism().map_or(1, |n| n.get())
                } else {
                    args.threads
                },
            };
            let mut out = BufWriter::new(io::stdout().lock());
            report::scan_files_with(&c, &args.files, args.format, options, &mut out)?;
            ignore_broken_pipe(out.flush()).context("writing the report")
        }
        Command::Diagnose(args) => {
            let settings = Settings::for_serve(&args.serve)?;
            if args.sample > std::time::Duration::from_secs(60) {
                return Err(SettingsError::Flag {
                    flag: "--sample",
                    message: format!("{:?}: expected at most 1m", args.sample),
                }
                .into());
            }
            let options = diagnose::Options {
                since: args.since,
                sample: args.sample,
                redact: args.redact,
                live: None,
            };
            let report = diagnose::run(&settings, &options);
            if args.output.as_os_str() == "-" {
                let mut out = io::stdout().lock();
                ignore_broken_pipe(
                    out.write_all(report.markdown.as_bytes())
                        .and_then(|()| out.flush()),
                )
                .context("writing the report")
            } else {
                diagnose::write_dir(&report, &args.output)
                    .with_context(|| format!("writing the report to {}", args.output.display()))?;
                eprintln!(
                    "gateway_exporter: report written to {}",
                    args.output.join("report.md").display()
                );
                Ok(())
            }
        }
        Command::CheckConfig { file } => {
            let cfg = FileSettings::load(&file)?;
            println!(
                "{}: OK ({} rules, {} sources)",
                file.display(),
                cfg.rules.len(),
                cfg.sources.len()
            );
            Ok(())
        }
    }
}

/// `explain | head` closes the pipe early; that is not an error.
fn ignore_broken_pipe(r: io::Result<()>) -> io::Result<()> {
    match r {
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(()),
        other => other,
    }
}

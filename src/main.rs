//! The `gateway_exporter` binary: parse the command line, build the pipeline,
//! run it, and map errors to exit codes (2 = bad config or usage, 1 = any
//! other failure).

use std::io::{self, BufWriter, Write};
use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;
use gateway_exporter::classify::Classifier;
use gateway_exporter::cli::{ClassifyArgs, Cli, Command};
use gateway_exporter::config::{Config, ConfigError};
use gateway_exporter::report;
use gateway_exporter::serve::{self, ServeError};

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("gateway_exporter: {e:#}");
            let usage = e.downcast_ref::<ConfigError>().is_some()
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
        Command::Serve(args) => Ok(serve::run(*args)?),
        Command::Explain(args) => {
            let c = classifier(&args.classify)?;
            let mut out = BufWriter::new(io::stdout().lock());
            let result =
                report::explain(&c, &mut io::stdin().lock(), &mut out).and_then(|()| out.flush());
            ignore_broken_pipe(result).context("explain")
        }
        Command::Scan(args) => {
            let c = classifier(&args.classify)?;
            let mut out = BufWriter::new(io::stdout().lock());
            report::scan_files(&c, &args.files, args.format, &mut out)?;
            ignore_broken_pipe(out.flush()).context("writing the report")
        }
        Command::CheckConfig { file } => {
            let cfg = Config::load(&file)?;
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

fn classifier(args: &ClassifyArgs) -> anyhow::Result<Classifier> {
    let rules = match &args.config {
        Some(path) => Config::load(path)?.rules,
        None => Vec::new(),
    };
    Ok(Classifier::builder()
        .profile(args.profile)
        .dialect(args.dialect)
        .user_rules(rules)
        .max_line_bytes(args.max_line_bytes)
        .build()?)
}

/// `explain | head` closes the pipe early; that is not an error.
fn ignore_broken_pipe(r: io::Result<()>) -> io::Result<()> {
    match r {
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(()),
        other => other,
    }
}

//! Renders the man pages and shell completions the Debian package ships,
//! from the clap definitions in `src/cli.rs`, so they can never drift from
//! the flags the binary parses.
//!
//! An example rather than a build script or a second binary: a build
//! script cannot see the crate's own `cli` module, and a `[[bin]]` would
//! be installed beside the exporter. It writes only under the directory it
//! is given and touches nothing else.
//!
//! ```text
//! cargo run --example render_docs -- target/assets
//! ```
//! writes `man/gateway_exporter.1.gz` (plus one page per subcommand) and
//! `completions/{gateway_exporter.bash,_gateway_exporter,gateway_exporter.fish}`.

use std::io::Write;
use std::path::{Path, PathBuf};

use clap::CommandFactory;
use clap_complete::Shell;
use flate2::{Compression, GzBuilder};
use gateway_exporter::cli::Cli;

const BIN: &str = "gateway_exporter";

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let out = std::env::args_os()
        .nth(1)
        .map(PathBuf::from)
        .ok_or("usage: render_docs OUT_DIR")?;
    let cmd = Cli::command().version(env!("CARGO_PKG_VERSION"));

    let man = out.join("man");
    std::fs::create_dir_all(&man)?;
    write_man_pages(&man, cmd.clone())?;

    let completions = out.join("completions");
    std::fs::create_dir_all(&completions)?;
    for (shell, file) in [
        (Shell::Bash, format!("{BIN}.bash")),
        (Shell::Zsh, format!("_{BIN}")),
        (Shell::Fish, format!("{BIN}.fish")),
    ] {
        let mut buf = Vec::new();
        clap_complete::generate(shell, &mut cmd.clone(), BIN, &mut buf);
        std::fs::write(completions.join(file), buf)?;
    }
    println!("rendered man pages and completions under {}", out.display());
    Ok(())
}

/// One page for the command and one per subcommand (`gateway_exporter-scan.1`,
/// as git and cargo name theirs), gzipped as Debian policy wants. The gzip
/// header carries no name or time, so the package builds reproducibly.
fn write_man_pages(dir: &Path, cmd: clap::Command) -> std::io::Result<()> {
    // Built, so each subcommand carries its display name (`gateway_exporter-scan`).
    let mut cmd = cmd.disable_help_subcommand(true);
    cmd.build();
    let mut pages = vec![clap_mangen::Man::new(cmd.clone())];
    pages.extend(cmd.get_subcommands().cloned().map(clap_mangen::Man::new));
    for page in pages {
        let mut roff = Vec::new();
        page.render(&mut roff)?;
        let file = std::fs::File::create(dir.join(format!("{}.gz", page.get_filename())))?;
        let mut gz = GzBuilder::new().mtime(0).write(file, Compression::best());
        gz.write_all(&roff)?;
        gz.finish()?;
    }
    Ok(())
}

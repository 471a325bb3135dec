//! Where bytes come from, and how they are cut into lines.
//!
//! Sources read bytes and hand out blocks of whole lines; they know nothing
//! of rules, events or metrics. [`framing::Framer`] holds a partial last
//! line until its newline arrives and skips lines too long to hold, counting
//! them; [`open_input`] opens a file or stdin, decompressing gzip when the
//! bytes say so.
//!
//! ```
//! use gateway_exporter::source::framing::Framer;
//! let mut framer = Framer::new(1024);
//! let mut input: &[u8] = b"one\ntwo\nthr";
//! let mut blocks = Vec::new();
//! while framer.read_from(&mut input).unwrap() > 0 {
//!     framer.drain(|d| blocks.push(d.block.to_vec()));
//! }
//! assert_eq!(blocks.concat(), b"one\ntwo\n");
//! assert_eq!(framer.pending(), 3); // "thr" waits for its newline
//! ```

pub mod follow;
pub mod framing;
mod wake;

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::Path;

/// Opens `path` (`-` is stdin) for reading, transparently decompressing gzip
/// (detected by its magic bytes, so a rotated `mail.log.1.gz` and a renamed
/// one both work).
pub fn open_input(path: &Path) -> io::Result<Box<dyn Read + Send>> {
    let raw: Box<dyn Read + Send> = if path.as_os_str() == "-" {
        Box::new(io::stdin())
    } else {
        Box::new(File::open(path)?)
    };
    let mut buffered = BufReader::with_capacity(256 * 1024, raw);
    let head = buffered.fill_buf()?;
    if head.starts_with(&[0x1f, 0x8b]) {
        Ok(Box::new(flate2::read::MultiGzDecoder::new(buffered)))
    } else {
        Ok(Box::new(buffered))
    }
}

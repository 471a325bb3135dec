//! Any bytes, cut into reads of any sizes, through the framer (with its
//! buffer released between reads or not): every line handed out whole and
//! once, offsets that only grow, and the input accounted for exactly.
#![no_main]

use gateway_exporter::source::framing::Framer;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&cut, input)) = data.split_first() else {
        return;
    };
    let chunk = usize::from(cut % 17) + 1;
    let mut f = Framer::new(8);
    let mut out = Vec::new();
    let mut oversize = 0u64;
    let mut last = 0u64;
    let mut check = |block: &[u8], n: u64, offset: u64, out: &mut Vec<u8>| {
        assert!(offset >= last, "offset went back: {offset} < {last}");
        last = offset;
        oversize += n;
        out.extend_from_slice(block);
    };
    for piece in input.chunks(chunk) {
        let mut r = piece;
        while !r.is_empty() {
            f.read_from(&mut r).unwrap();
            f.drain(|d| {
                assert!(d.block.is_empty() || d.block.ends_with(b"\n"));
                check(d.block, d.oversize, d.offset, &mut out);
            });
            if cut & 0x80 != 0 {
                f.release();
            }
        }
    }
    f.finish(|d| check(d.block, d.oversize, d.offset, &mut out));
    assert_eq!(f.committed(), input.len() as u64);
    // The buffer (at least 1 MiB) holds any line of a fuzz-sized input, so
    // nothing is skipped: what came out is the input, byte for byte.
    if input.len() < 1 << 20 {
        assert_eq!(oversize, 0);
        assert_eq!(out, input);
    }
});

//! Any text as a state file: parsed without a panic, and whatever parses
//! is restored only within the live bounds.
#![no_main]

use std::path::Path;

use gateway_exporter::checkpoint::state::parse;
use gateway_exporter::metrics::LogMetrics;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(state) = parse(Path::new("fuzz.state.json"), text) else {
        return;
    };
    let m = LogMetrics::new();
    for (name, source) in &state.sources {
        for v in &source.counters {
            let _ = m.restore(name, v);
        }
    }
    for family in m.snapshot().values().flatten() {
        assert!(family.value >= 0.0 && family.value.is_finite(), "{family:?}");
    }
});

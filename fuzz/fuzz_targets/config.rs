//! Any text as a config file: parsed and validated without a panic, and
//! every rejection located in the file or naming it.
#![no_main]

use gateway_exporter::config::ConfigFile;
use gateway_exporter::settings::FileSettings;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let result = ConfigFile::parse("fuzz.yml", text).and_then(|c| FileSettings::from_file(&c));
    if let Err(e) = result {
        assert!(e.to_string().starts_with("fuzz.yml"), "{e}");
    }
});

//! The host's config reader: a YAML file from an operator, or a Vumi dispatcher's config.
//!
//! Any text: `parse` returns the config or its problems, never panics, and takes time roughly in
//! proportion to the input. Inputs over 1 MiB are skipped: the reader refuses files that large.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::path::Path;

/// The largest config file the host reads.
const MAX_CONFIG: usize = 1024 * 1024;

fuzz_target!(|data: &[u8]| {
    if data.len() > MAX_CONFIG {
        return;
    }
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match ruvuma::config::parse(Path::new("fuzz.yaml"), text) {
        Ok(cfg) => {
            let _ = format!("{cfg:?}");
        }
        Err(problems) => assert!(!problems.is_empty(), "an error without a problem"),
    }
});

//! Fuzz target for the YAML configuration loader.
//!
//! Invariants: `Config::from_str` never panics; its error formats (the
//! message an operator sees, with file, line and key) without panicking;
//! a config that loads plans an empty reload against itself.

#![no_main]

use libfuzzer_sys::fuzz_target;
use wgbgp::config::Config;

fuzz_target!(|src: &str| {
    match Config::from_str(src, "fuzz.yaml") {
        Ok(config) => {
            let plan = wgbgp::plan::plan(&config, &config);
            assert!(
                plan.is_empty(),
                "reload against itself is not empty: {plan:?}"
            );
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
});

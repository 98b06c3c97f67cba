//! What the `wgbgp import frr` tests share: the FRR and wg-quick fixtures
//! in `bin/tests/data/frr/`, and the `wgbgp` binary run as an operator would.

// Each test file uses some of these.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A fixture under `bin/tests/data/frr/`.
pub fn data(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/frr")
        .join(rel)
}

/// Runs the `wgbgp` binary this package built.
pub fn wgbgp(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_wgbgp"))
        .args(args)
        .output()
        .expect("run wgbgp")
}

/// Output bytes as text.
pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

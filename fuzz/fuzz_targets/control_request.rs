//! Fuzz target for the control-socket request parser.
//!
//! The server (`wgbgp::control`) parses each request line with
//! `serde_json::from_slice::<Request>`; that is what is fed here.
//! Invariants: parsing never panics, and a request that parses serialises
//! and parses back to itself (the CLI and daemon agree on the encoding).

#![no_main]

use libfuzzer_sys::fuzz_target;
use wgbgp::api::Request;

fuzz_target!(|line: &[u8]| {
    if let Ok(req) = serde_json::from_slice::<Request>(line) {
        let json = serde_json::to_vec(&req).expect("a parsed request serialises");
        let back: Request = serde_json::from_slice(&json).unwrap_or_else(|e| {
            panic!(
                "{req:?} serialised as {} does not parse: {e}",
                String::from_utf8_lossy(&json)
            )
        });
        assert_eq!(req, back);
    }
});

//! wgbgp daemon library

pub mod api;
pub mod cli;
pub mod config;
pub mod control;
pub mod daemon;
pub mod frr_keys;
pub mod host;
pub mod import_frr;
pub mod metrics;
pub mod peer_config;
pub mod plan;
pub mod render;

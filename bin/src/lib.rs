//! wgbgp daemon library

pub mod config;
pub mod api;
pub mod control;
pub mod daemon;
pub mod metrics;
pub mod plan;
pub mod render;

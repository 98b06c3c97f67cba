//! wgbgp daemon library

pub mod config;

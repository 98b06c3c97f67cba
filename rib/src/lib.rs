//! Routing Information Bases for wgbgp.

pub mod kernel;

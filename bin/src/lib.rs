//! wgbgp daemon library

//! tunnels

//! Routing Information Bases for wgbgp: the post-policy Adj-RIB-In and the
//! Loc-RIB ([`table`]), best-path selection ([`best`]), policy
//! ([`policy`]), and the kernel side ([`kernel`]): next-hop resolution
//! against the kernel's table and the FIB writer; [`repair`] paces the re-installation of
//! routes deleted behind our back.

pub mod best;
pub mod guard;
pub mod kernel;
pub mod path;
pub mod policy;
pub mod repair;
pub mod table;

//! Packing many prefixes into as few UPDATEs as the message size allows,
//! and the End-of-RIB marker (RFC 4724 §2).
//!
//! The attributes are encoded once; each UPDATE is then the same header and
//! attribute bytes around a different run of prefixes. Every UPDATE carries
//! only one of Withdrawn Routes, NLRI, MP_REACH_NLRI or MP_UNREACH_NLRI
//! (RFC 7606 §5.1), and MP_REACH_NLRI goes first among the attributes.

use std::net::IpAddr;

use bytes::{BufMut, Bytes, BytesMut};
use ipnet::IpNet;

use super::Ctx;
use super::attribute::{self, EXTENDED_LENGTH, MP_REACH_NLRI, MP_UNREACH_NLRI, OPTIONAL};
use super::error::EncodeError;
use super::header::{HEADER_LEN, TYPE_UPDATE, finish_message, max_len, start_message};
use super::iana::{Afi, Safi};
use super::nlri;
use super::types::{MpNextHop, MpReach, PathAttributes};

fn matches_afi(afi: Afi, p: &IpNet) -> bool {
    matches!(
        (afi, p),
        (Afi::Ipv4, IpNet::V4(_)) | (Afi::Ipv6, IpNet::V6(_))
    )
}

/// Splits `prefixes` into runs whose wire size fits `budget` octets.
fn chunks(prefixes: &[IpNet], budget: usize) -> Vec<&[IpNet]> {
    let mut out = Vec::new();
    let (mut start, mut used) = (0, 0);
    for (i, p) in prefixes.iter().enumerate() {
        let n = nlri::wire_len(p.prefix_len());
        if used + n > budget && i > start {
            out.push(&prefixes[start..i]);
            start = i;
            used = 0;
        }
        used += n;
    }
    if start < prefixes.len() {
        out.push(&prefixes[start..]);
    }
    out
}

fn put_len(out: &mut BytesMut, at: usize) {
    let len = (out.len() - at - 2) as u16;
    out[at..at + 2].copy_from_slice(&len.to_be_bytes());
}

/// Packs prefixes sharing one attribute set into as few UPDATEs as fit the
/// size limit: IPv4 unicast with an IPv4 next hop in the NLRI field with
/// NEXT_HOP, everything else (IPv6, or IPv4 over an IPv6 next hop per
/// RFC 8950) in MP_REACH_NLRI. Returns the encoded messages.
///
/// Prefixes of another family than `afi` are skipped. If the attributes
/// cannot be encoded or leave no room for a prefix, nothing is returned
/// and the reason is logged.
pub fn encode_announce(
    attrs: &PathAttributes,
    next_hop: &MpNextHop,
    afi: Afi,
    prefixes: &[IpNet],
    ctx: &Ctx,
) -> Vec<Bytes> {
    match try_announce(attrs, next_hop, afi, prefixes, ctx) {
        Ok(v) => v,
        Err(e) => {
            tracing::warn!(%afi, prefixes = prefixes.len(), error = %e, "cannot encode announcement");
            Vec::new()
        }
    }
}

fn try_announce(
    attrs: &PathAttributes,
    next_hop: &MpNextHop,
    afi: Afi,
    prefixes: &[IpNet],
    ctx: &Ctx,
) -> Result<Vec<Bytes>, EncodeError> {
    let prefixes: Vec<IpNet> = prefixes
        .iter()
        .filter(|p| matches_afi(afi, p))
        .map(|p| p.trunc())
        .collect();
    if prefixes.is_empty() {
        return Ok(Vec::new());
    }
    let v4_field = match (afi, next_hop.global, next_hop.link_local) {
        (Afi::Ipv4, IpAddr::V4(nh), None) => Some(nh),
        _ => None,
    };
    let mut rest = BytesMut::new();
    attribute::encode(&mut rest, Some(attrs), v4_field, None, None, ctx)?;
    let mut mp_head = BytesMut::new();
    if v4_field.is_none() {
        let empty = MpReach {
            afi,
            safi: Safi::Unicast,
            next_hop: *next_hop,
            nlri: Vec::new(),
        };
        attribute::mp_reach_value(&empty, &mut mp_head)?;
    }
    // MP_REACH_NLRI always uses the 2-octet length so its header size does
    // not depend on how many prefixes it holds.
    let mp_overhead = if v4_field.is_none() {
        4 + mp_head.len()
    } else {
        0
    };
    let fixed = HEADER_LEN + 4 + rest.len() + mp_overhead;
    let max = max_len(TYPE_UPDATE, ctx);
    let budget = max.checked_sub(fixed).filter(|b| *b >= nlri::wire_len(128));
    let Some(budget) = budget else {
        return Err(EncodeError::MessageTooLong {
            type_code: TYPE_UPDATE,
            len: fixed + nlri::wire_len(128),
            max,
        });
    };

    let mut msgs = Vec::new();
    for run in chunks(&prefixes, budget) {
        let mut out = BytesMut::with_capacity(max.min(fixed + run.len() * 17));
        let start = start_message(&mut out, TYPE_UPDATE);
        out.put_u16(0); // no withdrawn routes
        let attr_len_at = out.len();
        out.put_u16(0);
        if v4_field.is_none() {
            out.put_u8(OPTIONAL | EXTENDED_LENGTH);
            out.put_u8(MP_REACH_NLRI);
            let mp_len_at = out.len();
            out.put_u16(0);
            out.put_slice(&mp_head);
            for p in run {
                nlri::encode(p, &mut out);
            }
            put_len(&mut out, mp_len_at);
        }
        out.put_slice(&rest);
        put_len(&mut out, attr_len_at);
        if v4_field.is_some() {
            for p in run {
                nlri::encode(p, &mut out);
            }
        }
        finish_message(&mut out, start, TYPE_UPDATE, ctx)?;
        msgs.push(out.freeze());
    }
    Ok(msgs)
}

/// Packs withdrawals into as few UPDATEs as fit: IPv4 unicast in the
/// Withdrawn Routes field, IPv6 in MP_UNREACH_NLRI. Prefixes of another
/// family than `afi` are skipped.
pub fn encode_withdraw(afi: Afi, prefixes: &[IpNet], ctx: &Ctx) -> Vec<Bytes> {
    let prefixes: Vec<IpNet> = prefixes
        .iter()
        .filter(|p| matches_afi(afi, p))
        .map(|p| p.trunc())
        .collect();
    let mp = afi != Afi::Ipv4;
    // header, two length fields, and for MP the attribute header (extended
    // length) plus AFI/SAFI.
    let fixed = HEADER_LEN + 4 + if mp { 4 + 3 } else { 0 };
    let max = max_len(TYPE_UPDATE, ctx);
    let mut msgs = Vec::new();
    for run in chunks(&prefixes, max - fixed) {
        let mut out = BytesMut::with_capacity(max.min(fixed + run.len() * 17));
        let start = start_message(&mut out, TYPE_UPDATE);
        let len_at = out.len();
        out.put_u16(0); // withdrawn routes length
        if mp {
            let attr_len_at = out.len();
            out.put_u16(0);
            out.put_u8(OPTIONAL | EXTENDED_LENGTH);
            out.put_u8(MP_UNREACH_NLRI);
            let mp_len_at = out.len();
            out.put_u16(0);
            out.put_u16(afi.into());
            out.put_u8(Safi::Unicast.into());
            for p in run {
                nlri::encode(p, &mut out);
            }
            put_len(&mut out, mp_len_at);
            put_len(&mut out, attr_len_at);
        } else {
            for p in run {
                nlri::encode(p, &mut out);
            }
            put_len(&mut out, len_at);
            out.put_u16(0); // no path attributes
        }
        // Sizes were budgeted above; this only fills in the length.
        if finish_message(&mut out, start, TYPE_UPDATE, ctx).is_ok() {
            msgs.push(out.freeze());
        }
    }
    msgs
}

/// End-of-RIB marker for a family (RFC 4724 §2): an empty UPDATE for IPv4
/// unicast, otherwise an UPDATE holding only an empty MP_UNREACH_NLRI.
pub fn end_of_rib(afi: Afi, safi: Safi, ctx: &Ctx) -> Bytes {
    let mut out = BytesMut::with_capacity(HEADER_LEN + 10);
    let start = start_message(&mut out, TYPE_UPDATE);
    out.put_u16(0);
    if (afi, safi) == (Afi::Ipv4, Safi::Unicast) {
        out.put_u16(0);
    } else {
        out.put_u16(6);
        out.put_u8(OPTIONAL);
        out.put_u8(MP_UNREACH_NLRI);
        out.put_u8(3);
        out.put_u16(afi.into());
        out.put_u8(safi.into());
    }
    // A fixed-size message always fits.
    let _ = finish_message(&mut out, start, TYPE_UPDATE, ctx);
    out.freeze()
}

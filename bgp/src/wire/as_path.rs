//! AS_PATH and AS4_PATH values (RFC 4271 §4.3, RFC 6793 §3, §4.2).
//!
//! ```text
//! +-----------------+-----------------+--------------------------+
//! | segment type    | segment length  | ASNs (2 or 4 octets each)|
//! | (1 octet)       | (1 octet, ASNs) |                          |
//! +-----------------+-----------------+--------------------------+
//! ```
//!
//! [`AsPath`] always holds 4-octet ASNs. On a session without the 4-octet
//! AS capability AS_PATH carries 2-octet ASNs, big ones replaced by
//! AS_TRANS, and the real path travels in AS4_PATH; [`merge`] puts the two
//! back together.

use bytes::{BufMut, BytesMut};

use super::error::EncodeError;
use super::types::{AS_TRANS, AsPath, AsSegment, SegmentType};

fn segment_type(v: u8) -> Option<SegmentType> {
    Some(match v {
        1 => SegmentType::Set,
        2 => SegmentType::Sequence,
        3 => SegmentType::ConfedSequence,
        4 => SegmentType::ConfedSet,
        _ => return None,
    })
}

/// Decodes an AS_PATH/AS4_PATH value with `asn_len`-octet (2 or 4) ASNs.
///
/// RFC 7606 §7.2: malformed when a segment type is unknown, a segment is
/// empty, a segment overruns the attribute, or fewer octets than a segment
/// header remain.
pub(super) fn decode(mut v: &[u8], asn_len: usize) -> Result<AsPath, &'static str> {
    let mut segments = super::types::Segments::new();
    while !v.is_empty() {
        let Some((&[ty, count], rest)) = v.split_first_chunk::<2>() else {
            return Err("truncated AS_PATH segment header");
        };
        let kind = segment_type(ty).ok_or("unknown AS_PATH segment type")?;
        if count == 0 {
            return Err("empty AS_PATH segment");
        }
        let (asns, rest) = rest
            .split_at_checked(count as usize * asn_len)
            .ok_or("AS_PATH segment overruns the attribute")?;
        let asns = asns
            .chunks_exact(asn_len)
            .map(|c| c.iter().fold(0u32, |acc, &b| (acc << 8) | b as u32))
            .collect();
        segments.push(AsSegment { kind, asns });
        v = rest;
    }
    Ok(AsPath { segments })
}

/// Whether `path` has an ASN that does not fit in 2 octets, i.e. whether a
/// 2-octet session needs AS4_PATH (RFC 6793 §4.2.2).
pub(super) fn needs_as4(path: &AsPath) -> bool {
    path.segments
        .iter()
        .any(|s| s.asns.iter().any(|&a| a > u16::MAX as u32))
}

/// Encodes `path` with 4-octet ASNs, or 2-octet ones with AS_TRANS for
/// those that do not fit (RFC 6793 §4.2.2).
pub(super) fn encode(
    path: &AsPath,
    four_octet: bool,
    out: &mut BytesMut,
) -> Result<(), EncodeError> {
    for seg in &path.segments {
        if seg.asns.is_empty() {
            // An empty segment is malformed on the wire (RFC 7606 §7.2).
            continue;
        }
        let count = u8::try_from(seg.asns.len())
            .map_err(|_| EncodeError::SegmentTooLong(seg.asns.len()))?;
        out.put_u8(seg.kind as u8);
        out.put_u8(count);
        for &asn in &seg.asns {
            if four_octet {
                out.put_u32(asn);
            } else {
                out.put_u16(u16::try_from(asn).unwrap_or(AS_TRANS));
            }
        }
    }
    Ok(())
}

/// RFC 6793 §4.2.3: rebuild the path from a 2-octet AS_PATH and AS4_PATH.
///
/// If AS_PATH has fewer ASNs than AS4_PATH, AS4_PATH is ignored. Otherwise
/// the leading ASNs of AS_PATH that AS4_PATH lacks (ASes that did not speak
/// 4-octet AS) are prepended to AS4_PATH. ASNs are counted as in RFC 4271
/// §9.1.2.2: an AS_SET counts one, confederation segments none.
///
/// AS4_PATH never carries confederation segments (RFC 6793 §3), so those of
/// AS_PATH are kept where they were: in place, when the rest of AS_PATH has
/// the same segments as AS4_PATH (as a 4-octet speaker's encoding does);
/// otherwise only those in front of the part AS4_PATH replaces.
pub(super) fn merge(as_path: AsPath, as4_path: AsPath) -> AsPath {
    let (n2, n4) = (as_path.len(), as4_path.len());
    if n2 < n4 {
        return as_path;
    }
    let mut need = n2 - n4;
    let mut out: Vec<AsSegment> = Vec::new();
    // What AS4_PATH stands for: AS_PATH after the leading ASNs kept.
    let mut replaced: Vec<AsSegment> = Vec::new();
    for seg in as_path.segments {
        if need == 0 {
            replaced.push(seg);
            continue;
        }
        match seg.kind {
            SegmentType::Sequence => {
                let k = need.min(seg.asns.len());
                need -= k;
                if k < seg.asns.len() {
                    replaced.push(AsSegment {
                        kind: seg.kind,
                        asns: seg.asns[k..].to_vec(),
                    });
                }
                out.push(AsSegment {
                    kind: seg.kind,
                    asns: seg.asns[..k].to_vec(),
                });
            }
            SegmentType::Set => {
                need -= 1;
                out.push(seg);
            }
            SegmentType::ConfedSequence | SegmentType::ConfedSet => out.push(seg),
        }
    }
    let shape = |segs: &[AsSegment]| {
        segs.iter()
            .filter(|s| !is_confed(s.kind))
            .map(|s| (s.kind, s.asns.len()))
            .collect::<Vec<_>>()
    };
    let in_place = shape(&replaced) == shape(&as4_path.segments);
    let seam = out.len();
    let mut as4 = as4_path.segments.into_iter();
    let mut leading = true;
    for seg in replaced {
        if is_confed(seg.kind) {
            if in_place || leading {
                out.push(seg);
            }
        } else {
            leading = false;
            if in_place && let Some(real) = as4.next() {
                join_at_seam(&mut out, seam, real);
            }
        }
    }
    for seg in as4 {
        join_at_seam(&mut out, seam, seg);
    }
    AsPath {
        segments: out.into(),
    }
}

fn is_confed(kind: SegmentType) -> bool {
    matches!(kind, SegmentType::ConfedSequence | SegmentType::ConfedSet)
}

/// Appends `seg`, joining it to the kept leading AS_SEQUENCE when it comes
/// right after it (only there), so the result looks like the path a
/// 4-octet speaker would have sent.
fn join_at_seam(out: &mut Vec<AsSegment>, seam: usize, seg: AsSegment) {
    let at_seam = out.len() == seam;
    match out.last_mut() {
        Some(last)
            if at_seam
                && last.kind == SegmentType::Sequence
                && seg.kind == SegmentType::Sequence
                && last.asns.len() + seg.asns.len() <= 255 =>
        {
            last.asns.extend(seg.asns);
        }
        _ => out.push(seg),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seq(asns: &[u32]) -> AsSegment {
        AsSegment {
            kind: SegmentType::Sequence,
            asns: asns.to_vec(),
        }
    }

    #[test]
    fn decode_two_and_four_octet() {
        let p = decode(&[2, 2, 0xfd, 0xe8, 0x5b, 0xa0, 1, 1, 0, 7], 2).unwrap();
        assert_eq!(p.segments[0], seq(&[65000, AS_TRANS as u32]));
        assert_eq!(p.segments[1].kind, SegmentType::Set);
        let p = decode(&[2, 1, 0, 1, 0x11, 0x70], 4).unwrap();
        assert_eq!(p, AsPath::from_sequence([70000]));
    }

    #[test]
    fn malformed_paths() {
        assert!(decode(&[2], 4).is_err());
        assert!(decode(&[5, 1, 0, 0, 0, 1], 4).is_err());
        assert!(decode(&[2, 0], 4).is_err());
        assert!(decode(&[2, 2, 0, 0, 0, 1], 4).is_err());
    }

    #[test]
    fn as4_path_merge_prepends_leading_two_octet_ases() {
        // 65001 (old speaker) 23456 23456  +  AS4_PATH 4200000001 4200000002
        let as_path = AsPath::from_sequence([65001, 23456, 23456]);
        let as4 = AsPath::from_sequence([4_200_000_001, 4_200_000_002]);
        assert_eq!(
            merge(as_path, as4),
            AsPath::from_sequence([65001, 4_200_000_001, 4_200_000_002])
        );
    }

    #[test]
    fn as4_path_longer_than_as_path_is_ignored() {
        let as_path = AsPath::from_sequence([65001]);
        let as4 = AsPath::from_sequence([4_200_000_001, 4_200_000_002]);
        assert_eq!(merge(as_path.clone(), as4), as_path);
    }

    #[test]
    fn as4_merge_counts_a_set_as_one() {
        let as_path = AsPath {
            segments: smallvec::smallvec![
                seq(&[65001]),
                AsSegment {
                    kind: SegmentType::Set,
                    asns: vec![1, 2, 3],
                },
                seq(&[23456]),
            ],
        };
        let as4 = AsPath::from_sequence([4_200_000_001]);
        let merged = merge(as_path, as4);
        assert_eq!(merged.len(), 3);
        assert_eq!(merged.segments[1].asns, vec![1, 2, 3]);
        assert_eq!(merged.origin_as(), Some(4_200_000_001));
    }

    fn confed(kind: SegmentType, asns: &[u32]) -> AsSegment {
        AsSegment {
            kind,
            asns: asns.to_vec(),
        }
    }

    /// Found by fuzzing (decode_message): a leading AS_CONFED_SET was lost
    /// when AS_PATH and AS4_PATH had the same length.
    #[test]
    fn as4_merge_keeps_leading_confederation_segments() {
        let as_path = AsPath {
            segments: smallvec::smallvec![
                confed(SegmentType::ConfedSet, &[513, 2]),
                seq(&[64512, 23456]),
            ],
        };
        let as4 = AsPath::from_sequence([64512, 4_200_000_001]);
        assert_eq!(
            merge(as_path, as4).segments.as_slice(),
            &[
                confed(SegmentType::ConfedSet, &[513, 2]),
                seq(&[64512, 4_200_000_001]),
            ]
        );
    }

    #[test]
    fn as4_merge_keeps_confederation_segments_in_place() {
        let as_path = AsPath {
            segments: smallvec::smallvec![
                seq(&[65001, 23456]),
                confed(SegmentType::ConfedSequence, &[64512]),
                seq(&[23456]),
            ],
        };
        let as4 = AsPath {
            segments: smallvec::smallvec![seq(&[4_200_000_001]), seq(&[4_200_000_002])],
        };
        // One leading ASN kept (3 counted against 2), then AS4_PATH with
        // the confederation segment back between its two sequences.
        assert_eq!(
            merge(as_path, as4).segments.as_slice(),
            &[
                seq(&[65001, 4_200_000_001]),
                confed(SegmentType::ConfedSequence, &[64512]),
                seq(&[4_200_000_002]),
            ]
        );
    }
}

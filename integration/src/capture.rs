//! Packet captures with tcpdump inside a namespace, for fixtures ("captured
//! from a FRR session, how") and for debugging a failing test.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use crate::netns::{ChildGuard, Netns};
use crate::tempdir::TempDir;

/// A running `tcpdump -w`; [`Capture::finish`] stops it and returns the pcap.
pub struct Capture {
    child: Option<ChildGuard>,
    file: PathBuf,
    _dir: TempDir,
}

impl Capture {
    /// Starts `tcpdump -i IFNAME -U -s 0 -w FILE FILTER` in `ns` (filter in
    /// tcpdump syntax, e.g. `"tcp port 179"`) and waits until it is listening.
    pub fn start(ns: &Netns, ifname: &str, filter: &str) -> Capture {
        crate::require_tool("tcpdump", "tcpdump");
        let dir = TempDir::new("pcap");
        let file = dir.join("capture.pcap");
        let log = dir.join("tcpdump.log");
        let logf = std::fs::File::create(&log).expect("create tcpdump log");
        let f = file.to_string_lossy().into_owned();
        let mut args = vec!["tcpdump", "-i", ifname, "-n", "-U", "-s", "0", "-w", &f];
        args.extend(filter.split_whitespace());
        let mut cmd = ns.command(&args);
        cmd.stdin(Stdio::null()).stdout(Stdio::null()).stderr(logf);
        let mut child = ns.spawn(cmd);
        // tcpdump says "listening on IF" once the socket is bound.
        crate::wait_for(
            Duration::from_secs(5),
            Duration::from_millis(20),
            &format!("tcpdump on {ifname} in {}", ns.name()),
            || {
                let text = std::fs::read_to_string(&log).unwrap_or_default();
                if let Some(st) = child.try_wait() {
                    panic!("tcpdump exited ({st}): {text}");
                }
                if text.contains("listening on") {
                    Ok(())
                } else {
                    Err(text)
                }
            },
        );
        Capture {
            child: Some(child),
            file,
            _dir: dir,
        }
    }

    /// Stops tcpdump (SIGTERM flushes the file) and returns the pcap bytes.
    pub fn finish(mut self) -> Vec<u8> {
        if let Some(mut c) = self.child.take() {
            c.stop(Duration::from_secs(3));
        }
        std::fs::read(&self.file).unwrap_or_default()
    }

    /// Where the pcap is being written (inside a directory removed on drop).
    pub fn path(&self) -> &std::path::Path {
        &self.file
    }
}

/// The TCP payloads of an Ethernet pcap (as written by [`Capture`]), in
/// capture order, with their source and destination ports. Enough to pull
/// BGP messages out of a capture; not a general pcap reader (IPv4 and IPv6
/// without extension headers, classic pcap format, any byte order).
pub fn tcp_payloads(pcap: &[u8]) -> Vec<(u16, u16, Vec<u8>)> {
    let mut out = Vec::new();
    if pcap.len() < 24 {
        return out;
    }
    let le = match pcap[0..4] {
        [0xd4, 0xc3, 0xb2, 0xa1] | [0x4d, 0x3c, 0xb2, 0xa1] => true,
        [0xa1, 0xb2, 0xc3, 0xd4] | [0xa1, 0xb2, 0x3c, 0x4d] => false,
        _ => return out,
    };
    let u32_at = |b: &[u8], i: usize| {
        let a = [b[i], b[i + 1], b[i + 2], b[i + 3]];
        if le {
            u32::from_le_bytes(a)
        } else {
            u32::from_be_bytes(a)
        }
    };
    let linktype = u32_at(pcap, 20);
    let mut i = 24;
    while i + 16 <= pcap.len() {
        let incl = u32_at(pcap, i + 8) as usize;
        let start = i + 16;
        let end = (start + incl).min(pcap.len());
        let frame = &pcap[start..end];
        i = start + incl;
        // DLT_EN10MB (1): 14-byte Ethernet header; DLT_LINUX_SLL (113): 16.
        let l2 = match linktype {
            1 => 14,
            113 => 16,
            _ => continue,
        };
        if frame.len() < l2 {
            continue;
        }
        let ip = &frame[l2..];
        let (proto, l4) = match ip.first().map(|b| b >> 4) {
            Some(4) if ip.len() >= 20 => {
                let ihl = ((ip[0] & 0x0f) as usize) * 4;
                let total = u16::from_be_bytes([ip[2], ip[3]]) as usize;
                (ip[9], &ip[ihl.min(ip.len())..total.min(ip.len())])
            }
            Some(6) if ip.len() >= 40 => {
                let plen = u16::from_be_bytes([ip[4], ip[5]]) as usize;
                (ip[6], &ip[40..(40 + plen).min(ip.len())])
            }
            _ => continue,
        };
        if proto != 6 || l4.len() < 20 {
            continue;
        }
        let doff = ((l4[12] >> 4) as usize) * 4;
        if doff > l4.len() {
            continue;
        }
        let payload = &l4[doff..];
        if !payload.is_empty() {
            let sport = u16::from_be_bytes([l4[0], l4[1]]);
            let dport = u16::from_be_bytes([l4[2], l4[3]]);
            out.push((sport, dport, payload.to_vec()));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One little-endian pcap record: Ethernet, IPv4 (20 bytes), TCP (20
    /// bytes) 179 -> 40000, payload "BGP".
    fn one_packet() -> Vec<u8> {
        let mut p = vec![0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0];
        p.extend([0; 8]);
        p.extend(65535u32.to_le_bytes());
        p.extend(1u32.to_le_bytes()); // DLT_EN10MB
        let mut frame = vec![0u8; 12];
        frame.extend([0x08, 0x00]);
        let total = 20 + 20 + 3;
        frame.extend([0x45, 0, 0, total as u8, 0, 0, 0, 0, 64, 6, 0, 0]);
        frame.extend([10, 0, 0, 1, 10, 0, 0, 2]);
        frame.extend(179u16.to_be_bytes());
        frame.extend(40000u16.to_be_bytes());
        frame.extend([0; 8]);
        frame.extend([0x50, 0x18, 0, 0, 0, 0, 0, 0]);
        frame.extend(b"BGP");
        p.extend([0; 8]);
        p.extend((frame.len() as u32).to_le_bytes());
        p.extend((frame.len() as u32).to_le_bytes());
        p.extend(frame);
        p
    }

    #[test]
    fn tcp_payloads_finds_ports_and_bytes() {
        let got = tcp_payloads(&one_packet());
        assert_eq!(got, vec![(179, 40000, b"BGP".to_vec())]);
    }

    #[test]
    fn tcp_payloads_ignores_garbage_and_truncation() {
        assert!(tcp_payloads(b"not a pcap at all, clearly").is_empty());
        let p = one_packet();
        assert!(tcp_payloads(&p[..p.len() - 10]).is_empty());
    }
}

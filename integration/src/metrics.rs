//! Reading Prometheus metrics from inside a namespace: a plain HTTP GET (no
//! client crate needed for a one-line request) and a series lookup.

use std::io::{Read, Write};

use crate::netns::Netns;

/// `GET path` from `addr` (host:port) inside `ns`; the whole response,
/// headers included, or an empty string if nothing answers.
pub fn http_get(ns: &Netns, addr: &str, path: &str) -> String {
    let (addr, path) = (addr.to_string(), path.to_string());
    ns.in_ns(move || {
        let Ok(mut s) = std::net::TcpStream::connect(&addr) else {
            return String::new();
        };
        let _ = s.set_read_timeout(Some(std::time::Duration::from_secs(10)));
        let req = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
        let _ = s.write_all(req.as_bytes());
        let mut out = String::new();
        let _ = s.read_to_string(&mut out);
        out
    })
}

/// The body of `GET /metrics` from `addr` inside `ns` (empty on failure).
pub fn scrape(ns: &Netns, addr: &str) -> String {
    let response = http_get(ns, addr, "/metrics");
    match response.split_once("\r\n\r\n") {
        Some((head, body)) if head.starts_with("HTTP/1.1 200") => body.to_string(),
        _ => String::new(),
    }
}

/// The value of `series` (name with its labels exactly as exposed, sorted
/// by label name, e.g. `wgbgp_peer_up{name="b",peer="10.0.0.2",peer_as="65502"}`).
pub fn value(text: &str, series: &str) -> Option<f64> {
    text.lines().find_map(|l| {
        let rest = l.strip_prefix(series)?;
        rest.starts_with(' ')
            .then(|| rest.trim().parse().ok())
            .flatten()
    })
}

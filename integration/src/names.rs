//! Names that are unique on the whole machine, not just in one namespace.
//!
//! wireguard-go keeps its UAPI socket in `/var/run/wireguard/<ifname>.sock`,
//! which every namespace shares, so two tests (or two test binaries running at
//! once) must never pick the same WireGuard interface name. Names carry the
//! process id and a per-process counter.

use std::sync::atomic::{AtomicU32, Ordering};

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// Linux's limit on interface names (IFNAMSIZ - 1).
pub const IFNAMSIZ_MAX: usize = 15;

fn next() -> u32 {
    COUNTER.fetch_add(1, Ordering::Relaxed)
}

fn base36(mut n: u32, width: usize) -> String {
    const DIGITS: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let mut out = Vec::new();
    while n > 0 || out.is_empty() {
        out.push(DIGITS[(n % 36) as usize]);
        n /= 36;
    }
    while out.len() < width {
        out.push(b'0');
    }
    out.reverse();
    String::from_utf8(out).expect("ascii")
}

/// `<prefix>-<pid>-<n>`: unique among live processes; used for namespaces.
pub fn unique_name(prefix: &str) -> String {
    format!("{prefix}-{}-{}", std::process::id(), next())
}

/// The pid encoded in a name made by [`unique_name`] with this prefix.
pub fn owner_pid(name: &str, prefix: &str) -> Option<u32> {
    let rest = name.strip_prefix(prefix)?.strip_prefix('-')?;
    rest.split('-').next()?.parse().ok()
}

/// A machine-unique interface name of at most 15 characters:
/// `<tag>-<pid in base 36, 5 digits><counter in base 36>`. `tag` is cut to what
/// fits (at most 6 characters) and must not contain '-'.
pub fn ifname(tag: &str) -> String {
    assert!(
        !tag.contains('-'),
        "ifname tag {tag:?} must not contain '-'"
    );
    let suffix = format!("{}{}", base36(std::process::id(), 5), base36(next(), 1));
    let room = IFNAMSIZ_MAX - 1 - suffix.len();
    let tag: String = tag.chars().take(room.min(6)).collect();
    let name = format!("{tag}-{suffix}");
    assert!(name.len() <= IFNAMSIZ_MAX, "interface name {name} too long");
    name
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ifnames_fit_and_differ() {
        let a = ifname("wgpeer");
        let b = ifname("wgpeer");
        assert_ne!(a, b);
        assert!(
            a.len() <= IFNAMSIZ_MAX && b.len() <= IFNAMSIZ_MAX,
            "{a} {b}"
        );
        assert!(ifname("averylongtag").starts_with("averyl-"));
    }

    #[test]
    fn unique_names_carry_the_pid() {
        let n = unique_name("wgt");
        assert_eq!(owner_pid(&n, "wgt"), Some(std::process::id()));
        assert_eq!(owner_pid("other-1-2", "wgt"), None);
        assert_eq!(base36(0, 5), "00000");
        assert_eq!(base36(36, 1), "10");
    }
}

//! What a reload changes: the difference between the running configuration
//! and a new one, per peer and tunnel, decided before anything is touched.
//!
//! As BIRD's `bgp_reconfigure` does, only what must restart restarts: a
//! session is reset only when a setting it negotiated or connects with
//! changed; a policy change is applied softly; a tunnel change is applied
//! to the interface in place.

use std::collections::BTreeSet;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use crate::config::{Config, KernelConfig, Peer, PolicyRule};

/// Per-peer changes, by peer name.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReloadPlan {
    /// Changes a reload cannot apply; when non-empty the reload is refused.
    pub restart_required: Vec<String>,
    pub peers_added: Vec<String>,
    pub peers_removed: Vec<String>,
    /// Sessions that must be reset, with the settings that force it.
    pub sessions_reset: Vec<(String, Vec<String>)>,
    /// Tunnels reconfigured in place (the session over them is kept).
    pub tunnels_changed: Vec<String>,
    /// Peers whose import chain changed (re-applied with ROUTE-REFRESH).
    pub import_changed: Vec<String>,
    /// Peers whose export chain changed (Adj-RIB-Out re-diffed).
    pub export_changed: Vec<String>,
    /// Peers administratively shut down or brought back (`shutdown:`).
    pub shutdown_changed: Vec<String>,
    pub descriptions_changed: Vec<String>,
    /// `soft_reconfiguration` turned on (filled by one ROUTE-REFRESH) or off.
    #[serde(default)]
    pub soft_reconfiguration_changed: Vec<String>,
    pub announce_added: Vec<IpNet>,
    pub announce_removed: Vec<IpNet>,
    pub loopbacks_added: Vec<IpNet>,
    /// The private key file changed: every tunnel gets the new key.
    pub private_key_file_changed: bool,
    /// `kernel.rules` changed: applied by difference.
    #[serde(default)]
    pub kernel_rules_changed: bool,
}

impl ReloadPlan {
    pub fn is_empty(&self) -> bool {
        *self == ReloadPlan::default()
    }

    /// Names of the peers whose session survives the reload untouched.
    pub fn untouched<'a>(&self, new: &'a Config) -> Vec<&'a str> {
        let touched: BTreeSet<&str> = self
            .peers_added
            .iter()
            .chain(self.sessions_reset.iter().map(|(n, _)| n))
            .chain(&self.shutdown_changed)
            .map(String::as_str)
            .collect();
        new.peers
            .keys()
            .map(String::as_str)
            .filter(|n| !touched.contains(n))
            .collect()
    }
}

impl std::fmt::Display for ReloadPlan {
    /// One line per change, for `wgbgp config plan` and the log.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.is_empty() {
            return writeln!(f, "no changes");
        }
        for r in &self.restart_required {
            writeln!(f, "needs a restart (not applied by reload): {r}")?;
        }
        let lists: [(&str, &Vec<String>); 8] = [
            ("add peer", &self.peers_added),
            ("remove peer", &self.peers_removed),
            ("reconfigure tunnel in place", &self.tunnels_changed),
            (
                "re-apply import policy (route refresh)",
                &self.import_changed,
            ),
            ("re-apply export policy", &self.export_changed),
            ("change admin state", &self.shutdown_changed),
            ("change description", &self.descriptions_changed),
            (
                "change soft_reconfiguration",
                &self.soft_reconfiguration_changed,
            ),
        ];
        for (what, names) in lists {
            for n in names {
                writeln!(f, "{what}: {n}")?;
            }
        }
        for (n, why) in &self.sessions_reset {
            writeln!(f, "reset session: {n} ({})", why.join(", "))?;
        }
        for p in &self.announce_added {
            writeln!(f, "announce: {p}")?;
        }
        for p in &self.announce_removed {
            writeln!(f, "stop announcing: {p}")?;
        }
        for p in &self.loopbacks_added {
            writeln!(f, "add loopback: {p}")?;
        }
        if self.private_key_file_changed {
            writeln!(f, "new private key file: every tunnel gets the new key")?;
        }
        if self.kernel_rules_changed {
            writeln!(f, "apply kernel.rules by difference")?;
        }
        Ok(())
    }
}

fn chain<'a>(cfg: &'a Config, names: &[String]) -> Vec<(&'a str, &'a [PolicyRule])> {
    names
        .iter()
        .filter_map(|n| {
            cfg.policies
                .get_key_value(n)
                .map(|(k, v)| (k.as_str(), v.as_slice()))
        })
        .collect()
}

/// Settings the session negotiates or connects with: a change resets it.
fn session_changes(old: &Peer, new: &Peer) -> Vec<String> {
    let mut why = Vec::new();
    let mut check = |changed: bool, what: &str| {
        if changed {
            why.push(what.to_string());
        }
    };
    check(old.asn != new.asn, "asn");
    check(old.address() != new.address(), "address");
    check(old.scope != new.scope, "address");
    check(old.local_address != new.local_address, "local_address");
    check(old.multihop != new.multihop, "multihop");
    check(old.link_local != new.link_local, "link_local");
    check(old.port != new.port, "port");
    check(old.hold_time != new.hold_time, "hold_time");
    check(old.keepalive != new.keepalive, "keepalive");
    check(old.passive != new.passive, "passive");
    check(old.password != new.password, "password");
    check(old.ttl_security != new.ttl_security, "ttl_security");
    check(old.bfd != new.bfd, "bfd");
    check(
        old.graceful_restart != new.graceful_restart,
        "graceful_restart",
    );
    check(
        old.extended_next_hop != new.extended_next_hop,
        "extended_next_hop",
    );
    check(
        old.wireguard.is_some() != new.wireguard.is_some(),
        "wireguard added or removed",
    );
    if let (Some(a), Some(b)) = (&old.wireguard, &new.wireguard) {
        check(a.interface != b.interface, "wireguard.interface");
    }
    why
}

/// The difference between the running config `old` and `new`.
pub fn plan(old: &Config, new: &Config) -> ReloadPlan {
    let mut p = ReloadPlan::default();
    let mut restart = |changed: bool, what: &str| {
        if changed {
            p.restart_required.push(what.to_string());
        }
    };
    restart(old.router_id != new.router_id, "router_id");
    restart(old.asn != new.asn, "asn");
    // kernel.rules apply in place (the underlay task diffs them); the rest restarts.
    let fixed = |k: &KernelConfig| KernelConfig {
        rules: Vec::new(),
        ..k.clone()
    };
    restart(fixed(&old.kernel) != fixed(&new.kernel), "kernel");
    restart(
        (old.multipath, old.multipath_relax) != (new.multipath, new.multipath_relax),
        "multipath",
    );
    restart(old.control_socket != new.control_socket, "control_socket");
    restart(
        old.max_as_path_len != new.max_as_path_len,
        "max_as_path_len",
    );
    restart(old.local_restart != new.local_restart, "graceful_restart");
    restart(
        old.control_groups != new.control_groups,
        "control_group/control_admin_group",
    );
    restart(old.metrics != new.metrics, "metrics");
    restart(
        old.wireguard.backend != new.wireguard.backend,
        "wireguard.backend",
    );
    // How wireguard-go children are started depends on it.
    restart(
        old.wireguard.keep_on_exit != new.wireguard.keep_on_exit,
        "wireguard.keep_on_exit",
    );
    for l in missing_from(&old.loopback, &new.loopback) {
        p.restart_required.push(format!("loopback {l} removed"));
    }
    // The first loopback of a family is every session's source and next hop.
    let first = |c: &Config, v4: bool| {
        c.loopback
            .iter()
            .find(|l| l.addr().is_ipv4() == v4)
            .copied()
    };
    if first(old, true) != first(new, true) || first(old, false) != first(new, false) {
        p.restart_required.push("first loopback of a family".into());
    }
    p.loopbacks_added = missing_from(&new.loopback, &old.loopback);
    p.announce_added = missing_from(&new.announce, &old.announce);
    p.announce_removed = missing_from(&old.announce, &new.announce);
    p.private_key_file_changed = old.wireguard.private_key_file != new.wireguard.private_key_file;

    for name in old.peers.keys().filter(|n| !new.peers.contains_key(*n)) {
        p.peers_removed.push(name.clone());
    }
    for (name, n) in &new.peers {
        let Some(o) = old.peers.get(name) else {
            p.peers_added.push(name.clone());
            continue;
        };
        let why = session_changes(o, n);
        if !why.is_empty() {
            p.sessions_reset.push((name.clone(), why));
            continue;
        }
        if o.wireguard != n.wireguard || o.addresses != n.addresses {
            p.tunnels_changed.push(name.clone());
        }
        if chain(old, &o.import) != chain(new, &n.import) {
            p.import_changed.push(name.clone());
        }
        if chain(old, &o.export) != chain(new, &n.export) {
            p.export_changed.push(name.clone());
        }
        if o.shutdown != n.shutdown {
            p.shutdown_changed.push(name.clone());
        }
        if o.description != n.description {
            p.descriptions_changed.push(name.clone());
        }
        if o.soft_reconfiguration_inbound != n.soft_reconfiguration_inbound {
            p.soft_reconfiguration_changed.push(name.clone());
        }
    }
    p.kernel_rules_changed = old.kernel.rules != new.kernel.rules;
    p
}

/// The items of `these` that `other` lacks, in order.
fn missing_from<T: PartialEq + Copy>(these: &[T], other: &[T]) -> Vec<T> {
    these
        .iter()
        .filter(|x| !other.contains(x))
        .copied()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: &str = r#"
router_id: 1.1.1.1
asn: 65500
loopback: [1.1.1.1/32]
announce: [198.19.0.1/32]
wireguard: { private_key_file: /tmp/wgbgp-plan-test.key }
peers:
  s2:
    asn: 65501
    address: 2.2.2.2
    wireguard: { public_key: HRyEEQXB02irTFUQwtSoe0zqoNftss8IifFJFKZ46xE=, endpoint: "10.2.0.2:51820" }
    import: [all]
    export: [all]
  s3:
    asn: 65502
    address: 3.3.3.3
    import: [all]
    export: [all]
policies:
  all:
    - action: accept
  none:
    - action: reject
"#;

    fn cfg(src: &str) -> Config {
        Config::from_str(src, "plan.yaml").unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn same_config_plans_nothing() {
        let p = plan(&cfg(BASE), &cfg(BASE));
        assert!(p.is_empty(), "{p:?}");
        assert_eq!(p.to_string(), "no changes\n");
    }

    #[test]
    fn kernel_rules_reload_in_place_and_other_kernel_keys_restart() {
        let rules = BASE.replace(
            "peers:\n",
            "kernel: { rules: [ { from: 10.0.1.0/24, table: 100, priority: 1000 } ] }\npeers:\n",
        );
        let p = plan(&cfg(BASE), &cfg(&rules));
        assert!(
            p.kernel_rules_changed && p.restart_required.is_empty(),
            "{p:?}"
        );
        assert_eq!(p.to_string(), "apply kernel.rules by difference\n");
        let mark = BASE.replace("peers:\n", "kernel: { fwmark: 7 }\npeers:\n");
        let p = plan(&cfg(BASE), &cfg(&mark));
        assert_eq!(p.restart_required, vec!["kernel"]);
        assert!(!p.kernel_rules_changed);
    }

    #[test]
    fn policy_content_change_is_soft_and_per_direction() {
        let new = BASE.replace(
            "  all:\n    - action: accept",
            "  all:\n    - action: reject",
        );
        let p = plan(&cfg(BASE), &cfg(&new));
        assert_eq!(p.import_changed, vec!["s2", "s3"]);
        assert_eq!(p.export_changed, vec!["s2", "s3"]);
        assert!(p.sessions_reset.is_empty());
        let new = BASE.replacen("    export: [all]", "    export: [none]", 1);
        let p = plan(&cfg(BASE), &cfg(&new));
        assert_eq!(p.export_changed, vec!["s2"]);
        assert!(p.import_changed.is_empty());
        assert_eq!(p.untouched(&cfg(&new)), vec!["s2", "s3"]);
    }

    #[test]
    fn a_changed_set_is_a_change_of_the_policies_using_it() {
        let with_sets = BASE
            .replacen("    import: [all]", "    import: [from-s2]", 1)
            .replace(
                "policies:\n",
                "prefix_sets:\n  ours: [198.19.0.0/16 le 24]\nas_path_sets:\n  unused: [1]\n\
                 policies:\n  from-s2:\n    - match: { prefix_set: ours }\n      action: accept\n",
            );
        let old = cfg(&with_sets);
        let new = cfg(&with_sets.replace("198.19.0.0/16 le 24", "198.19.0.0/16 le 32"));
        let p = plan(&old, &new);
        assert_eq!(p.import_changed, vec!["s2"]);
        assert!(
            p.export_changed.is_empty() && p.sessions_reset.is_empty(),
            "{p:?}"
        );
        assert!(
            p.to_string()
                .contains("re-apply import policy (route refresh): s2")
        );
        // A set no policy uses changes nothing.
        let new = cfg(&with_sets.replace("unused: [1]", "unused: [2]"));
        assert!(plan(&old, &new).is_empty());
    }

    #[test]
    fn asn_change_resets_only_that_session() {
        let new = BASE.replace("asn: 65502", "asn: 65503");
        let p = plan(&cfg(BASE), &cfg(&new));
        assert_eq!(
            p.sessions_reset,
            vec![("s3".to_string(), vec!["asn".to_string()])]
        );
        assert_eq!(p.untouched(&cfg(&new)), vec!["s2"]);
    }

    #[test]
    fn tunnel_change_is_applied_in_place() {
        let new = BASE.replace("10.2.0.2:51820", "10.2.0.3:51820");
        let p = plan(&cfg(BASE), &cfg(&new));
        assert_eq!(p.tunnels_changed, vec!["s2"]);
        assert!(p.sessions_reset.is_empty());
    }

    #[test]
    fn peers_added_and_removed() {
        let new = BASE.replace(
            "  s3:\n    asn: 65502\n    address: 3.3.3.3",
            "  s4:\n    asn: 65504\n    address: 4.4.4.4",
        );
        let p = plan(&cfg(BASE), &cfg(&new));
        assert_eq!(p.peers_added, vec!["s4"]);
        assert_eq!(p.peers_removed, vec!["s3"]);
        assert!(p.to_string().contains("add peer: s4"));
    }

    #[test]
    fn global_identity_changes_need_a_restart() {
        let new = BASE.replace("router_id: 1.1.1.1", "router_id: 9.9.9.9");
        let p = plan(&cfg(BASE), &cfg(&new));
        assert_eq!(p.restart_required, vec!["router_id"]);
    }

    #[test]
    fn soft_reconfiguration_change_is_in_place() {
        let new = BASE.replacen(
            "    asn: 65501\n",
            "    asn: 65501\n    soft_reconfiguration: inbound\n",
            1,
        );
        let p = plan(&cfg(BASE), &cfg(&new));
        assert_eq!(p.soft_reconfiguration_changed.len(), 1, "{p:?}");
        assert!(p.sessions_reset.is_empty() && p.restart_required.is_empty());
        assert!(p.to_string().contains("change soft_reconfiguration: "));
    }

    #[test]
    fn announce_diff() {
        let new = BASE.replace("announce: [198.19.0.1/32]", "announce: [198.19.0.2/32]");
        let p = plan(&cfg(BASE), &cfg(&new));
        assert_eq!(
            p.announce_added,
            vec!["198.19.0.2/32".parse::<IpNet>().unwrap()]
        );
        assert_eq!(
            p.announce_removed,
            vec!["198.19.0.1/32".parse::<IpNet>().unwrap()]
        );
    }
}

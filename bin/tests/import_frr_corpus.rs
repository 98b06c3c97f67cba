//! Issue 15's corpus of real-world-style FRR configs, without root: each of
//! `bin/tests/data/frr/corpus/` (an edge with transit, a hub with
//! peer-groups, an IXP route-server client; `integration/tests/
//! frr_corpus.rs` runs them on FRR and on wgbgpd) and the dn42 node of
//! `bin/tests/data/frr/dn42/` (link-local sessions over wg-quick tunnels)
//! is imported with the binary as an operator would, loses nothing, and
//! passes `wgbgp config check` and `wgbgpd --check`.

use std::process::{Command, Output};

use wgbgp::config::{Config, PeerAs};

mod common;
use common::{data, text};

fn run(bin: &str, args: &[&str]) -> Output {
    Command::new(bin).args(args).output().expect("run")
}

/// `wgbgp import frr --key-file DIR/private.key ARGS...`, then both checks
/// on the result; returns the configuration.
fn import_and_check(args: &[String]) -> Config {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("private.key");
    let yaml = dir.path().join("wgbgp.yaml");
    let mut all = vec!["import", "frr", "--key-file", key.to_str().unwrap()];
    all.extend(args.iter().map(String::as_str));
    let wgbgp = env!("CARGO_BIN_EXE_wgbgp");
    let out = run(wgbgp, &all);
    assert!(out.status.success(), "{all:?}: {}", text(&out.stderr));
    let imported = text(&out.stdout);
    assert!(imported.contains("# not translated: nothing"), "{imported}");
    std::fs::write(&yaml, &imported).unwrap();
    let y = yaml.to_str().unwrap();
    for (bin, args) in [
        (wgbgp, vec!["config", "check", y]),
        (env!("CARGO_BIN_EXE_wgbgpd"), vec!["--check", "--config", y]),
    ] {
        let out = run(bin, &args);
        assert!(
            out.status.success(),
            "{bin}: {}\n{imported}",
            text(&out.stderr)
        );
        assert_eq!(text(&out.stdout), "configuration OK\n");
    }
    Config::load(&yaml).unwrap()
}

#[test]
fn every_corpus_config_imports_whole_and_passes_both_checks() {
    let edge = import_and_check(&[data("corpus/edge.conf").display().to_string()]);
    assert_eq!(edge.peers.len(), 2);
    assert_eq!(edge.peers["transit"].asn, PeerAs::Is(64600));
    assert!(edge.peers["transit"].password.is_some(), "MD5 kept");

    let hub = import_and_check(&[data("corpus/hub.conf").display().to_string()]);
    assert_eq!(hub.peers.len(), 2);
    // Inherited from the peer-groups: TRANSIT's password, SITES' limit.
    assert_eq!(
        hub.peers["peer-10-0-1-1"].password.as_deref(),
        Some("s3cret")
    );
    assert_eq!(
        hub.peers["peer-10-0-2-2"].max_prefix.map(|m| m.limit),
        Some(50)
    );

    let rs = import_and_check(&[data("corpus/rs-client.conf").display().to_string()]);
    assert!(!rs.peers["ixp-route-server"].limits.enforce_first_as);

    let dn42 = import_and_check(&[
        data("dn42/bgpd.conf").display().to_string(),
        data("dn42/wg-kioubit.conf").display().to_string(),
        data("dn42/wg-dn42.conf").display().to_string(),
    ]);
    assert_eq!(dn42.peers["peer-a"].interface(), Some("wg-dn42"));
    assert_eq!(
        dn42.peers["peer-fe80--5678"].interface(),
        Some("wg-kioubit")
    );
    assert_eq!(dn42.peers["peer-fe80--42"].scope.as_deref(), Some("eth1"));
    // `capability extended-nexthop` on peer-a only, as in FRR.
    assert!(dn42.peers["peer-a"].extended_next_hop);
    assert!(!dn42.peers["peer-fe80--5678"].extended_next_hop);
}

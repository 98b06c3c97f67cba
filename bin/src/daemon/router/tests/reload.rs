//! Reload applied by difference (README, "Reload").

use super::*;

#[test]
fn reload_applies_by_difference() {
    let t0 = Instant::now();
    let (mut r, id) = running("", t0);
    r.handle(t0, established(id, None));
    // Shut down, and a new plain peer.
    let s3 = "    shutdown: true\n  s3:\n    asn: 65503\n    address: 10.0.3.3\n    import: [all]\n    export: [all]\n";
    let out = reload(&mut r, t0, &yaml(s3));
    assert!(
        matches!(commands(&out, id)[..], [Command::Stop { .. }]),
        "{out:?}"
    );
    assert!(
        !out.iter().any(|a| matches!(a, Action::Remove { .. })),
        "s2 keeps its session"
    );
    let s3 = r.peer_id("s3").unwrap();
    assert!(
        out.iter()
            .any(|a| matches!(a, Action::Spawn { peer, .. } if *peer == s3))
    );
    assert!(matches!(out.last(), Some(Action::Reloaded(Ok(())))));

    // s2 removed: Cease/Peer De-configured, its tunnel goes too.
    let out = reload(&mut r, t0, &yaml("").replace("  s2:", "  s9:"));
    assert_eq!(
        removed(&out),
        Some((id, Some(CeaseSubcode::PeerDeconfigured), false))
    );
    assert!(r.peer_id("s2").is_none() && r.peer_id("s9").is_some());
}

#[test]
fn reload_resets_a_session_whose_identity_changed_keeping_its_tunnel() {
    let t0 = Instant::now();
    let (mut r, id) = running("", t0);
    let out = reload(&mut r, t0, &yaml("").replace("asn: 65501", "asn: 65511"));
    let subcode = Some(CeaseSubcode::OtherConfigurationChange);
    assert_eq!(removed(&out), Some((id, subcode, true)));
    let new_id = r.peer_id("s2").unwrap();
    assert_ne!(
        new_id, id,
        "a fresh id: the old session's events cannot reach it"
    );
    assert!(
        out.iter()
            .any(|a| matches!(a, Action::Spawn { peer, .. } if *peer == new_id))
    );
}

#[test]
fn reload_that_needs_a_restart_changes_nothing() {
    let t0 = Instant::now();
    let (mut r, id) = running("", t0);
    let out = reload(&mut r, t0, &yaml("").replace("asn: 65500", "asn: 65599"));
    assert!(matches!(out[..], [Action::Reloaded(Err(_))]));
    assert_eq!(r.config().asn, 65500);
    assert_eq!(r.peer_id("s2"), Some(id));
}

#[test]
fn reload_announces_and_withdraws_our_prefixes() {
    let t0 = Instant::now();
    let (mut r, _) = running("", t0);
    let new = yaml("").replace("announce: [198.19.0.1/32]", "announce: [198.19.0.2/32]");
    reload(&mut r, t0, &new);
    let locals: Vec<IpNet> = r.rib().loc_rib().iter().map(|(p, _)| p).collect();
    assert_eq!(locals, [net("198.19.0.2/32")]);
}

#[test]
fn reload_starts_a_session_no_longer_shut_down() {
    let t0 = Instant::now();
    let (mut r, id) = running("    shutdown: true\n", t0);
    let out = reload(&mut r, t0, &yaml(""));
    assert!(matches!(commands(&out, id)[..], [Command::Start]));
}

#[test]
fn reload_changes_a_tunnel_in_place_and_rotates_keys() {
    let t0 = Instant::now();
    let (mut r, id) = running("", t0);
    r.handle(t0, established(id, None));
    let reconfigured = |out: &[Action]| {
        (out.iter()).any(|a| matches!(a, Action::ReconfigureTunnel { peer, .. } if *peer == id))
    };
    let out = reload(
        &mut r,
        t0,
        &yaml("").replace("192.0.2.2:51820", "192.0.2.9:51820"),
    );
    assert!(reconfigured(&out) && removed(&out).is_none(), "{out:?}");
    assert!(commands(&out, id).is_empty(), "the session is left alone");
    // The same config, a new key in the file: every tunnel, in place.
    let config = r.config().as_ref().clone();
    let plan = crate::plan::plan(r.config(), &config);
    let out = r.handle(
        t0,
        Input::Reload {
            config,
            plan,
            key_changed: true,
        },
    );
    assert!(reconfigured(&out) && removed(&out).is_none(), "{out:?}");
}

/// The prefixes the actions withdraw from session `id`.
fn withdrawn(out: &[Action], id: PeerId) -> Vec<IpNet> {
    (commands(out, id).into_iter())
        .flat_map(|c| match c {
            Command::Withdraw { prefixes, .. } => prefixes.clone(),
            _ => Vec::new(),
        })
        .collect()
}

/// `yaml(extra)` with s2's `which` policy rejecting everything.
fn rejecting(extra: &str, which: &str) -> String {
    let chain = format!("    {which}: [all]");
    yaml(extra).replace(&chain, &format!("    {which}: [none]")) + "  none:\n    - action: reject\n"
}

#[test]
fn reload_of_an_export_policy_re_diffs_what_the_peer_was_sent() {
    let t0 = Instant::now();
    let (mut r, id) = running("", t0);
    let out = r.handle(t0, established(id, None));
    let sent = commands(&out, id);
    assert!(
        sent.iter()
            .any(|c| matches!(c, Command::Announce { prefixes, .. }
        if prefixes.contains(&net("198.19.0.1/32"))))
    );
    let out = reload(&mut r, t0, &rejecting("", "export"));
    assert_eq!(withdrawn(&out, id), [net("198.19.0.1/32")]);
    assert!(removed(&out).is_none());
}

#[test]
fn reload_of_an_import_policy_drops_what_it_rejects_and_asks_to_resend_unless_soft() {
    for (extra, asks) in [("", true), ("    soft_reconfiguration: inbound\n", false)] {
        let t0 = Instant::now();
        let (mut r, id) = running(extra, t0);
        r.handle(t0, established(id, None));
        r.handle(t0, announce(id, &["10.2.0.0/24"]));
        let out = reload(&mut r, t0, &rejecting(extra, "import"));
        assert_eq!(fib(&out).1, [net("10.2.0.0/24")], "{extra}");
        let refresh = (commands(&out, id).iter()).any(|c| matches!(c, Command::RouteRefresh(_)));
        assert_eq!(refresh, asks, "{extra}");
    }
}

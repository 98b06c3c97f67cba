//! Kernel routing policy: loop prevention for the tunnels' own packets (fwmark + underlay
//! table) and the `kernel.rules` ip rules, in namespaces.
//!
//! ```text
//!   lo 1.1.1.1 (by wgbgpd)                         lo 2.2.2.2, 198.51.100.1
//!   +-------------+ v0 10.61.0.1   10.61.0.2 v0 +-------------+ announces 0.0.0.0/0,
//!   | A: wgbgpd   |-----------------------------| B: BIRD 2   |   10.61.0.0/28 (holds the
//!   | AS 65500    |==== wg (unnumbered) ========| AS 65501    |   tunnel's own endpoint),
//!   +-------------+  made by wgbgpd | by hand   +-------------+   198.51.100.0/24
//! ```
//!
//! Without loop prevention A would send the tunnel's UDP packets to 10.61.0.2 into the
//! tunnel itself (10.61.0.0/28 via 2.2.2.2 dev wg beats the connected /24) and the session
//! would die within a hold time.

use std::time::{Duration, Instant};

use integration::{
    Bird, Config, HandTunnel, Netns, POLL, Pair, Peer, Wgbgpd, require_root, wait_for,
};

const SESSION_TIMEOUT: Duration = Duration::from_secs(40);
/// The default `kernel.fwmark` (51820) as `ip rule` prints it, and the underlay table.
const MARK_RULE: &str = "fwmark 0xca6c lookup 51820";

/// `ip -4 rule` and `ip -6 rule` lines with `proto bgp` (ours).
fn our_rules(ns: &Netns) -> Vec<String> {
    let mut out = Vec::new();
    for fam in ["-4", "-6"] {
        out.extend(
            ns.stdout(&["ip", fam, "rule", "show"])
                .lines()
                .filter(|l| l.contains("proto bgp"))
                .map(|l| format!("{fam} {}", l.trim())),
        );
    }
    out
}

fn count_matching(lines: &[String], needle: &str) -> usize {
    lines.iter().filter(|l| l.contains(needle)).count()
}

/// Waits (10 s) until [`our_rules`] has, for each `(needle, n)`, `n` lines containing `needle`.
fn wait_rules(ns: &Netns, what: &str, want: &[(&str, usize)]) {
    wait_for(Duration::from_secs(10), POLL, what, || {
        let rules = our_rules(ns);
        if want
            .iter()
            .all(|(needle, n)| count_matching(&rules, needle) == *n)
        {
            Ok(())
        } else {
            Err(format!("{rules:#?}"))
        }
    });
}

/// wgbgpd's config in A: one peer `b` over a tunnel to 10.61.0.2, short timers so a broken
/// tunnel shows within seconds.
fn a_config(tunnel: &HandTunnel) -> String {
    Config::tunnel_node("1.1.1.1", 65500, &tunnel.a_key_file)
        .announce("198.18.0.0/24")
        .peer(
            Peer::new("b", 65501, "2.2.2.2")
                .timers(9, 3)
                .tunnel(tunnel.a_side("10.61.0.2").keepalive(2))
                .policies("accept-all", "own"),
        )
        // A learned default route must be named to get past reject_default_route.
        .policy(
            "accept-all",
            &[
                r#"{ match: { prefix: ["0.0.0.0/0"] }, action: accept }"#,
                "{ action: accept }",
            ],
        )
        .only("own", "198.18.0.0/24")
        .render()
}

/// BIRD in B announces a default route and a prefix holding the tunnel's endpoint.
const BIRD_B: &str = r#"
log stderr all;
router id 2.2.2.2;
protocol device { scan time 2; }
protocol static s4 {
    ipv4;
    route 0.0.0.0/0 blackhole;
    route 10.61.0.0/28 blackhole;
    route 198.51.100.0/24 blackhole;
}
protocol kernel k4 { ipv4 { import all; export where source = RTS_BGP; }; learn; scan time 2; }
protocol bgp a {
    local 2.2.2.2 as 65501;
    neighbor 1.1.1.1 as 65500;
    multihop;
    hold time 9;
    keepalive time 3;
    connect retry time 2;
    error wait time 1, 5;
    ipv4 { import all; export where source = RTS_STATIC; next hop self; };
}
"#;

/// BIRD in B announces a default route to A over plain eBGP on the veth.
const BIRD_DEFAULT: &str = r#"
log stderr all;
router id 10.62.0.2;
protocol device { scan time 2; }
protocol static s4 { ipv4; route 0.0.0.0/0 blackhole; }
protocol bgp a {
    local 10.62.0.2 as 65501;
    neighbor 10.62.0.1 as 65500;
    hold time 9;
    keepalive time 3;
    connect retry time 2;
    error wait time 1, 5;
    ipv4 { import none; export where source = RTS_STATIC; };
}
"#;

/// Field order is drop order: daemons and tunnels before their namespaces.
struct Lab {
    wgbgpd: Wgbgpd,
    bird: Bird,
    tunnel: HandTunnel,
    a: Netns,
    _b: Netns,
}

impl Lab {
    /// A and B, B's hand-made tunnel end, and, before wgbgpd starts, what a crashed earlier
    /// run would have left in A: a duplicate of our fwmark rule, a rule no longer configured
    /// and a stale pin.
    fn new() -> Lab {
        let Pair { a, b, .. } = Pair::new("kp", "v0", "10.61.0");
        a.add_lo_addr("198.18.0.1/32");
        b.add_lo_addr("2.2.2.2/32");
        b.add_lo_addr("198.51.100.1/32");
        let tunnel = HandTunnel::new(&b, "k", &["1.1.1.1/32"], None);

        a.exec(&[
            "ip", "rule", "add", "fwmark", "51820", "lookup", "51820", "pref", "5000", "proto",
            "bgp",
        ]);
        a.exec(&[
            "ip",
            "rule",
            "add",
            "from",
            "10.9.9.0/24",
            "lookup",
            "77",
            "pref",
            "77",
            "proto",
            "bgp",
        ]);
        a.route_add("10.9.9.9/32 dev v0 table 51820 proto static");

        let wgbgpd = Wgbgpd::start(&a, &a_config(&tunnel));
        let bird = Bird::start(&b, BIRD_B);
        Lab {
            wgbgpd,
            bird,
            tunnel,
            a,
            _b: b,
        }
    }

    fn established(&self) -> Result<(), String> {
        let state = self.wgbgpd.peer_state(&self.a, "2.2.2.2");
        if state.as_deref() != Some("Established") {
            return Err(format!("wgbgpd: {state:?}"));
        }
        let info = self.bird.protocol_info("a").unwrap_or_default();
        if !info.contains("Established") {
            return Err(format!("BIRD: {info}"));
        }
        Ok(())
    }

    fn underlay(&self) -> String {
        self.a
            .stdout(&["ip", "-4", "route", "show", "table", "51820"])
    }
}

#[test]
fn learned_default_and_endpoint_prefix_never_capture_the_tunnel() {
    require_root();
    let mut lab = Lab::new();
    lab.bird.wait_established("a", SESSION_TIMEOUT);
    lab.wgbgpd
        .wait_established(&lab.a, "2.2.2.2", SESSION_TIMEOUT);

    // The routes that would loop are installed in main, through the tunnel.
    for prefix in ["0.0.0.0/0", "10.61.0.0/28", "198.51.100.0/24"] {
        let want = format!("via 2.2.2.2 dev {}", lab.tunnel.a_if);
        wait_for(
            SESSION_TIMEOUT,
            POLL,
            &format!("{prefix} {want}"),
            || match lab.a.route_to(prefix) {
                Some(l) if l.contains(&want) && l.contains("proto bgp") => Ok(()),
                other => Err(format!("{other:?}\n{}", lab.a.routes(""))),
            },
        );
    }
    // Our rule (once, though a stale copy was there), the stale rule gone, the endpoint pinned
    // to the underlay's connected route and the stale pin gone; the tunnel marks its packets.
    let rules = our_rules(&lab.a);
    eprintln!("A's rules: {rules:#?}\nunderlay:\n{}", lab.underlay());
    assert_eq!(count_matching(&rules, MARK_RULE), 2, "{rules:#?}");
    assert!(
        rules.iter().any(|l| l.starts_with("-4 5000:")),
        "{rules:#?}"
    );
    assert_eq!(count_matching(&rules, "10.9.9.0/24"), 0, "{rules:#?}");
    let underlay = lab.underlay();
    assert!(
        underlay.contains("10.61.0.2 via 10.61.0.2 dev v0 proto static onlink"),
        "{underlay}"
    );
    assert!(!underlay.contains("10.9.9.9"), "{underlay}");
    let mark = lab.a.stdout(&["wg", "show", &lab.tunnel.a_if, "fwmark"]);
    assert_eq!(mark.trim(), "0xca6c");

    // wireguard-go sends from the source and interface it last received on (a "sticky
    // socket"), which would hide a loop until it next looks the endpoint up: setting the
    // endpoint again clears that, as a restart, a tunnel reconfiguration or roaming does.
    lab.a.exec(&[
        "wg",
        "set",
        &lab.tunnel.a_if,
        "peer",
        &lab.tunnel.b_public,
        "endpoint",
        "10.61.0.2:51820",
    ]);
    // Traffic keeps crossing the tunnel, and the session outlives several hold times'
    // worth of keepalives (hold 9 s: a dead tunnel would drop it well within this).
    let start = Instant::now();
    let mut pings = 0;
    while start.elapsed() < Duration::from_secs(14) {
        lab.a.ping_from("198.18.0.1", "198.51.100.1").unwrap();
        lab.a.ping_from("1.1.1.1", "2.2.2.2").unwrap();
        pings += 2;
        std::thread::sleep(Duration::from_millis(500));
    }
    lab.established().unwrap();
    eprintln!(
        "{pings} pings over {:?}, session Established",
        start.elapsed()
    );

    // Deleted behind our back: the rule and the pin come back at once (notifications).
    lab.a
        .exec(&["ip", "-4", "rule", "del", "pref", "5000", "fwmark", "51820"]);
    lab.a
        .exec(&["ip", "-4", "route", "flush", "table", "51820"]);
    let healed = Instant::now();
    wait_for(Duration::from_secs(10), POLL, "rule and pin healed", || {
        let rules = our_rules(&lab.a);
        let underlay = lab.underlay();
        if count_matching(&rules, MARK_RULE) == 2 && underlay.contains("10.61.0.2 via") {
            Ok(())
        } else {
            Err(format!("{rules:#?}\n{underlay}"))
        }
    });
    eprintln!("rule and pin healed in {:?}", healed.elapsed());
    lab.a.ping_from("1.1.1.1", "2.2.2.2").unwrap();
    lab.established().unwrap();

    // A clean shutdown takes the rules and the pins along.
    lab.wgbgpd.stop();
    let rules = our_rules(&lab.a);
    assert!(rules.is_empty(), "{rules:#?}");
    assert_eq!(lab.underlay().trim(), "");
}

/// Source-based routing from YAML alone (seed 004, "Example A"): `kernel.rules` sends packets
/// from 10.0.1.0/24 to table 100, where import policy's `set: {table: 100}` installs the
/// default route learned from B, which the others do not see; a reload applies the rules by
/// difference, shutdown removes them and empties table 100.
///
/// ```text
///   lo 1.1.1.1, 10.0.1.5                         announces 0.0.0.0/0
///   +-----------+ v0 10.62.0.1   10.62.0.2 v0 +-----------+
///   | A: wgbgpd |------- plain eBGP ----------| B: BIRD 2 |
///   +-----------+                             +-----------+
///   table 100: default via 10.62.0.2 proto bgp     main: no default
/// ```
#[test]
fn kernel_rules_steer_a_source_prefix_and_follow_reload_and_shutdown() {
    require_root();
    let Pair { a, b, .. } = Pair::new("kr", "v0", "10.62.0");
    a.add_lo_addr("10.0.1.5/32");
    let mut bird = Bird::start(&b, BIRD_DEFAULT);
    let base = Config::new("1.1.1.1", 65500)
        .loopback("1.1.1.1/32")
        .peer(Peer::plain("b", 65501, "10.62.0.2", "10.62.0.1").policies("default-to-100", "none"))
        .policy(
            "default-to-100",
            &[r#"{ match: { prefix: ["0.0.0.0/0"] }, action: accept, set: { table: 100 } }"#],
        )
        .reject_all("none")
        .tail("kernel:\n  rules:\n")
        .render();
    let source_rule = "    - { from: 10.0.1.0/24, table: 100, priority: 1000 }\n";
    let mark_rule = "    - { fwmark: 7, table: 101, priority: 1001 }\n";
    let mut d = Wgbgpd::start(&a, &format!("{base}{source_rule}{mark_rule}"));

    let get = |from: Option<&str>| {
        let mut args = vec!["ip", "-4", "route", "get", "8.8.8.8"];
        if let Some(f) = from {
            args.extend(["from", f]);
        }
        let out = a.try_exec(&args);
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    };
    bird.wait_established("a", SESSION_TIMEOUT);
    let table = |t: &str| a.stdout(&["ip", "-4", "route", "show", "table", t, "proto", "bgp"]);
    wait_for(
        SESSION_TIMEOUT,
        POLL,
        "learned default in table 100",
        || {
            let t100 = table("100");
            if t100.contains("default via 10.62.0.2 dev v0") {
                Ok(())
            } else {
                Err(format!("table 100: {t100}\nall: {}", a.routes("table all")))
            }
        },
    );
    let main = table("main");
    assert!(!main.contains("default"), "main has our default: {main}");
    wait_rules(
        &a,
        "rules installed",
        &[
            ("from 10.0.1.0/24 lookup 100", 1),
            ("fwmark 0x7 lookup 101", 2),
        ],
    );
    let steered = get(Some("10.0.1.5"));
    assert!(
        steered.contains("via 10.62.0.2 dev v0 table 100"),
        "{steered}"
    );
    let other = get(Some("1.1.1.1"));
    assert!(other.contains("unreachable"), "{other}");
    assert!(get(None).contains("unreachable"), "main has no default");

    // Reload without the source rule: it leaves the kernel, the mark rule stays.
    let text = std::fs::read_to_string(d.config_path()).unwrap();
    std::fs::write(d.config_path(), text.replace(source_rule, "")).unwrap();
    let out = d.cli(&a, &["reload"]);
    assert!(out.contains("apply kernel.rules by difference"), "{out}");
    wait_rules(
        &a,
        "source rule removed",
        &[("10.0.1.0/24", 0), ("fwmark 0x7 lookup 101", 2)],
    );
    let unsteered = get(Some("10.0.1.5"));
    assert!(unsteered.contains("unreachable"), "{unsteered}");

    d.stop();
    let rules = our_rules(&a);
    assert!(rules.is_empty(), "shutdown leaves {rules:#?}");
    let t100 = a.stdout(&["ip", "-4", "route", "show", "table", "100"]);
    assert_eq!(t100.trim(), "", "shutdown leaves table 100: {t100}");
    drop(bird);
    drop(b);
}

//! BIRD 2 running inside a namespace, as a real peer for interop tests.
//!
//! The config, control socket and log live in a temporary directory; `birdc`
//! talks to the socket from the host (a Unix socket needs no namespace).

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use crate::daemon::{Daemon, control_client};
use crate::netns::Netns;
use crate::tempdir::TempDir;

/// `bird -f` in one namespace; stopped on drop.
pub struct Bird {
    daemon: Daemon,
    sock: PathBuf,
}

impl Bird {
    /// Writes `config` (a complete bird.conf; add `log stderr all;` to see its
    /// log on failure) and starts `bird -f -c CONF -s SOCK` in `ns`, waiting
    /// until birdc answers. Panics with BIRD's output if it exits (bad config).
    pub fn start(ns: &Netns, config: &str) -> Bird {
        crate::require_tool("bird", "bird2");
        crate::require_tool("birdc", "bird2");
        let dir = TempDir::new("bird");
        let conf = dir.write("bird.conf", config);
        let sock = dir.join("bird.ctl");
        let conf_s = conf.to_string_lossy().into_owned();
        let sock_s = sock.to_string_lossy().into_owned();
        let pid_s = dir.join("bird.pid").to_string_lossy().into_owned();
        let cmd = ns.command(&["bird", "-f", "-c", &conf_s, "-s", &sock_s, "-P", &pid_s]);
        let mut bird = Bird {
            daemon: Daemon::spawn(ns, "BIRD", dir, cmd, 200),
            sock,
        };
        crate::wait_for(
            Duration::from_secs(10),
            Duration::from_millis(50),
            "BIRD to answer on its control socket",
            || {
                bird.check_alive();
                bird.try_birdc("show status")
            },
        );
        bird
    }

    /// Panics (BIRD's log is printed on the way out) if BIRD has exited.
    pub fn check_alive(&mut self) {
        self.daemon.check_alive();
    }

    /// Runs `birdc -s SOCK CMD`; returns stdout or the error text.
    pub fn try_birdc(&self, cmd: &str) -> Result<String, String> {
        let mut args = vec!["-s".to_string(), self.sock.to_string_lossy().into_owned()];
        args.extend(cmd.split_whitespace().map(String::from));
        let mut birdc = Command::new("birdc");
        birdc.args(&args);
        // birdc exits 0 even for some errors; BIRD error replies start with a
        // 4-digit code 8xxx/9xxx in raw mode, and "syntax error" in text mode.
        control_client(birdc, &format!("birdc {cmd:?}"), |out, stdout| {
            out.status.success() && !stdout.contains("syntax error")
        })
    }

    /// Runs `birdc CMD`; panics on failure.
    pub fn birdc(&self, cmd: &str) -> String {
        self.try_birdc(cmd)
            .unwrap_or_else(|e| panic!("BIRD in netns {}: {e}", self.daemon.ns()))
    }

    /// `birdc show protocols`.
    pub fn show_protocols(&self) -> String {
        self.birdc("show protocols")
    }

    /// `birdc show route ARGS` (e.g. `"all"`, `"for 198.18.0.1"`, `"protocol s1"`).
    pub fn show_route(&self, args: &str) -> String {
        self.birdc(&format!("show route {args}"))
    }

    /// The Info column of protocol `name` in `show protocols` (for BGP:
    /// `"Established"`, `"Active"`, `"Connect"`, ...); `None` if not listed.
    pub fn protocol_info(&self, name: &str) -> Option<String> {
        parse_protocol_info(&self.show_protocols(), name)
    }

    /// Waits until BGP protocol `name` is Established, panicking with
    /// `show protocols all NAME` otherwise.
    pub fn wait_established(&mut self, name: &str, timeout: Duration) {
        crate::wait_for(
            timeout,
            Duration::from_millis(250),
            &format!(
                "BIRD protocol {name} in netns {} to be Established",
                self.daemon.ns()
            ),
            || {
                self.check_alive();
                match self.protocol_info(name) {
                    Some(s) if s.starts_with("Established") => Ok(()),
                    _ => Err(self
                        .try_birdc(&format!("show protocols all {name}"))
                        .unwrap_or_else(|e| e)),
                }
            },
        );
    }
}

/// A BIRD config with one eBGP session on a connected link, as the
/// plain-peer tests write it: `log stderr all`, the device protocol scanning
/// every 2 s, `statics` as IPv4 blackholes exported to the peer with
/// `next hop self` (nothing exported when there are none), and a connect
/// retry of 2 s.
#[derive(Debug, Clone, Copy)]
pub struct BirdPeer<'a> {
    /// The `protocol bgp` name (what [`Bird::wait_established`] takes).
    pub name: &'a str,
    pub router_id: &'a str,
    pub local: &'a str,
    pub asn: u32,
    pub neighbor: &'a str,
    pub peer_asn: u32,
    pub statics: &'a [&'a str],
    /// The IPv4 channel's import filter: `"all"` or `"none"`.
    pub import: &'a str,
    /// More lines for the `protocol bgp` block, e.g. `"error wait time 1, 5;"`.
    pub options: &'a [&'a str],
}

impl BirdPeer<'_> {
    /// The bird.conf text.
    pub fn conf(&self) -> String {
        let mut s = format!(
            "\nlog stderr all;\nrouter id {};\nprotocol device {{ scan time 2; }}\n",
            self.router_id
        );
        let export = if self.statics.is_empty() {
            "export none;".to_string()
        } else {
            let routes: Vec<String> = self
                .statics
                .iter()
                .map(|p| format!("route {p} blackhole;"))
                .collect();
            s.push_str(&format!(
                "protocol static s4 {{ ipv4; {} }}\n",
                routes.join(" ")
            ));
            "export where source = RTS_STATIC; next hop self;".to_string()
        };
        s.push_str(&format!(
            "protocol bgp {} {{\n    local {} as {};\n    neighbor {} as {};\n    \
             connect retry time 2;\n",
            self.name, self.local, self.asn, self.neighbor, self.peer_asn
        ));
        for o in self.options {
            s.push_str(&format!("    {o}\n"));
        }
        s.push_str(&format!(
            "    ipv4 {{ import {}; {export} }};\n}}\n",
            self.import
        ));
        s
    }
}

/// Finds `name`'s row in `show protocols` output and returns what follows
/// the Since column. Rows are `Name Proto Table State Since Info...`, where
/// Since is a time (and sometimes a date before it) without spaces in BIRD 2's
/// default format.
fn parse_protocol_info(show_protocols: &str, name: &str) -> Option<String> {
    show_protocols.lines().find_map(|line| {
        let cols: Vec<&str> = line.split_whitespace().collect();
        if cols.first() != Some(&name) || cols.len() < 5 {
            return None;
        }
        Some(cols[5..].join(" "))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bird_peer_conf_as_written_by_hand() {
        let peer = BirdPeer {
            name: "x",
            router_id: "192.0.2.9",
            local: "192.0.2.1",
            asn: 64512,
            neighbor: "192.0.2.2",
            peer_asn: 64513,
            statics: &["198.18.0.0/24", "198.18.1.0/24"],
            import: "none",
            options: &["hold time 9;"],
        };
        let conf = peer.conf();
        let want = "
log stderr all;
router id 192.0.2.9;
protocol device { scan time 2; }
protocol static s4 { ipv4; route 198.18.0.0/24 blackhole; route 198.18.1.0/24 blackhole; }
protocol bgp x {
    local 192.0.2.1 as 64512;
    neighbor 192.0.2.2 as 64513;
    connect retry time 2;
    hold time 9;
    ipv4 { import none; export where source = RTS_STATIC; next hop self; };
}
";
        assert_eq!(conf, want);
        let quiet = BirdPeer {
            statics: &[],
            import: "all",
            options: &[],
            ..peer
        }
        .conf();
        assert!(!quiet.contains("protocol static"), "{quiet}");
        assert!(
            quiet.contains("    ipv4 { import all; export none; };\n}\n"),
            "{quiet}"
        );
    }

    #[test]
    fn protocol_info_is_the_last_columns() {
        let text = "BIRD 2.0.12 ready.\n\
            Name       Proto      Table      State  Since         Info\n\
            device1    Device     ---        up     03:10:00.123  \n\
            frr        BGP        ---        up     03:10:05.000  Established   \n\
            s2         BGP        ---        start  03:10:05.000  Active        Socket: Connection refused\n";
        assert_eq!(
            parse_protocol_info(text, "frr").as_deref(),
            Some("Established")
        );
        assert_eq!(
            parse_protocol_info(text, "s2").as_deref(),
            Some("Active Socket: Connection refused")
        );
        assert_eq!(parse_protocol_info(text, "device1").as_deref(), Some(""));
        assert_eq!(parse_protocol_info(text, "nope"), None);
    }
}

//! `wgbgp`, the command-line client of wgbgpd.
//!
//! `show` commands ask the running daemon over its control socket and print
//! FRR-style text or (`--json`) FRR-compatible JSON; `genkey`/`pubkey` work
//! like `wg genkey`/`wg pubkey`; `config check` validates a file offline.
//! Exit status: 0 on success, 1 on any error (message on stderr).

use std::io::{Read, Write};
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand};
use ipnet::IpNet;
use wgbgp::api::{AdjRib, Afi, Request, Response, SoftDirection};
use wgbgp::config::{Config, DEFAULT_CONTROL_SOCKET};
use wgbgp::{control, render};
use wireguard_control::Key;

#[derive(Debug, Parser)]
#[command(name = "wgbgp", version, about = "Query and manage wgbgpd")]
struct Cli {
    /// Control socket of the daemon [default: the config's control_socket,
    /// else /run/wgbgp/wgbgp.sock].
    #[arg(long, global = true, value_name = "PATH")]
    socket: Option<PathBuf>,
    /// The daemon's configuration file (to find its control socket).
    #[arg(long, global = true, value_name = "PATH")]
    config: Option<PathBuf>,
    /// Print JSON (FRR field names) instead of text.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Show daemon state.
    Show {
        #[command(subcommand)]
        what: Show,
    },
    /// Print a new private key (base64), like `wg genkey`.
    Genkey,
    /// Read a private key on stdin, print its public key, like `wg pubkey`.
    Pubkey,
    /// Translate another router's configuration to wgbgp YAML (on stdout).
    Import {
        #[command(subcommand)]
        what: ImportCommand,
    },
    /// Print the `peers:` stanza the router behind PEER needs for this router
    /// (reads --config [default /etc/wgbgp/wgbgp.yaml] and its key file).
    PeerConfig {
        /// The peer's name in our configuration.
        peer: String,
        /// How PEER reaches us [default: REPLACE-ME:<our listen port>].
        #[arg(long, value_name = "HOST:PORT")]
        endpoint: Option<String>,
        /// The name PEER gives us [default: our host name, else r-<router id>].
        #[arg(long)]
        name: Option<String>,
    },
    /// Work with configuration files.
    Config {
        #[command(subcommand)]
        what: ConfigCommand,
    },
    /// Make the daemon re-read its configuration file and apply the
    /// difference (same as SIGHUP).
    Reload,
    /// Reset sessions: `clear bgp PEER [soft in|soft out]`.
    Clear {
        #[command(subcommand)]
        what: ClearCommand,
    },
    /// Print the shell completion script for SHELL, e.g.
    /// `wgbgp completions bash > /etc/bash_completion.d/wgbgp`.
    Completions { shell: clap_complete::Shell },
    /// Write the manual pages of wgbgp (section 1) and wgbgpd (section 8) to DIR.
    #[command(hide = true)]
    Man { dir: PathBuf },
}

#[derive(Debug, Subcommand)]
enum ClearCommand {
    /// PEER is a peer name, a peer address or `*`; `soft in` asks the peer to
    /// resend (ROUTE-REFRESH), `soft out` resends ours; no `soft` resets.
    Bgp {
        peer: String,
        #[arg(value_parser = ["soft"])]
        soft: Option<String>,
        #[arg(value_parser = ["in", "out"], requires = "soft")]
        direction: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
enum Show {
    /// BGP state.
    Bgp {
        #[command(subcommand)]
        what: ShowBgp,
    },
    /// The WireGuard tunnels: keys (public only), endpoints, handshakes, transfer.
    Tunnels,
    /// BGP next hops and what they resolve through; `objects`: the kernel
    /// nexthop objects our routes use, with their backups.
    Nexthops {
        #[command(subcommand)]
        what: Option<ShowNexthops>,
    },
}

#[derive(Debug, Subcommand)]
enum ShowNexthops {
    /// The kernel nexthop objects (`ip nexthop`): id, next hops, group members, backup, routes.
    Objects,
}

#[derive(Debug, Subcommand)]
enum ShowBgp {
    /// Sessions and prefix counts per address family.
    Summary,
    /// The IPv4 unicast table.
    Ipv4 {
        #[command(subcommand)]
        safi: Safi,
    },
    /// The IPv6 unicast table.
    Ipv6 {
        #[command(subcommand)]
        safi: Safi,
    },
    /// Session details, optionally of one neighbor address; with
    /// `received-routes` (before import policy; needs
    /// `soft_reconfiguration: inbound`), `advertised-routes` or `routes`
    /// (accepted from it): that neighbor's routes.
    Neighbors {
        address: Option<IpAddr>,
        #[arg(value_parser = ["received-routes", "advertised-routes", "routes"], requires = "address")]
        routes: Option<String>,
        /// Address family of the routes (FRR's default: ipv4).
        #[arg(long, value_parser = ["ipv4", "ipv6"], default_value = "ipv4")]
        afi: String,
    },
}

#[derive(Debug, Subcommand)]
enum Safi {
    /// Unicast routes, optionally only PREFIX (an address means its host prefix).
    Unicast {
        #[arg(value_parser = parse_prefix)]
        prefix: Option<IpNet>,
    },
}

#[derive(Debug, Subcommand)]
enum ImportCommand {
    /// An FRR bgpd.conf (or frr.conf) and the wg-quick files of its tunnels.
    Frr {
        /// Write the wg-quick PrivateKey here (mode 0600); it becomes
        /// wireguard.private_key_file.
        #[arg(long, value_name = "PATH")]
        key_file: Option<PathBuf>,
        /// The FRR configuration.
        #[arg(value_name = "BGPD.CONF")]
        bgpd: PathBuf,
        /// wg-quick files; each file's stem is the interface name. A file
        /// goes to the neighbor that `neighbor X interface IFNAME`, its
        /// PostUp host route or AllowedIPs, or its Endpoint ties it to;
        /// write NEIGHBOR=FILE (e.g. 2.2.2.2=wg0.conf) to tie it yourself.
        #[arg(value_name = "[NEIGHBOR=]WG-QUICK.CONF")]
        wg_quick: Vec<PathBuf>,
        /// Print the translation even when some of the FRR configuration
        /// could not be translated (listed under `# not translated:`);
        /// without it that is an error and nothing is printed.
        #[arg(long)]
        allow_partial: bool,
    },
}

#[derive(Debug, Subcommand)]
enum ConfigCommand {
    /// Validate FILE (schema, values, key file directory) and exit.
    Check { file: PathBuf },
    /// What a reload with FILE would change in the running daemon.
    Plan { file: PathBuf },
}

fn parse_prefix(s: &str) -> Result<IpNet, String> {
    s.parse::<IpNet>()
        .or_else(|_| s.parse::<IpAddr>().map(IpNet::from))
        .map_err(|_| format!("`{s}` is not a prefix or address"))
}

/// vtysh habits, rewritten to our command line: a trailing `json` word is
/// `--json`; `show ip bgp ...` is `show bgp ipv4 unicast ...` (`show ip bgp
/// summary|neighbors ...` is `show bgp summary|neighbors ...`); `show bgp
/// ipv4|ipv6` without `unicast`, alone or before a prefix, means unicast.
fn vtysh_words(mut args: Vec<String>) -> Vec<String> {
    let Some(show) = args.iter().position(|a| a == "show") else {
        return args;
    };
    if args.len() > show + 1 && args.last().is_some_and(|a| a == "json") {
        args.pop();
        args.push("--json".into());
    }
    fn word(args: &[String], i: usize) -> Option<&str> {
        args.get(i).map(String::as_str)
    }
    if word(&args, show + 1) == Some("ip") && word(&args, show + 2) == Some("bgp") {
        args.remove(show + 1);
        if !matches!(word(&args, show + 2), Some("summary" | "neighbors")) {
            args.splice(show + 2..show + 2, ["ipv4".to_string()]);
        }
    }
    if word(&args, show + 1) == Some("bgp")
        && matches!(word(&args, show + 2), Some("ipv4" | "ipv6"))
        && !matches!(
            word(&args, show + 3),
            Some("unicast" | "help" | "-h" | "--help")
        )
    {
        args.insert(show + 3, "unicast".into());
    }
    args
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse_from(vtysh_words(std::env::args().collect())) {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            // --help and --version are not errors.
            return if e.use_stderr() {
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    match run(cli) {
        Ok(out) => {
            let mut stdout = std::io::stdout().lock();
            // A closed pipe (`| head`) is not worth an error.
            let _ = stdout.write_all(out.as_bytes());
            ExitCode::SUCCESS
        }
        Err(msg) => {
            eprintln!("wgbgp: {msg}");
            ExitCode::FAILURE
        }
    }
}

/// Writes `wgbgp.1`, a page per subcommand (`wgbgp-show-bgp-summary.1`, ...)
/// and `wgbgpd.8` into `dir`, from the same definitions `--help` prints.
fn man_pages(dir: &Path) -> Result<String, String> {
    let fail = |e: std::io::Error| format!("{}: {e}", dir.display());
    std::fs::create_dir_all(dir).map_err(fail)?;
    let mut wgbgp = Cli::command();
    wgbgp.build();
    write_pages(&wgbgp, "wgbgp", "1", dir).map_err(fail)?;
    write_pages(&wgbgp::cli::Daemon::command(), "wgbgpd", "8", dir).map_err(fail)?;
    Ok(String::new())
}

/// The page of `cmd` as `name.section`, then those of its subcommands
/// (`name-sub`), leaving out hidden ones and clap's `help`.
fn write_pages(cmd: &clap::Command, name: &str, section: &str, dir: &Path) -> std::io::Result<()> {
    let mut page = Vec::new();
    let cmd = cmd.clone().name(name.to_string());
    clap_mangen::Man::new(cmd.clone())
        .section(section)
        .render(&mut page)?;
    std::fs::write(dir.join(format!("{name}.{section}")), page)?;
    for sub in cmd.get_subcommands() {
        if !sub.is_hide_set() && sub.get_name() != "help" {
            write_pages(sub, &format!("{name}-{}", sub.get_name()), section, dir)?;
        }
    }
    Ok(())
}

/// Runs the command; `Ok` is what to print on stdout.
fn run(cli: Cli) -> Result<String, String> {
    match &cli.command {
        Command::Genkey => Ok(format!("{}\n", Key::generate_private().to_base64())),
        Command::Completions { shell } => {
            let mut out = Vec::new();
            clap_complete::generate(*shell, &mut Cli::command(), "wgbgp", &mut out);
            String::from_utf8(out).map_err(|e| e.to_string())
        }
        Command::Man { dir } => man_pages(dir),
        Command::Import {
            what:
                ImportCommand::Frr {
                    key_file,
                    bgpd,
                    wg_quick,
                    allow_partial,
                },
        } => wgbgp::import_frr::cli(key_file.as_deref(), bgpd, wg_quick, *allow_partial),
        Command::PeerConfig {
            peer,
            endpoint,
            name,
        } => {
            let default = Path::new(wgbgp::peer_config::DEFAULT_CONFIG);
            let config = cli.config.as_deref().unwrap_or(default);
            wgbgp::peer_config::cli(config, peer, endpoint.as_deref(), name.as_deref())
        }
        Command::Pubkey => {
            let mut input = String::new();
            std::io::stdin()
                .read_to_string(&mut input)
                .map_err(|e| format!("reading stdin: {e}"))?;
            let key = Key::from_base64(input.trim())
                .map_err(|_| "stdin is not a base64 WireGuard key".to_string())?;
            Ok(format!("{}\n", key.get_public().to_base64()))
        }
        Command::Config {
            what: ConfigCommand::Check { file },
        } => wgbgp::host::check(file)
            .map(|_| "configuration OK\n".to_string())
            .map_err(|e| e.to_string()),
        Command::Config {
            what: ConfigCommand::Plan { file },
        } => {
            let file =
                std::fs::canonicalize(file).map_err(|e| format!("{}: {e}", file.display()))?;
            show(ask(&cli, &Request::Plan { path: file })?, None, cli.json)
        }
        Command::Reload => show(ask(&cli, &Request::Reload)?, None, cli.json),
        Command::Clear {
            what:
                ClearCommand::Bgp {
                    peer,
                    soft,
                    direction,
                },
        } => {
            let soft = match (soft.as_deref(), direction.as_deref()) {
                (None, _) => None,
                (Some(_), Some("out")) => Some(SoftDirection::Out),
                (Some(_), _) => Some(SoftDirection::In),
            };
            show(
                ask(
                    &cli,
                    &Request::Clear {
                        peer: peer.clone(),
                        soft,
                    },
                )?,
                None,
                cli.json,
            )
        }
        Command::Show {
            what: Show::Tunnels,
        } => show(ask(&cli, &Request::Tunnels)?, None, cli.json),
        Command::Show {
            what: Show::Nexthops { what: None },
        } => show(ask(&cli, &Request::Nexthops)?, None, cli.json),
        Command::Show {
            what: Show::Nexthops {
                what: Some(ShowNexthops::Objects),
            },
        } => show(ask(&cli, &Request::NexthopObjects)?, None, cli.json),
        Command::Show {
            what: Show::Bgp { what },
        } => {
            let (request, prefix) = match what {
                ShowBgp::Summary => (Request::Summary, None),
                ShowBgp::Neighbors {
                    address: Some(address),
                    routes: Some(which),
                    afi,
                } => {
                    let which = match which.as_str() {
                        "received-routes" => AdjRib::ReceivedRoutes,
                        "advertised-routes" => AdjRib::AdvertisedRoutes,
                        _ => AdjRib::Routes,
                    };
                    let afi = if afi == "ipv6" { Afi::Ipv6 } else { Afi::Ipv4 };
                    let request = Request::NeighborRoutes {
                        address: *address,
                        which,
                        afi,
                    };
                    (request, None)
                }
                ShowBgp::Neighbors { address, .. } => {
                    (Request::Neighbors { address: *address }, None)
                }
                ShowBgp::Ipv4 {
                    safi: Safi::Unicast { prefix },
                } => (routes(Afi::Ipv4, *prefix), *prefix),
                ShowBgp::Ipv6 {
                    safi: Safi::Unicast { prefix },
                } => (routes(Afi::Ipv6, *prefix), *prefix),
            };
            show(ask(&cli, &request)?, prefix, cli.json)
        }
    }
}

/// Sends one request to the daemon and waits for its answer.
fn ask(cli: &Cli, request: &Request) -> Result<Response, String> {
    let socket = socket_path(cli)?;
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start runtime: {e}"))?
        .block_on(control::request(&socket, request))
        .map_err(|e| e.to_string())
}

fn routes(afi: Afi, prefix: Option<IpNet>) -> Request {
    Request::Routes { afi, prefix }
}

/// `--socket`, else the `control_socket` of `--config`, else the default.
fn socket_path(cli: &Cli) -> Result<PathBuf, String> {
    if let Some(s) = &cli.socket {
        return Ok(s.clone());
    }
    if let Some(path) = &cli.config {
        let src = std::fs::read_to_string(path)
            .map_err(|e| format!("{}: cannot read: {e}", path.display()))?;
        // Only the socket path is needed: skip the filesystem checks.
        let cfg = Config::from_str(&src, path).map_err(|e| e.to_string())?;
        return Ok(cfg.control_socket);
    }
    Ok(Path::new(DEFAULT_CONTROL_SOCKET).to_path_buf())
}

/// `value` as JSON with `--json`, else as `text` renders it.
fn text_or_json<T: serde::Serialize>(value: &T, json: bool, text: fn(&T) -> String) -> String {
    if json {
        render::json(value)
    } else {
        text(value)
    }
}

fn show(response: Response, prefix: Option<IpNet>, json: bool) -> Result<String, String> {
    match response {
        Response::Error(e) => Err(e),
        Response::Done(what) => Ok(format!("{what}\n")),
        Response::Plan(plan) => Ok(text_or_json(&plan, json, |p| p.to_string())),
        Response::Neighbors(n) => Ok(text_or_json(&n, json, render::neighbors)),
        Response::Tunnels(t) => Ok(text_or_json(&t, json, |t| render::tunnels(t))),
        Response::Nexthops(n) => Ok(text_or_json(&n, json, |n| render::nexthops(n))),
        Response::NexthopObjects(n) => Ok(text_or_json(&n, json, |n| render::nexthop_objects(n))),
        Response::AdjRoutes(r) => Ok(text_or_json(&r, json, render::adj_routes)),
        Response::Summary(s) => Ok(text_or_json(&s, json, render::summary)),
        Response::Route(r) => Ok(match (r, json) {
            (Some(r), true) => render::json(&r),
            (Some(r), false) => render::route(&r),
            // What vtysh prints.
            (None, true) => "{}\n".into(),
            (None, false) => "% Network not in table\n".into(),
        }),
        Response::Routes(mut t) => {
            if let Some(p) = prefix {
                // The daemon filters too; doing it here keeps the output
                // right whichever side implements it.
                let key = p.to_string();
                t.routes.retain(|k, _| *k == key);
                t.total_routes = t.routes.len() as u64;
                t.total_paths = t.routes.values().map(|v| v.len() as u64).sum();
            }
            Ok(text_or_json(&t, json, render::routes))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::vtysh_words;

    fn words(s: &str) -> String {
        let args = s.split(' ').map(str::to_string).collect();
        vtysh_words(args).join(" ")
    }

    #[test]
    fn vtysh_habits_become_our_command_line() {
        for (vtysh, ours) in [
            (
                "wgbgp show bgp summary json",
                "wgbgp show bgp summary --json",
            ),
            ("wgbgp show ip bgp", "wgbgp show bgp ipv4 unicast"),
            (
                "wgbgp show ip bgp json",
                "wgbgp show bgp ipv4 unicast --json",
            ),
            (
                "wgbgp show ip bgp 198.51.100.0/24 json",
                "wgbgp show bgp ipv4 unicast 198.51.100.0/24 --json",
            ),
            ("wgbgp show ip bgp summary", "wgbgp show bgp summary"),
            (
                "wgbgp show ip bgp neighbors 2.2.2.2 json",
                "wgbgp show bgp neighbors 2.2.2.2 --json",
            ),
            ("wgbgp show bgp ipv6", "wgbgp show bgp ipv6 unicast"),
            (
                "wgbgp show bgp ipv6 fd00::/64",
                "wgbgp show bgp ipv6 unicast fd00::/64",
            ),
            ("wgbgp show bgp ipv4 unicast", "wgbgp show bgp ipv4 unicast"),
            (
                "wgbgp --socket s show bgp neighbors 2.2.2.2",
                "wgbgp --socket s show bgp neighbors 2.2.2.2",
            ),
            // Not a show command: left alone.
            ("wgbgp config check json", "wgbgp config check json"),
        ] {
            assert_eq!(words(vtysh), ours, "{vtysh}");
        }
    }
}

//! The control-socket protocol: request and response types.
//!
//! One JSON object per line over a Unix stream socket: the client writes a
//! [`Request`], the daemon answers with one [`Response`]. The `show` payloads
//! use FRR's JSON field names (bgpd/bgp_vty.c `show bgp summary json`,
//! bgpd/bgp_route.c `show bgp ipv4 unicast json`) so scripts written against
//! `vtysh -c '... json'` read wgbgp unchanged; fields FRR does not have are
//! ours and named in the same camelCase style.

use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;
use std::time::Duration;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

/// A control request; `{"cmd":"summary"}`, `{"cmd":"routes","afi":"ipv4"}`.
/// New commands are new variants; unknown ones are refused by the server
/// with an error naming the command.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "cmd", rename_all = "snake_case", deny_unknown_fields)]
pub enum Request {
    /// `show bgp summary`.
    Summary,
    /// `show bgp ipv4|ipv6 unicast [PREFIX]`.
    Routes {
        afi: Afi,
        /// Only this prefix (exact match), when given.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        prefix: Option<IpNet>,
    },
    /// `show bgp neighbors [ADDR]`.
    Neighbors {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        address: Option<IpAddr>,
    },
    /// `show bgp neighbors ADDR received-routes|advertised-routes|routes`.
    NeighborRoutes {
        address: IpAddr,
        which: AdjRib,
        #[serde(default = "default_afi")]
        afi: Afi,
    },
    /// `show tunnels`.
    Tunnels,
    /// `show nexthops`.
    Nexthops,
    /// `show nexthops objects`.
    NexthopObjects,
    /// `reload`: re-read the daemon's config file and apply it by difference.
    Reload,
    /// `config plan FILE`: what a reload with FILE would change.
    Plan { path: std::path::PathBuf },
    /// `clear bgp PEER [soft in|soft out]`; PEER is a name, an address or `*`.
    Clear {
        peer: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        soft: Option<SoftDirection>,
    },
}

impl Request {
    /// Whether the request changes the daemon's state (or reads a file as
    /// root): only root and the `control_admin_group` may send it.
    pub fn changes_state(&self) -> bool {
        matches!(
            self,
            Request::Reload | Request::Plan { .. } | Request::Clear { .. }
        )
    }

    /// The request's name on the wire, for messages.
    pub fn command(&self) -> &'static str {
        match self {
            Request::Summary => "summary",
            Request::Routes { .. } => "routes",
            Request::Neighbors { .. } => "neighbors",
            Request::NeighborRoutes { .. } => "neighbor_routes",
            Request::Tunnels => "tunnels",
            Request::Nexthops => "nexthops",
            Request::NexthopObjects => "nexthop_objects",
            Request::Reload => "reload",
            Request::Plan { .. } => "plan",
            Request::Clear { .. } => "clear",
        }
    }
}

fn default_afi() -> Afi {
    Afi::Ipv4
}

/// Which routes of one neighbor `show bgp neighbors ADDR ...` lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AdjRib {
    /// As received, before import policy (needs `soft_reconfiguration: inbound`).
    ReceivedRoutes,
    /// As sent to the neighbor.
    AdvertisedRoutes,
    /// Accepted from the neighbor (its paths in the Loc-RIB).
    Routes,
}

/// FRR's `show bgp neighbors ADDR received-routes|advertised-routes json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AdjRoutes {
    pub bgp_table_version: u64,
    pub bgp_local_router_id: String,
    pub default_loc_prf: u32,
    #[serde(rename = "localAS")]
    pub local_as: u32,
    /// FRR's legend of the one-letter codes.
    #[serde(default)]
    pub bgp_status_codes: BTreeMap<String, String>,
    #[serde(default)]
    pub bgp_origin_codes: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub received_routes: Option<BTreeMap<String, AdjRoute>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub advertised_routes: Option<BTreeMap<String, AdjRoute>>,
    pub total_prefix_counter: u64,
    /// Received routes the import policy (or an eBGP check) rejects.
    pub filtered_prefix_counter: u64,
}

/// One route of [`AdjRoutes`], FRR's field names.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AdjRoute {
    pub addr_prefix: String,
    pub prefix_len: u8,
    pub network: String,
    /// IPv4 routes: `nextHop`; IPv6 routes: `nextHopGlobal` (as FRR).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_hop: Option<IpAddr>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_hop_global: Option<IpAddr>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metric: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub loc_prf: Option<u32>,
    pub weight: u32,
    pub path: String,
    pub origin: Origin,
    /// FRR's one-letter origin: `i`, `e`, `?`.
    pub bgp_origin_code: String,
    /// The status column as FRR writes it: `{"*": true, ">": true}`.
    #[serde(default)]
    pub applied_status_symbols: BTreeMap<String, bool>,
    pub valid: bool,
    /// Ours, received routes only: the import policy accepts it now.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accepted: Option<bool>,
}

/// Direction of a soft clear.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SoftDirection {
    In,
    Out,
}

/// Address family as FRR names it in JSON (`idType`, `afi`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Afi {
    Ipv4,
    Ipv6,
}

impl Afi {
    /// The family of an address.
    pub fn of(addr: IpAddr) -> Afi {
        if addr.is_ipv4() { Afi::Ipv4 } else { Afi::Ipv6 }
    }
}

impl fmt::Display for Afi {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Afi::Ipv4 => "ipv4",
            Afi::Ipv6 => "ipv6",
        })
    }
}

/// The daemon's answer. Serialized externally tagged:
/// `{"summary":{...}}`, `{"routes":{...}}`, `{"error":"..."}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Response {
    Summary(BgpSummary),
    Routes(RouteTable),
    /// One prefix in detail (`show bgp ipv4 unicast PREFIX`); `None`: not
    /// in the table.
    Route(Option<RouteDetail>),
    /// A neighbor's received or advertised routes.
    AdjRoutes(AdjRoutes),
    /// FRR's `show bgp neighbors json`: neighbors by address.
    Neighbors(BTreeMap<String, Neighbor>),
    Tunnels(Vec<TunnelInfo>),
    Nexthops(Vec<NexthopInfo>),
    NexthopObjects(Vec<NexthopObjectInfo>),
    /// A reload or plan: what changed (or would).
    Plan(crate::plan::ReloadPlan),
    /// A command that succeeded, with what it did.
    Done(String),
    /// The request failed; the text is for a human.
    Error(String),
}

/// One neighbor of `show bgp neighbors json`, with FRR's field names.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Neighbor {
    pub remote_as: u32,
    pub local_as: u32,
    /// wgbgp speaks eBGP only: always true.
    pub nbr_external_link: bool,
    pub bgp_version: u8,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbr_desc: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remote_router_id: Option<String>,
    pub local_router_id: String,
    pub bgp_state: SessionState,
    pub bgp_timer_up_msec: u64,
    /// FRR's uptime text while Established.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bgp_timer_up_string: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bgp_timer_up_established_epoch: Option<u64>,
    pub bgp_timer_configured_hold_time_msecs: u64,
    pub bgp_timer_configured_keep_alive_interval_msecs: u64,
    /// RFC 9072's extended OPEN parameters length: never used.
    pub extended_optional_parameters_length: bool,
    /// Updates go out as they are made (no MRAI): 0.
    pub min_btwn_advertisement_runs_timer_msecs: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bgp_timer_hold_time_msecs: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bgp_timer_keep_alive_interval_msecs: Option<u64>,
    /// The configured session source (FRR shows it only when set).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub update_source: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interface: Option<String>,
    /// Capabilities both sides announced; absent unless Established (as FRR).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub neighbor_capabilities: Option<NeighborCapabilities>,
    pub message_stats: MessageStats,
    pub connections_established: u64,
    pub connections_dropped: u64,
    /// Milliseconds since the last Established session ended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_reset_timer_msecs: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_reset_due_to: Option<String>,
    /// FRR's `PEER_DOWN_*` number of the last reset (bgpd/bgpd.h): 11 we
    /// shut it down, 12 cleared, 13 NOTIFICATION received, 14 sent, 15 the
    /// connection closed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_reset_code: Option<u32>,
    /// When the last reset was a NOTIFICATION: `Cease/Administrative Shutdown`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_notification_reason: Option<String>,
    /// Its code and subcode as FRR writes them, two hex digits each: `0602`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error_code_subcode: Option<String>,
    /// It was (or stood for, RFC 8538) a Hard Reset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_notification_hard_reset: Option<bool>,
    /// The Established connection's local and remote address and port.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_local: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port_local: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_foreign: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port_foreign: Option<u16>,
    /// Our next hop in routes to this neighbor: IPv4, IPv6 global, IPv6
    /// link-local (on the session's interface).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nexthop: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nexthop_global: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nexthop_local: Option<String>,
    /// Per family (`ipv4Unicast`): accepted and sent prefix counts.
    pub address_family_info: BTreeMap<String, AfInfo>,
    pub name: String,
    /// BFD to this neighbor, when configured (FRR's `peerBfdInfo`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peer_bfd_info: Option<PeerBfdInfo>,
    /// Graceful Restart (RFC 4724) on both sides, FRR's `gracefulRestartInfo`.
    #[serde(default)]
    pub graceful_restart_info: GracefulRestartInfo,
}

/// FRR's `neighborCapabilities`: what both sides announced, as
/// `advertisedAndReceived`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NeighborCapabilities {
    #[serde(rename = "4byteAs", default, skip_serializing_if = "Option::is_none")]
    pub four_byte_as: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extended_message: Option<String>,
    /// FRR: `advertisedAndReceivedOldNew` when both codes (2 and 128) went
    /// both ways; wgbgp speaks the RFC 2918 code only: `advertisedAndReceivedNew`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub route_refresh: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enhanced_route_refresh: Option<String>,
    /// RFC 8950 for IPv4 unicast over IPv6.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extended_nexthop: Option<String>,
    /// Nested per family, as FRR: `{"ipv4Unicast": {"advertisedAndReceived": true}}`.
    #[serde(default)]
    pub multiprotocol_extensions: BTreeMap<String, BTreeMap<String, bool>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub graceful_restart: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub graceful_restart_remote_timer_msecs: Option<u64>,
    /// The FQDN capability (draft-walton-bgp-hostname-capability) both ways.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_name: Option<HostNameCapability>,
}

/// FRR's `hostName` capability object; `n/a` for what was not sent.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HostNameCapability {
    pub adv_host_name: String,
    pub adv_domain_name: String,
    pub rcv_host_name: String,
    pub rcv_domain_name: String,
}

impl NeighborCapabilities {
    /// `(name, how)` per capability, for the text view.
    pub fn lines(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        for (name, how) in [
            ("4byteAs", &self.four_byte_as),
            ("extendedMessage", &self.extended_message),
            ("routeRefresh", &self.route_refresh),
            ("enhancedRouteRefresh", &self.enhanced_route_refresh),
            ("extendedNexthop", &self.extended_nexthop),
            ("gracefulRestart", &self.graceful_restart),
        ] {
            if let Some(how) = how {
                out.push((name.to_string(), how.clone()));
            }
        }
        for (family, how) in &self.multiprotocol_extensions {
            for (how, yes) in how {
                if *yes {
                    out.push((format!("multiprotocolExtensions {family}"), how.clone()));
                }
            }
        }
        out
    }
}

/// FRR's `peerBfdInfo` in `show bgp neighbors json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PeerBfdInfo {
    /// `multi hop`.
    #[serde(rename = "type")]
    pub kind: String,
    pub detect_multiplier: u8,
    /// Our intervals, milliseconds.
    pub rx_min_interval: u32,
    pub tx_min_interval: u32,
    /// `Up`, `Down`, `Init`, `AdminDown` (FRR: `Up`, `Down`, `Unknown`).
    pub status: String,
    /// Time since the last state change, FRR-style `d:hh:mm:ss`.
    pub last_update: String,
    /// What the remote end says it will send, milliseconds, and its multiplier.
    pub remote_tx_min_interval: u32,
    pub remote_detect_multiplier: u8,
    /// RFC 5880 diagnostic of our last state change, in FRR's words.
    pub diagnostic: String,
}

/// FRR's `gracefulRestartInfo` of `show bgp neighbors json`, as far as
/// wgbgpd implements it.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GracefulRestartInfo {
    /// Ours: `Restart` (restarting speaker and helper), `Helper`, `Disable`.
    pub local_gr_mode: String,
    /// The peer's, from its last OPEN: `Restart` (it lists families),
    /// `Helper` (capability without families), `Disable`, or
    /// `NotApplicable` before any OPEN.
    pub remote_gr_mode: String,
    /// Flags of the peer's capability in its last OPEN: R (it had just
    /// restarted) and N (RFC 8538).
    pub r_bit: bool,
    pub n_bit: bool,
    /// F bit per family the peer preserves (`ipv4Unicast`: true).
    #[serde(default)]
    pub f_bits: BTreeMap<String, bool>,
    pub timers: GracefulRestartTimers,
    /// The peer is away or back but not yet done (we hold stale routes of it).
    pub peer_restarting: bool,
    /// We are restarting: route selection waits for this peer's End-of-RIB.
    pub local_restarting: bool,
    /// End-of-RIB sent and received on the current session, per family
    /// (`ipv4Unicast`: true).
    #[serde(default)]
    pub end_of_rib_send: BTreeMap<String, bool>,
    #[serde(default)]
    pub end_of_rib_recv: BTreeMap<String, bool>,
    /// Per family while Established (FRR's `ipv4Unicast: {fBit, endOfRibStatus}`).
    #[serde(flatten, default)]
    pub families: BTreeMap<String, GracefulRestartFamily>,
}

/// One family of [`GracefulRestartInfo`].
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GracefulRestartFamily {
    /// The peer keeps forwarding state for it across its restart.
    pub f_bit: bool,
    pub end_of_rib_status: EndOfRibStatus,
    pub timers: GracefulRestartFamilyTimers,
}

/// FRR's per-family `timers` of [`GracefulRestartFamily`].
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GracefulRestartFamilyTimers {
    /// Seconds stale paths are kept after the peer came back, at most.
    pub stale_path_timer: u64,
}

/// FRR's `endOfRibStatus`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EndOfRibStatus {
    pub end_of_rib_send: bool,
    pub end_of_rib_recv: bool,
}

/// FRR's `gracefulRestartInfo.timers`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GracefulRestartTimers {
    /// The Restart Time we announce (0 without the capability).
    pub configured_restart_timer: u16,
    /// The peer's Restart Time, if it announced the capability.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub received_restart_timer: Option<u16>,
}

/// FRR's `messageStats`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MessageStats {
    pub opens_sent: u64,
    pub opens_recv: u64,
    pub notifications_sent: u64,
    pub notifications_recv: u64,
    pub updates_sent: u64,
    pub updates_recv: u64,
    pub keepalives_sent: u64,
    pub keepalives_recv: u64,
    pub route_refresh_sent: u64,
    pub route_refresh_recv: u64,
    pub total_sent: u64,
    pub total_recv: u64,
}

/// FRR's per-family neighbor facts and counters.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AfInfo {
    /// Which communities go to the neighbor: all kinds (FRR's words).
    pub comm_attri_sent_to_nbr: String,
    /// An import (export) policy is configured.
    pub inbound_path_policy_config: bool,
    pub outbound_path_policy_config: bool,
    /// The import and export policy names, space-separated (FRR: the
    /// route-map's name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub route_map_for_incoming_advertisements: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub route_map_for_outgoing_advertisements: Option<String>,
    pub accepted_prefix_counter: u64,
    pub sent_prefix_counter: u64,
}

/// `show tunnels`: the facts of `wg show` for one tunnel; never a private key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TunnelInfo {
    pub interface: String,
    /// The peer's config name.
    pub peer: String,
    pub backend: String,
    pub up: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_key: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peer_public_key: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub listen_port: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latest_handshake_epoch: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latest_handshake_age_secs: Option<u64>,
    pub rx_bytes: u64,
    pub tx_bytes: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub persistent_keepalive: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mtu: Option<u32>,
    pub restarts: u32,
    /// Set when the tunnel's state could not be read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// `show nexthops`: one BGP next hop and how it resolves.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NexthopInfo {
    pub ip: IpAddr,
    pub resolved: bool,
    /// `via GW dev IF [onlink]` per kernel next hop.
    pub via: Vec<String>,
    /// Paths that use this next hop.
    pub paths: u64,
}

/// `show nexthops objects`: one kernel nexthop object of ours (`ip nexthop
/// show id ID`), shared by the routes with the same next hops and backup.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NexthopObjectInfo {
    pub id: u32,
    /// `via GW dev IF [onlink]` per next hop it forwards to now.
    pub via: Vec<String>,
    /// Member object ids of a group; empty for a gateway object.
    pub members: Vec<u32>,
    /// Where it moves when its next hops die (BGP PIC); empty: nowhere.
    pub backup: Vec<String>,
    /// Routes using it.
    pub routes: u64,
    /// Groups it is a member of.
    pub groups: u64,
    /// Believed present in the kernel as described.
    pub installed: bool,
}

/// `show bgp summary json`: one [`Summary`] per address family.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct BgpSummary {
    #[serde(
        rename = "ipv4Unicast",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub ipv4_unicast: Option<Summary>,
    #[serde(
        rename = "ipv6Unicast",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub ipv6_unicast: Option<Summary>,
}

/// One family's summary (FRR `show bgp ipv4 unicast summary json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Summary {
    pub router_id: String,
    #[serde(rename = "as")]
    pub as_: u32,
    pub vrf_id: u32,
    pub vrf_name: String,
    pub table_version: u64,
    /// Prefixes in the Loc-RIB of this family.
    pub rib_count: u64,
    /// Estimated memory of those prefixes and their paths, bytes.
    pub rib_memory: u64,
    /// Peers in this summary.
    pub peer_count: u64,
    /// Estimated memory of the peers' Adj-RIBs-In, bytes (tracked for
    /// peers with `max_adj_rib_in_mib`, else 0).
    pub peer_memory: u64,
    /// By session address (`"2.2.2.2"`), as FRR keys them.
    pub peers: BTreeMap<String, PeerSummary>,
    /// Peers not Established.
    pub failed_peers: u64,
    pub displayed_peers: u64,
    pub total_peers: u64,
    pub dynamic_peers: u64,
    pub best_path: BestPathConfig,
}

/// FRR's `bestPath` of the summary: the selection knobs that are on.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BestPathConfig {
    /// `"true"` or `"false"` (a string, as FRR writes it).
    pub multi_path_relax: String,
}

impl Summary {
    /// A summary with FRR's constant fields filled in and the counts
    /// derived from `peers`.
    pub fn new(
        router_id: impl Into<String>,
        as_: u32,
        rib_count: u64,
        peers: BTreeMap<String, PeerSummary>,
    ) -> Summary {
        let n = peers.len() as u64;
        let failed = peers
            .values()
            .filter(|p| p.state != SessionState::Established)
            .count() as u64;
        Summary {
            router_id: router_id.into(),
            as_,
            vrf_id: 0,
            vrf_name: "default".into(),
            table_version: 0,
            rib_count,
            rib_memory: 0,
            peer_count: n,
            peer_memory: 0,
            peers,
            failed_peers: failed,
            displayed_peers: n,
            total_peers: n,
            dynamic_peers: 0,
            best_path: BestPathConfig {
                multi_path_relax: "false".into(),
            },
        }
    }
}

/// One peer line of the summary.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PeerSummary {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
    pub remote_as: u32,
    pub local_as: u32,
    pub version: u8,
    pub msg_rcvd: u64,
    pub msg_sent: u64,
    pub table_version: u64,
    pub outq: u64,
    pub inq: u64,
    /// FRR's uptime text: "never", "00:01:02", "1d02h03m", "02w3d04h".
    pub peer_uptime: String,
    pub peer_uptime_msec: u64,
    /// Unix time the session was established (absent if never).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peer_uptime_established_epoch: Option<u64>,
    pub pfx_rcd: u64,
    pub pfx_snt: u64,
    pub state: SessionState,
    pub peer_state: PeerState,
    pub connections_established: u64,
    pub connections_dropped: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub desc: Option<String>,
    pub id_type: Afi,
    /// Ours: the config key of the peer.
    pub name: String,
    /// Ours: the peer's WireGuard interface, if it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interface: Option<String>,
}

/// The session state as FRR prints it (RFC 4271 §8.2.2 states plus
/// FRR's `Idle (Admin)` for a peer that is shut down).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum SessionState {
    Idle,
    #[serde(rename = "Idle (Admin)")]
    IdleAdmin,
    Connect,
    Active,
    OpenSent,
    OpenConfirm,
    Established,
}

impl SessionState {
    /// The FSM state number of BGP4-MIB `bgpPeerState` (GoBGP's too):
    /// Idle 1, Connect 2, Active 3, OpenSent 4, OpenConfirm 5, Established
    /// 6. frr_exporter's `frr_bgp_peer_state` is another scale (0 down,
    /// 1 Established, 2 admin down).
    pub fn number(self) -> i64 {
        match self {
            SessionState::Idle | SessionState::IdleAdmin => 1,
            SessionState::Connect => 2,
            SessionState::Active => 3,
            SessionState::OpenSent => 4,
            SessionState::OpenConfirm => 5,
            SessionState::Established => 6,
        }
    }
}

impl fmt::Display for SessionState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SessionState::Idle => "Idle",
            SessionState::IdleAdmin => "Idle (Admin)",
            SessionState::Connect => "Connect",
            SessionState::Active => "Active",
            SessionState::OpenSent => "OpenSent",
            SessionState::OpenConfirm => "OpenConfirm",
            SessionState::Established => "Established",
        })
    }
}

/// FRR's `peerState`: why a peer is (not) exchanging routes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum PeerState {
    #[serde(rename = "OK")]
    Ok,
    /// Administratively shut down.
    Admin,
    /// RFC 8212: eBGP without import or export policy exchanges nothing.
    Policy,
}

/// FRR's `peer_uptime()` text for a session up for `uptime`; `None` (never
/// established) is "never".
pub fn format_uptime(uptime: Option<Duration>) -> String {
    const DAY: u64 = 86_400;
    const WEEK: u64 = 7 * DAY;
    let Some(d) = uptime else {
        return "never".into();
    };
    let s = d.as_secs();
    let (h, m, sec) = ((s / 3600) % 24, (s / 60) % 60, s % 60);
    if s < DAY {
        format!("{:02}:{m:02}:{sec:02}", s / 3600)
    } else if s < WEEK {
        format!("{}d{h:02}h{m:02}m", s / DAY)
    } else {
        format!("{:02}w{}d{h:02}h", s / WEEK, (s % WEEK) / DAY)
    }
}

/// `show bgp ipv4|ipv6 unicast json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RouteTable {
    pub vrf_id: u32,
    pub vrf_name: String,
    pub table_version: u64,
    pub router_id: String,
    pub default_loc_prf: u32,
    #[serde(rename = "localAS")]
    pub local_as: u32,
    /// By prefix (`"198.19.0.1/32"`); paths in preference order, best first.
    pub routes: BTreeMap<String, Vec<RoutePath>>,
    pub total_routes: u64,
    pub total_paths: u64,
}

impl RouteTable {
    /// A table with FRR's constant fields filled in and totals derived.
    pub fn new(
        router_id: impl Into<String>,
        local_as: u32,
        routes: BTreeMap<String, Vec<RoutePath>>,
    ) -> RouteTable {
        RouteTable {
            vrf_id: 0,
            vrf_name: "default".into(),
            table_version: 0,
            router_id: router_id.into(),
            default_loc_prf: 100,
            local_as,
            total_routes: routes.len() as u64,
            total_paths: routes.values().map(|v| v.len() as u64).sum(),
            routes,
        }
    }
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// One path for a prefix.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RoutePath {
    pub valid: bool,
    /// FRR writes `bestpath`/`multipath` only when true.
    #[serde(default, skip_serializing_if = "is_false")]
    pub bestpath: bool,
    #[serde(default, skip_serializing_if = "is_false")]
    pub multipath: bool,
    /// On the best path: why it won, in FRR's words (`AS Path`, `Router
    /// ID`, ..., `First path received` when it had no rival).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selection_reason: Option<String>,
    /// Kept across the peer's graceful restart (RFC 4724), not yet
    /// re-announced; FRR writes it only when true.
    #[serde(default, skip_serializing_if = "is_false")]
    pub stale: bool,
    /// "external" (eBGP), "internal" (iBGP); local routes are "external" in FRR.
    pub path_from: String,
    /// Network address (`"198.19.0.1"`).
    pub prefix: String,
    pub prefix_len: u8,
    /// `"198.19.0.1/32"`.
    pub network: String,
    /// MULTI_EXIT_DISC, when present.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metric: Option<u32>,
    /// LOCAL_PREF, when present.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub loc_prf: Option<u32>,
    /// FRR: 32768 for locally originated routes, else 0.
    pub weight: u32,
    /// The peer's address, or "(unspec)" for a local route.
    pub peer_id: String,
    /// AS_PATH as text: "65501 65502", "{65003,65004}" for sets, "" if empty.
    pub path: String,
    pub origin: Origin,
    pub nexthops: Vec<Nexthop>,
    /// Ours: the route is in the kernel FIB.
    #[serde(default)]
    pub installed: bool,
    /// Ours: how the next hop resolved ("2.2.2.2 dev wg-s2 onlink").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub via: Option<String>,
    /// AS_PATH, communities and unknown attributes in the shapes of FRR's
    /// `show bgp ipv4 unicast PREFIX json`.
    #[serde(flatten)]
    pub attrs: PathAttrs,
}

/// `show bgp ipv4|ipv6 unicast PREFIX json`, FRR's shape: the prefix,
/// the peers it is advertised to, and its paths with their detail.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RouteDetail {
    pub prefix: String,
    /// Neighbors (by session address) we sent the prefix to.
    pub advertised_to: BTreeMap<String, AdvertisedTo>,
    /// Best first.
    pub paths: Vec<PathDetail>,
}

/// A neighbor of [`RouteDetail::advertised_to`].
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct AdvertisedTo {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
}

/// One path of [`RouteDetail`], FRR's field names.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PathDetail {
    pub origin: Origin,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metric: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub loc_prf: Option<u32>,
    /// FRR writes it only when not 0.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub weight: u32,
    pub valid: bool,
    /// Locally originated (FRR writes `sourced` and `local`).
    #[serde(default, skip_serializing_if = "is_false")]
    pub sourced: bool,
    #[serde(default, skip_serializing_if = "is_false")]
    pub local: bool,
    #[serde(default, skip_serializing_if = "is_false")]
    pub stale: bool,
    #[serde(default, skip_serializing_if = "is_false")]
    pub multipath: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bestpath: Option<BestPath>,
    /// Ours (as in the table): why the path is not the best.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_best_reason: Option<String>,
    pub nexthops: Vec<NexthopDetail>,
    pub peer: PathPeer,
    /// Ours: the route is in the kernel FIB, and how its next hop resolved.
    #[serde(default)]
    pub installed: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub via: Option<String>,
    /// `aspath` (`"Local"` for our own routes, as FRR), communities.
    #[serde(flatten)]
    pub attrs: PathAttrs,
}

fn is_zero(v: &u32) -> bool {
    *v == 0
}

/// FRR's `bestpath` object of a path in the detail view.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BestPath {
    pub overall: bool,
    /// FRR's words: `First path received`, `Local Pref`, `Local Route`,
    /// `AS Path`, `Origin`, `MED`, `Path Staleness`, `Router ID`, `Neighbor IP`.
    pub selection_reason: String,
}

/// A next hop in the detail view.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NexthopDetail {
    pub ip: IpAddr,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
    pub afi: Afi,
    /// "global" or "link-local" (FRR writes it for IPv6 only; we always do).
    pub scope: String,
    /// It resolves (FRR: reachable through the RIB).
    pub accessible: bool,
    pub used: bool,
}

/// Where a path came from: `peerId` the session address (`0.0.0.0` or
/// `::` for our own routes), the peer's BGP Identifier, `external`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PathPeer {
    pub peer_id: String,
    pub router_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
    /// FRR leaves it out for our own routes.
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
}

/// The attribute detail of a [`RoutePath`]; absent parts are not written.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PathAttrs {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aspath: Option<AsPathInfo>,
    /// COMMUNITIES (RFC 1997): `{"string": "65001:1 blackhole", "list": [...]}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub community: Option<CommunityList>,
    /// EXTENDED_COMMUNITIES (RFC 4360): `RT:65001:100 SoO:65001:7`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extended_community: Option<CommunityList>,
    /// LARGE_COMMUNITIES (RFC 8092): `65001:1:2`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub large_community: Option<CommunityList>,
    /// Ours: unknown optional transitive attributes, carried on with the
    /// Partial bit (RFC 4271 §5).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unknown_attributes: Vec<UnknownAttribute>,
}

/// FRR's `aspath` object.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AsPathInfo {
    /// `65502 {65010,65011}`.
    pub string: String,
    pub segments: Vec<AsSegmentInfo>,
    /// Length for best-path selection (an AS_SET counts 1).
    pub length: usize,
}

/// One AS_PATH segment: `{"type": "as-set", "list": [65010, 65011]}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AsSegmentInfo {
    #[serde(rename = "type")]
    pub kind: String,
    pub list: Vec<u32>,
}

/// A community attribute as FRR writes it: the values space-separated in
/// `string` and one by one in `list`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CommunityList {
    pub string: String,
    pub list: Vec<String>,
}

impl CommunityList {
    pub fn new(list: Vec<String>) -> Option<CommunityList> {
        (!list.is_empty()).then(|| CommunityList {
            string: list.join(" "),
            list,
        })
    }
}

/// An unknown attribute as stored: type code, flags (with the Partial bit
/// 0x20 set) and the value in hex.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UnknownAttribute {
    #[serde(rename = "type")]
    pub code: u8,
    pub flags: u8,
    pub partial: bool,
    pub value: String,
}

/// ORIGIN (RFC 4271 §5.1.1) in FRR's JSON spelling.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Origin {
    #[serde(rename = "IGP")]
    Igp,
    #[serde(rename = "EGP")]
    Egp,
    #[serde(rename = "incomplete")]
    Incomplete,
}

impl Origin {
    /// FRR's word in the detail text: IGP, EGP, incomplete.
    pub fn name(self) -> &'static str {
        match self {
            Origin::Igp => "IGP",
            Origin::Egp => "EGP",
            Origin::Incomplete => "incomplete",
        }
    }

    /// The code in `show bgp` text: i, e, ?.
    pub fn code(self) -> char {
        match self {
            Origin::Igp => 'i',
            Origin::Egp => 'e',
            Origin::Incomplete => '?',
        }
    }
}

/// One next hop of a path.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Nexthop {
    pub ip: IpAddr,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
    pub afi: Afi,
    /// "global" or "link-local".
    pub scope: String,
    pub used: bool,
}

impl Nexthop {
    /// A global-scope next hop marked used (the common case).
    pub fn global(ip: IpAddr) -> Nexthop {
        Nexthop {
            ip,
            hostname: None,
            afi: Afi::of(ip),
            scope: "global".into(),
            used: true,
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use serde_json::json;

    /// A neighbor summary for tests (also `render`'s).
    pub(crate) fn peer(state: SessionState) -> PeerSummary {
        PeerSummary {
            hostname: None,
            remote_as: 65501,
            local_as: 65500,
            version: 4,
            msg_rcvd: 10,
            msg_sent: 11,
            table_version: 0,
            outq: 0,
            inq: 0,
            peer_uptime: format_uptime(Some(Duration::from_secs(62))),
            peer_uptime_msec: 62_000,
            peer_uptime_established_epoch: Some(1_700_000_000),
            pfx_rcd: 1,
            pfx_snt: 2,
            state,
            peer_state: PeerState::Ok,
            connections_established: 1,
            connections_dropped: 0,
            desc: Some("S2".into()),
            id_type: Afi::Ipv4,
            name: "s2".into(),
            interface: Some("wg-s2".into()),
        }
    }

    #[test]
    fn requests_are_tagged_by_cmd() {
        assert_eq!(
            serde_json::to_value(Request::Summary).unwrap(),
            json!({"cmd": "summary"})
        );
        let r: Request = serde_json::from_str(r#"{"cmd":"routes","afi":"ipv6"}"#).unwrap();
        assert_eq!(
            r,
            Request::Routes {
                afi: Afi::Ipv6,
                prefix: None
            }
        );
        assert!(serde_json::from_str::<Request>(r#"{"cmd":"reboot"}"#).is_err());
        assert!(serde_json::from_str::<Request>(r#"{"cmd":"routes","afi":"ipx"}"#).is_err());
    }

    #[test]
    fn summary_uses_frr_field_names() {
        let mut peers = BTreeMap::new();
        peers.insert("2.2.2.2".to_string(), peer(SessionState::Established));
        let mut idle = peer(SessionState::IdleAdmin);
        idle.peer_state = PeerState::Admin;
        peers.insert("3.3.3.3".to_string(), idle);
        let s = BgpSummary {
            ipv4_unicast: Some(Summary::new("1.1.1.1", 65500, 3, peers)),
            ipv6_unicast: None,
        };
        let v = serde_json::to_value(Response::Summary(s.clone())).unwrap();
        let v4 = &v["summary"]["ipv4Unicast"];
        assert_eq!(v4["routerId"], "1.1.1.1");
        assert_eq!(v4["as"], 65500);
        assert_eq!(v4["peerCount"], 2);
        assert_eq!(v4["failedPeers"], 1);
        let p = &v4["peers"]["2.2.2.2"];
        for (k, want) in [
            ("state", json!("Established")),
            ("peerState", json!("OK")),
            ("remoteAs", json!(65501)),
            ("localAs", json!(65500)),
            ("pfxRcd", json!(1)),
            ("pfxSnt", json!(2)),
            ("peerUptime", json!("00:01:02")),
            ("peerUptimeMsec", json!(62000)),
            ("peerUptimeEstablishedEpoch", json!(1_700_000_000u64)),
            ("msgRcvd", json!(10)),
            ("connectionsEstablished", json!(1)),
            ("idType", json!("ipv4")),
            ("desc", json!("S2")),
            ("version", json!(4)),
        ] {
            assert_eq!(p[k], want, "{k}");
        }
        assert_eq!(v4["peers"]["3.3.3.3"]["state"], "Idle (Admin)");
        assert_eq!(v4["peers"]["3.3.3.3"]["peerState"], "Admin");
        assert!(v["summary"].get("ipv6Unicast").is_none());
        let back: Response = serde_json::from_value(v).unwrap();
        assert_eq!(back, Response::Summary(s));
    }

    #[test]
    fn routes_use_frr_field_names() {
        let path = RoutePath {
            valid: true,
            bestpath: true,
            multipath: false,
            selection_reason: None,
            stale: false,
            path_from: "external".into(),
            prefix: "198.19.0.1".into(),
            prefix_len: 32,
            network: "198.19.0.1/32".into(),
            metric: None,
            loc_prf: None,
            weight: 0,
            peer_id: "2.2.2.2".into(),
            path: "65501".into(),
            origin: Origin::Igp,
            nexthops: vec![Nexthop::global("2.2.2.2".parse().unwrap())],
            installed: true,
            via: Some("2.2.2.2 dev wg-s2 onlink".into()),
            attrs: PathAttrs {
                large_community: CommunityList::new(vec!["65001:1:2".into()]),
                ..Default::default()
            },
        };
        let mut routes = BTreeMap::new();
        routes.insert("198.19.0.1/32".to_string(), vec![path]);
        let t = RouteTable::new("1.1.1.1", 65500, routes);
        let v = serde_json::to_value(&t).unwrap();
        assert_eq!(v["localAS"], 65500);
        assert_eq!(v["vrfName"], "default");
        assert_eq!(v["totalPaths"], 1);
        let r = &v["routes"]["198.19.0.1/32"][0];
        assert_eq!(r["valid"], true);
        assert_eq!(r["bestpath"], true);
        assert!(r.get("multipath").is_none());
        assert!(r.get("metric").is_none());
        assert_eq!(r["pathFrom"], "external");
        assert_eq!(r["prefixLen"], 32);
        assert_eq!(r["peerId"], "2.2.2.2");
        assert_eq!(r["path"], "65501");
        assert_eq!(r["origin"], "IGP");
        assert_eq!(r["largeCommunity"]["string"], "65001:1:2");
        assert!(r.get("community").is_none());
        assert!(r.get("unknownAttributes").is_none());
        assert_eq!(
            r["nexthops"][0],
            json!({"ip": "2.2.2.2", "afi": "ipv4", "scope": "global", "used": true})
        );
        let back: RouteTable = serde_json::from_value(v).unwrap();
        assert_eq!(back, t);
    }

    #[test]
    fn uptime_formats_like_frr() {
        let f = |s| format_uptime(Some(Duration::from_secs(s)));
        assert_eq!(format_uptime(None), "never");
        assert_eq!(f(0), "00:00:00");
        assert_eq!(f(3_723), "01:02:03");
        assert_eq!(f(86_400 + 7_380), "1d02h03m");
        assert_eq!(f(2 * 604_800 + 3 * 86_400 + 4 * 3600), "02w3d04h");
    }

    #[test]
    fn error_response_shape() {
        let v = serde_json::to_value(Response::Error("boom".into())).unwrap();
        assert_eq!(v, json!({"error": "boom"}));
    }
}

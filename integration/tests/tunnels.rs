//! `tunnels` against real wireguard-go children in two network namespaces.
//!
//! ```text
//!   netns wgt-<pid>-<n>-tun<t>a                        netns wgt-<pid>-<n>-tun<t>b
//!   lo: 1.1.1.1/32, fd00::1/128                        lo: 2.2.2.2/32, fd00::2/128
//!   wgu<pid><t>a (no address, AllowedIPs 0/0 ::/0) ~~~ wgu<pid><t>b
//!     2.2.2.2/32, fd00::2/128 dev wgu<pid><t>a           1.1.1.1/32, fd00::1/128 dev wgu<pid><t>b
//!   vu<pid><t>a 10.200.0.1/30 ─────────── veth ─────── vu<pid><t>b 10.200.0.2/30
//!       udp :51820  <──────── WireGuard ─────────>  udp :51821
//! ```
//!
//! Each namespace gets a thread that `setns`es into it and drives a current_thread tokio
//! runtime for as long as the test runs, so the manager's supervisor tasks (and the
//! wireguard-go children they spawn) live in that namespace. Everything is torn down by
//! guards of the shared lab kit, also when an assertion fails. Must run as root: the tests fail, not skip, otherwise.

use std::fs;
use std::future::Future;
use std::net::IpAddr;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::sync::Arc;
use std::sync::mpsc as std_mpsc;
use std::thread;
use std::time::{Duration, Instant};

use integration::lab::wireguard_go_pids;
use integration::{Leftovers, Netns, TempDir, link, require_root, veth, wait_for};
use ipnet::IpNet;
use tokio::sync::{Mutex, oneshot};
use tunnels::{Backend, Key, TunnelError, TunnelManager, TunnelSpec, TunnelStatus, keys};

// ---------------------------------------------------------------------------------------------
// Harness: a tokio runtime thread inside each namespace of the shared lab kit
// (`integration::Netns`, `Leftovers`, `TempDir`).

/// How often the waits below poll.
const POLL: Duration = Duration::from_millis(100);

/// A thread inside a namespace driving a current_thread runtime until dropped.
struct NsThread {
    handle: tokio::runtime::Handle,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<thread::JoinHandle<()>>,
}

impl NsThread {
    fn start(ns: &Netns) -> Self {
        let path = format!("/run/netns/{}", ns.name());
        let (tx, rx) = std_mpsc::channel();
        let (stop, stopped) = oneshot::channel::<()>();
        let thread = thread::spawn(move || {
            let file = fs::File::open(&path).unwrap_or_else(|e| panic!("open {path}: {e}"));
            // SAFETY: setns on a valid namespace fd; it only moves this thread.
            let rc =
                unsafe { libc::setns(std::os::fd::AsRawFd::as_raw_fd(&file), libc::CLONE_NEWNET) };
            if rc != 0 {
                let e = std::io::Error::last_os_error();
                tx.send(Err(format!("setns {path}: {e}"))).unwrap();
                return;
            }
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            tx.send(Ok(rt.handle().clone())).unwrap();
            // Tasks spawned through the handle run here, in the namespace.
            let _ = rt.block_on(stopped);
        });
        let handle = rx
            .recv()
            .expect("namespace thread died")
            .unwrap_or_else(|e| panic!("{e}"));
        NsThread {
            handle,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    /// Runs `fut` on the namespace's runtime and waits for its result.
    fn run<T: Send + 'static>(&self, fut: impl Future<Output = T> + Send + 'static) -> T {
        let (tx, rx) = std_mpsc::channel();
        self.handle.spawn(async move {
            let _ = tx.send(fut.await);
        });
        rx.recv_timeout(Duration::from_secs(60))
            .expect("namespace task timed out or panicked")
    }
}

impl Drop for NsThread {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// One side of the lab: namespace, its runtime thread, its manager.
struct Node {
    // Field order is drop order: runtime (and with it the manager) before the namespace.
    rt: NsThread,
    mgr: Arc<Mutex<TunnelManager>>,
    ns: Netns,
    wg: String,
}

impl Node {
    fn new(ns: Netns, wg: String, backend: Backend) -> Self {
        let rt = NsThread::start(&ns);
        let mgr = rt
            .run(async move { TunnelManager::new(backend).await })
            .unwrap_or_else(|e| panic!("TunnelManager::new in {}: {e}", ns.name()));
        Node {
            rt,
            mgr: Arc::new(Mutex::new(mgr)),
            ns,
            wg,
        }
    }

    fn with<T, F, Fut>(&self, f: F) -> T
    where
        T: Send + 'static,
        F: FnOnce(Arc<Mutex<TunnelManager>>) -> Fut,
        Fut: Future<Output = T> + Send + 'static,
    {
        self.rt.run(f(self.mgr.clone()))
    }

    fn up(&self, spec: &TunnelSpec) {
        let spec = spec.clone();
        self.with(|m| async move { m.lock().await.up(&spec).await })
            .unwrap_or_else(|e| panic!("up in {}: {e}", self.ns.name()));
    }

    fn status(&self) -> Result<TunnelStatus, TunnelError> {
        let wg = self.wg.clone();
        self.with(|m| async move { m.lock().await.status(&wg).await })
    }

    fn ping(&self, v6: bool, from: &str, to: &str) -> Output {
        let mut args = vec!["ping"];
        if v6 {
            args.push("-6");
        }
        args.extend_from_slice(&["-c1", "-W2", "-I", from, to]);
        self.ns.try_exec(&args)
    }
}

/// Is `pid` gone (reaped), not merely dead?
fn reaped(pid: u32) -> bool {
    !Path::new(&format!("/proc/{pid}")).exists()
}

fn ping_ok(node: &Node, v6: bool, from: &str, to: &str) {
    wait_for(
        Duration::from_secs(15),
        POLL,
        &format!("ping {from} -> {to} in {}", node.ns.name()),
        || {
            let out = node.ping(v6, from, to);
            if out.status.success() {
                Ok(())
            } else {
                Err(format!(
                    "{}{}",
                    String::from_utf8_lossy(&out.stdout),
                    String::from_utf8_lossy(&out.stderr)
                ))
            }
        },
    );
}

fn names(tag: char) -> (String, String, String, String, String, String) {
    let pid = std::process::id();
    (
        format!("tun{tag}a"),
        format!("tun{tag}b"),
        format!("wgu{pid}{tag}a"),
        format!("wgu{pid}{tag}b"),
        format!("vu{pid}{tag}a"),
        format!("vu{pid}{tag}b"),
    )
}

/// One namespace and a WireGuard interface name for it, with what the
/// interface could leave behind cleaned up on drop.
fn lone_namespace(tag: char) -> (Netns, String, Leftovers) {
    let (ns_a, _, wg_a, ..) = names(tag);
    let leftovers = Leftovers(vec![wg_a.clone()]);
    (Netns::new(&ns_a), wg_a, leftovers)
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn net(s: &str) -> IpNet {
    s.parse().unwrap()
}

// ---------------------------------------------------------------------------------------------

#[test]
fn auto_resolves_to_userspace_without_kernel_module() {
    require_root();
    let (ns_name, ..) = names('x');
    let ns = Netns::new(&ns_name);
    let node = Node::new(ns, String::new(), Backend::Auto);
    let backend = node.with(|m| async move { m.lock().await.backend() });
    assert_eq!(backend, Backend::Userspace);
    // The probe link is gone again.
    let links = node.ns.stdout(&["ip", "-o", "link", "show"]);
    assert!(!links.contains("wgpr"), "probe link left behind: {links}");
    // Asking for the kernel explicitly fails up front, naming the probe.
    let err = node
        .rt
        .run(async { TunnelManager::new(Backend::Kernel).await.err() })
        .expect("kernel backend should be unavailable on this machine");
    assert!(
        matches!(err, TunnelError::KernelUnavailable { .. }),
        "{err}"
    );
    assert!(err.to_string().contains("wgpr"), "{err}");
}

#[test]
fn up_refuses_an_interface_that_is_not_wireguard() {
    require_root();
    let (ns_a, ns_b, _, _, veth_a, veth_b) = names('n');
    let a = Netns::new(&ns_a);
    let b = Netns::new(&ns_b);
    veth(&a, &veth_a, None, &b, &veth_b, None);
    let _leftovers = Leftovers(vec![veth_a.clone()]);
    let node = Node::new(a, veth_a.clone(), Backend::Auto);
    let peer = Key::generate_private().get_public();
    let spec = TunnelSpec::new("x", &veth_a, Key::generate_private(), peer);
    let err = node
        .with(|m| async move { m.lock().await.up(&spec).await })
        .unwrap_err();
    assert!(matches!(err, TunnelError::NotWireguard { .. }), "{err}");
    assert!(
        err.to_string().contains(&veth_a) && err.to_string().contains("veth"),
        "{err}"
    );
    assert!(wireguard_go_pids(&veth_a).is_empty());
    assert!(
        node.with(|m| async move { m.lock().await.interfaces() })
            .is_empty()
    );
    drop(b);
}

#[test]
fn two_namespaces_ping_through_supervised_wireguard_go() {
    require_root();
    let (ns_a, ns_b, wg_a, wg_b, veth_a, veth_b) = names('p');
    let _leftovers = Leftovers(vec![wg_a.clone(), wg_b.clone()]);
    let keydir = TempDir::new("p");

    let a = Netns::new(&ns_a);
    let b = Netns::new(&ns_b);
    link(
        (&a, &veth_a, "10.200.0.1/30"),
        (&b, &veth_b, "10.200.0.2/30"),
    );

    let key_a = keys::load_or_generate(&keydir.join("a.key")).unwrap();
    let key_b = keys::load_or_generate(&keydir.join("b.key")).unwrap();
    let node_a = Node::new(a, wg_a.clone(), Backend::Auto);
    let node_b = Node::new(b, wg_b.clone(), Backend::Auto);
    assert_eq!(
        node_a.with(|m| async move { m.lock().await.backend() }),
        Backend::Userspace
    );

    for (node, addrs) in [
        (&node_a, ["1.1.1.1/32", "fd00::1/128"]),
        (&node_b, ["2.2.2.2/32", "fd00::2/128"]),
    ] {
        let addrs: Vec<IpNet> = addrs.iter().map(|s| net(s)).collect();
        // Twice: the second call finds everything in place and must not fail.
        for _ in 0..2 {
            let addrs = addrs.clone();
            node.with(|m| async move { m.lock().await.ensure_loopbacks(&addrs).await })
                .unwrap();
        }
        let lo = node.ns.stdout(&["ip", "-o", "addr", "show", "dev", "lo"]);
        for a in &addrs {
            assert!(lo.contains(&a.to_string()), "{a} missing on lo: {lo}");
        }
    }

    let mut spec_a = TunnelSpec {
        endpoint: Some("10.200.0.2:51821".parse().unwrap()),
        listen_port: Some(51820),
        persistent_keepalive: Some(5),
        mtu: Some(1400),
        peer_addresses: vec![ip("2.2.2.2"), ip("fd00::2")],
        ..TunnelSpec::new("b", &wg_a, key_a.clone(), key_b.get_public())
    };
    let spec_b = TunnelSpec {
        endpoint: Some("10.200.0.1:51820".parse().unwrap()),
        listen_port: Some(51821),
        persistent_keepalive: Some(5),
        fwmark: Some(0x51),
        peer_addresses: vec![ip("1.1.1.1"), ip("fd00::1")],
        ..TunnelSpec::new("a", &wg_b, key_b.clone(), key_a.get_public())
    };
    let t = Instant::now();
    node_a.up(&spec_a);
    eprintln!(
        "measured: first up() (spawn wireguard-go, configure) took {:?}",
        t.elapsed()
    );
    node_b.up(&spec_b);
    assert_eq!(
        node_a.with(|m| async move { m.lock().await.interfaces() }),
        vec![wg_a.clone()]
    );

    // --- The configuration as the kernel and `wg` see it.
    for (node, peer_key, routes) in [
        (&node_a, key_b.get_public(), ["2.2.2.2", "fd00::2"]),
        (&node_b, key_a.get_public(), ["1.1.1.1", "fd00::1"]),
    ] {
        let wg = node.wg.as_str();
        let addrs = node.ns.stdout(&["ip", "-o", "addr", "show", "dev", wg]);
        assert!(!addrs.contains("inet"), "{wg} has an address: {addrs}");
        // `wg` reads the UAPI socket itself: an independent check of AllowedIPs.
        let allowed = node.ns.stdout(&["wg", "show", wg, "allowed-ips"]);
        let mut fields: Vec<&str> = allowed.split_whitespace().collect();
        fields.sort();
        let mut want = vec![peer_key.to_base64(), "0.0.0.0/0".into(), "::/0".into()];
        want.sort();
        assert_eq!(fields, want, "{wg} allowed-ips");
        let v4 = node.ns.stdout(&["ip", "route", "show", "dev", wg]);
        assert!(
            v4.contains(&format!("{} proto static scope link", routes[0])),
            "{v4}"
        );
        let v6 = node.ns.stdout(&["ip", "-6", "route", "show", "dev", wg]);
        assert!(v6.contains(&format!("{} proto static", routes[1])), "{v6}");
        // Read back through wireguard-control.
        let st = node.status().unwrap();
        let peer = st.peer.as_ref().expect("one peer");
        assert_eq!(peer.public_key, peer_key);
        assert_eq!(peer.allowed_ips, vec![net("0.0.0.0/0"), net("::/0")]);
        assert_eq!(st.extra_peers, 0);
        assert!(st.oper_up, "{wg} not up: {st:?}");
        assert_eq!(st.backend, Backend::Userspace);
        assert!(st.child_pid.is_some());
    }
    let st_a = node_a.status().unwrap();
    assert_eq!(st_a.mtu, Some(1400));
    assert_eq!(st_a.listen_port, Some(51820));
    assert_eq!(st_a.fwmark, None);
    assert_eq!(st_a.public_key, Some(key_a.get_public()));
    assert_eq!(node_b.status().unwrap().fwmark, Some(0x51));

    // --- Traffic, loopback to loopback, both families.
    let t = Instant::now();
    ping_ok(&node_a, false, "1.1.1.1", "2.2.2.2");
    eprintln!(
        "measured: first ping (with handshake) succeeded after {:?}",
        t.elapsed()
    );
    ping_ok(&node_a, true, "fd00::1", "fd00::2");
    ping_ok(&node_b, false, "2.2.2.2", "1.1.1.1");
    let st_a = node_a.status().unwrap();
    let peer = st_a.peer.as_ref().unwrap();
    assert!(peer.last_handshake.is_some(), "no handshake: {st_a:?}");
    assert!(
        peer.handshake_age.unwrap() < Duration::from_secs(30),
        "{peer:?}"
    );
    assert!(peer.rx_bytes > 0 && peer.tx_bytes > 0, "{peer:?}");
    assert_eq!(peer.endpoint, spec_a.endpoint);
    assert_eq!(peer.persistent_keepalive, Some(5));
    let pid_a = st_a.child_pid.unwrap();

    // --- In-place update: drift (a stranger peer, a foreign route is ours to keep) is
    // reconciled, keepalive changes, one host route goes, the child stays the same.
    let stranger = Key::generate_private().get_public().to_base64();
    node_a.ns.stdout(&[
        "wg",
        "set",
        &wg_a,
        "peer",
        &stranger,
        "allowed-ips",
        "10.9.9.9/32",
    ]);
    assert_eq!(node_a.status().unwrap().extra_peers, 1);
    spec_a.persistent_keepalive = Some(7);
    spec_a.peer_addresses = vec![ip("2.2.2.2")];
    node_a.up(&spec_a);
    let st = node_a.status().unwrap();
    assert_eq!(
        st.child_pid,
        Some(pid_a),
        "up() in place must not restart wireguard-go"
    );
    assert_eq!(st.restarts, 0);
    assert_eq!(st.extra_peers, 0, "stranger peer survived: {st:?}");
    let peer = st.peer.as_ref().unwrap();
    assert_eq!(peer.public_key, key_b.get_public());
    assert_eq!(peer.persistent_keepalive, Some(7));
    assert!(
        peer.last_handshake.is_some(),
        "session dropped by in-place update"
    );
    assert_eq!(wireguard_go_pids(&wg_a), vec![pid_a]);
    let v6 = node_a
        .ns
        .stdout(&["ip", "-6", "route", "show", "dev", &wg_a]);
    assert!(!v6.contains("fd00::2"), "route not removed: {v6}");
    ping_ok(&node_a, false, "1.1.1.1", "2.2.2.2");
    spec_a.peer_addresses = vec![ip("2.2.2.2"), ip("fd00::2")];
    node_a.up(&spec_a);
    ping_ok(&node_a, true, "fd00::1", "fd00::2");

    // --- The supervisor restarts a killed wireguard-go and re-applies the spec.
    // SAFETY: kill(2) on the child the manager reported for our interface.
    assert_eq!(
        unsafe { libc::kill(pid_a as libc::pid_t, libc::SIGKILL) },
        0
    );
    let t = Instant::now();
    let mut new_pid = 0;
    wait_for(
        Duration::from_secs(15),
        POLL,
        "wireguard-go restart",
        || {
            let st = node_a.status().map_err(|e| e.to_string())?;
            match st.child_pid {
                Some(p) if p != pid_a && st.restarts == 1 => {
                    new_pid = p;
                    Ok(())
                }
                _ => Err(format!("{st:?}")),
            }
        },
    );
    eprintln!(
        "measured: SIGKILL to restarted and reconfigured took {:?}",
        t.elapsed()
    );
    assert!(reaped(pid_a), "killed child {pid_a} was not reaped");
    let st = node_a.status().unwrap();
    assert_eq!(st.mtu, Some(1400));
    assert_eq!(st.peer.as_ref().unwrap().persistent_keepalive, Some(7));
    assert_eq!(
        st.peer.as_ref().unwrap().allowed_ips,
        vec![net("0.0.0.0/0"), net("::/0")]
    );
    let v4 = node_a.ns.stdout(&["ip", "route", "show", "dev", &wg_a]);
    assert!(v4.contains("2.2.2.2 proto static scope link"), "{v4}");
    ping_ok(&node_a, false, "1.1.1.1", "2.2.2.2");
    eprintln!(
        "measured: SIGKILL to ping working again took {:?}",
        t.elapsed()
    );
    ping_ok(&node_a, true, "fd00::1", "fd00::2");
    assert_eq!(wireguard_go_pids(&wg_a), vec![new_pid]);

    // --- down() removes routes, interface, socket and process.
    let wg = wg_a.clone();
    node_a
        .with(|m| async move { m.lock().await.down(&wg).await })
        .unwrap();
    assert!(!node_a.ns.has_link(&wg_a), "{wg_a} still exists");
    assert!(
        !TunnelManager::socket_path(&wg_a).exists(),
        "socket left behind"
    );
    assert!(
        wireguard_go_pids(&wg_a).is_empty(),
        "wireguard-go still running"
    );
    wait_for(Duration::from_secs(5), POLL, "child reaped", || {
        reaped(new_pid)
            .then_some(())
            .ok_or_else(|| format!("/proc/{new_pid} exists"))
    });
    assert!(
        node_a
            .with(|m| async move { m.lock().await.interfaces() })
            .is_empty()
    );
    let still = node_a.ns.stdout(&["ip", "route", "show"]);
    assert!(!still.contains("2.2.2.2"), "{still}");

    // --- shutdown() tears down the rest.
    let pid_b = node_b.status().unwrap().child_pid.unwrap();
    node_b
        .with(|m| async move { m.lock().await.shutdown().await })
        .unwrap();
    assert!(!node_b.ns.has_link(&wg_b));
    assert!(!TunnelManager::socket_path(&wg_b).exists());
    assert!(wireguard_go_pids(&wg_b).is_empty());
    wait_for(Duration::from_secs(5), POLL, "child b reaped", || {
        reaped(pid_b)
            .then_some(())
            .ok_or_else(|| format!("/proc/{pid_b} exists"))
    });
}

/// A spec for a tunnel whose peer need not exist (configuration-only tests).
fn lone_spec(interface: &str) -> TunnelSpec {
    let peer = Key::generate_private().get_public();
    TunnelSpec {
        endpoint: Some("10.200.9.9:51820".parse().unwrap()),
        peer_addresses: vec![ip("9.9.9.9")],
        ..TunnelSpec::new("lone", interface, Key::generate_private(), peer)
    }
}

#[test]
fn adopts_a_running_wireguard_go_and_stops_it_on_down() {
    require_root();
    let (a, wg_a, _leftovers) = lone_namespace('d');
    // A wireguard-go that was there before the manager (say, from a crashed daemon).
    let mut foreign = Command::new("ip")
        .args(["netns", "exec", a.name(), "wireguard-go", &wg_a])
        .env("WG_PROCESS_FOREGROUND", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn wireguard-go");
    let socket = TunnelManager::socket_path(&wg_a);
    wait_for(Duration::from_secs(5), POLL, "foreign socket", || {
        std::os::unix::net::UnixStream::connect(&socket)
            .map(|_| ())
            .map_err(|e| e.to_string())
    });
    let node = Node::new(a, wg_a.clone(), Backend::Userspace);
    let spec = lone_spec(&wg_a);
    node.up(&spec);
    let st = node.status().unwrap();
    assert_eq!(st.child_pid, None, "adopted instance is not our child");
    assert_eq!(st.public_key, Some(spec.private_key.get_public()));
    let peer = st.peer.unwrap();
    assert_eq!(peer.allowed_ips, vec![net("0.0.0.0/0"), net("::/0")]);
    assert_eq!(wireguard_go_pids(&wg_a), vec![foreign.id()]);
    let v4 = node.ns.stdout(&["ip", "route", "show", "dev", &wg_a]);
    assert!(v4.contains("9.9.9.9 proto static scope link"), "{v4}");

    let wg = wg_a.clone();
    node.with(|m| async move { m.lock().await.down(&wg).await })
        .unwrap();
    assert!(!socket.exists(), "socket left behind");
    assert!(!node.ns.has_link(&wg_a));
    let mut status = None;
    wait_for(
        Duration::from_secs(5),
        POLL,
        "foreign wireguard-go to exit",
        || {
            status = foreign.try_wait().map_err(|e| e.to_string())?;
            status.map(|_| ()).ok_or_else(|| "still running".into())
        },
    );
}

#[test]
fn dropping_the_manager_stops_its_children() {
    require_root();
    let (a, wg_a, _leftovers) = lone_namespace('r');
    let rt = NsThread::start(&a);
    let spec = lone_spec(&wg_a);
    let started = Instant::now();
    let pid = rt.run(async move {
        let mut m = TunnelManager::new(Backend::Userspace).await.unwrap();
        m.up(&spec).await.unwrap();
        let pid = m.status(&spec.interface).await.unwrap().child_pid.unwrap();
        drop(m);
        pid
    });
    eprintln!(
        "measured: new + up (spawn wireguard-go, configure) took {:?}",
        started.elapsed()
    );
    wait_for(Duration::from_secs(5), POLL, "child to stop", || {
        if reaped(pid) && !TunnelManager::socket_path(&wg_a).exists() {
            Ok(())
        } else {
            Err(format!("pid {pid} or socket still there"))
        }
    });
    assert!(!a.has_link(&wg_a));
    drop(rt);
}

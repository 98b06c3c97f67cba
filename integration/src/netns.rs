//! Network namespaces owned by a test: creation, commands inside them, child
//! processes, veth links, sysctls, and the guarantee that all of it is gone when
//! the guard drops (also while a failing test unwinds).

use std::ffi::OsStr;
use std::fs::File;
use std::os::fd::AsRawFd;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::names::unique_name;

/// Prefix of every namespace this harness creates; [`sweep_stale`] relies on it.
pub const NETNS_PREFIX: &str = "wgt";

/// A network namespace that exists for as long as this guard does.
///
/// Drop kills every process started through it, then every process the kernel
/// still reports inside it (`ip netns pids`), then deletes it.
pub struct Netns {
    name: String,
    /// Pids of children spawned through [`Netns::spawn`]; killed on drop even
    /// if their [`ChildGuard`] was leaked.
    children: Arc<Mutex<Vec<u32>>>,
}

impl Netns {
    /// Creates a namespace named `wgt-<pid>-<n>-<tag>` with `lo` up.
    ///
    /// Panics if the namespace cannot be created (see [`crate::require_root`]).
    pub fn new(tag: &str) -> Netns {
        sweep_stale();
        let name = format!("{}-{}", unique_name(NETNS_PREFIX), tag);
        run_host(&["ip", "netns", "add", &name]);
        let ns = Netns {
            name,
            children: Arc::new(Mutex::new(Vec::new())),
        };
        ns.exec(&["ip", "link", "set", "lo", "up"]);
        ns
    }

    /// The namespace's name, as `ip netns` knows it.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Runs `ip netns exec NAME args...` and panics (with stdout and stderr) if
    /// it does not exit 0.
    pub fn exec<S: AsRef<OsStr>>(&self, args: &[S]) -> Output {
        let out = self.try_exec(args);
        if !out.status.success() {
            panic!(
                "in netns {}: `{}` failed ({})\nstdout:\n{}\nstderr:\n{}",
                self.name,
                show_args(args),
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        out
    }

    /// Like [`Netns::exec`] but returns whatever happened.
    pub fn try_exec<S: AsRef<OsStr>>(&self, args: &[S]) -> Output {
        self.command(args)
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("cannot run `ip netns exec {}`: {e}", self.name))
    }

    /// Runs `args` in the namespace and returns its stdout as text; panics on failure.
    pub fn stdout<S: AsRef<OsStr>>(&self, args: &[S]) -> String {
        String::from_utf8_lossy(&self.exec(args).stdout).into_owned()
    }

    /// Runs a shell command line in the namespace (`sh -c`); panics on failure.
    pub fn sh(&self, script: &str) -> String {
        self.stdout(&["sh", "-c", script])
    }

    /// A `Command` that runs `args` inside the namespace, for callers that need
    /// to set environment or redirections before spawning it with [`Netns::spawn`].
    pub fn command<S: AsRef<OsStr>>(&self, args: &[S]) -> Command {
        assert!(!args.is_empty(), "empty command for netns {}", self.name);
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &self.name]);
        cmd.args(args);
        cmd
    }

    /// Starts `cmd` (from [`Netns::command`]) as a child that is killed when the
    /// returned guard or this namespace drops. `ip netns exec` execs in place, so
    /// the child's pid is the program's own.
    pub fn spawn(&self, mut cmd: Command) -> ChildGuard {
        let desc = format!("{:?}", cmd);
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot spawn {desc}: {e}"));
        self.children.lock().unwrap().push(child.id());
        ChildGuard {
            child: Some(child),
            desc,
            registry: Some(self.children.clone()),
        }
    }

    /// Runs `f` on a thread that has entered this namespace with setns(2), so
    /// Rust code (sockets, a tokio runtime built inside `f`) works inside it.
    /// Threads created by `f` inherit the namespace. A panic in `f` is re-raised.
    pub fn in_ns<F, R>(&self, f: F) -> R
    where
        F: FnOnce() -> R + Send,
        R: Send,
    {
        let path = format!("/run/netns/{}", self.name);
        let file = File::open(&path).unwrap_or_else(|e| panic!("cannot open {path}: {e}"));
        std::thread::scope(|scope| {
            let handle = scope.spawn(move || {
                // SAFETY: setns only changes this (new, unshared) thread's namespace.
                let rc = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
                if rc != 0 {
                    panic!("setns({path}): {}", std::io::Error::last_os_error());
                }
                f()
            });
            match handle.join() {
                Ok(r) => r,
                Err(payload) => std::panic::resume_unwind(payload),
            }
        })
    }

    /// Sets a sysctl inside the namespace, e.g. `("net.ipv4.ip_forward", "1")`.
    /// Writes /proc/sys from a thread inside the namespace, whose net tree is the
    /// namespace's own.
    pub fn sysctl(&self, key: &str, value: &str) {
        let path = format!("/proc/sys/{}", key.replace('.', "/"));
        self.in_ns(|| {
            std::fs::write(&path, value)
                .unwrap_or_else(|e| panic!("in netns {}: write {path}: {e}", self.name))
        });
    }

    /// Puts `cidr` (`"10.1.0.2/24"`) on interface `dev`; IPv6 without DAD,
    /// so that it is usable at once.
    pub fn add_addr(&self, dev: &str, cidr: &str) {
        let mut args = vec!["ip", "addr", "add", cidr, "dev", dev];
        if cidr.contains(':') {
            args.push("nodad");
        }
        self.exec(&args);
    }

    /// Makes `cidr` (`"fe80::b/64"`) the only IPv6 address of `dev`, as on a
    /// dn42 tunnel or a link with a fixed link-local: no address generated
    /// by the kernel, so sessions always come from this one.
    pub fn set_link_local(&self, dev: &str, cidr: &str) {
        self.exec(&["ip", "link", "set", dev, "addrgenmode", "none"]);
        self.exec(&["ip", "-6", "addr", "flush", "dev", dev]);
        self.add_addr(dev, cidr);
    }

    /// Adds an address (`"1.1.1.1/32"`, `"fd00::1/128"`) to `lo`.
    pub fn add_lo_addr(&self, cidr: &str) {
        self.exec(&["ip", "addr", "add", cidr, "dev", "lo"]);
    }

    /// Adds a route given as `ip route add` arguments, e.g. `"2.2.2.2/32 dev wg1"`.
    pub fn route_add(&self, spec: &str) {
        let mut args = vec!["ip", "route", "add"];
        args.extend(spec.split_whitespace());
        self.exec(&args);
    }

    /// `ip -4 route show ARGS` and `ip -6 route show ARGS` inside the namespace,
    /// concatenated; e.g. `routes("proto bgp")`.
    pub fn routes(&self, filter: &str) -> String {
        let mut out = String::new();
        for fam in ["-4", "-6"] {
            let mut args = vec!["ip", fam, "route", "show"];
            args.extend(filter.split_whitespace());
            out.push_str(&self.stdout(&args));
        }
        out
    }

    /// The kernel route for exactly `prefix` (`ip route show exact PREFIX` in
    /// the main table), e.g. `"198.19.0.1 nhid 20 via 2.2.2.2 dev wg-s2 proto
    /// bgp metric 20 onlink"`; `None` if there is none. Several routes for the
    /// prefix (other metrics or protocols) come back as several lines, so a
    /// duplicate shows. A bare address means its host route (/32 or /128).
    pub fn route_to(&self, prefix: &str) -> Option<String> {
        let fam = if prefix.contains(':') { "-6" } else { "-4" };
        let out = self.stdout(&["ip", fam, "route", "show", "exact", prefix]);
        let line = out.trim();
        (!line.is_empty()).then(|| line.to_string())
    }

    /// [`Netns::route_to`], or, as the error, the whole table: for [`crate::wait_for`].
    pub fn route(&self, prefix: &str) -> Result<String, String> {
        self.route_to(prefix)
            .ok_or_else(|| format!("no route for {prefix}; table:\n{}", self.routes("")))
    }

    /// Ok if there is no route for exactly `prefix`; the route as the error.
    pub fn no_route(&self, prefix: &str) -> Result<(), String> {
        match self.route_to(prefix) {
            Some(line) => Err(format!("still present: {line}")),
            None => Ok(()),
        }
    }

    /// Waits (up to `timeout`) until the route for exactly `prefix` contains
    /// `want` (`""`: any route) and returns it; panics with what was there.
    pub fn wait_route(&self, prefix: &str, want: &str, timeout: Duration) -> String {
        crate::wait_for(
            timeout,
            Duration::from_millis(50),
            &format!("`{prefix} ... {want}` in netns {}", self.name),
            || {
                self.route(prefix).and_then(|l| {
                    if l.contains(want) {
                        Ok(l)
                    } else {
                        Err(format!("got `{l}`"))
                    }
                })
            },
        )
    }

    /// True if an interface called `name` exists in the namespace.
    pub fn has_link(&self, name: &str) -> bool {
        self.try_exec(&["ip", "link", "show", "dev", name])
            .status
            .success()
    }

    /// `ip route show proto bgp` (both families), one trimmed line per route.
    pub fn bgp_routes(&self) -> Vec<String> {
        self.routes("proto bgp")
            .lines()
            .map(|l| l.trim().to_string())
            .filter(|l| !l.is_empty())
            .collect()
    }

    /// True if `ping -c 1 -W 1 addr` (ping -6 for IPv6) succeeds from this namespace.
    pub fn ping(&self, addr: &str) -> bool {
        let fam = if addr.contains(':') { "-6" } else { "-4" };
        self.try_exec(&["ping", fam, "-n", "-q", "-c", "1", "-W", "1", addr])
            .status
            .success()
    }

    /// Waits up to `timeout` for [`Netns::ping_from`] `src` to `dst` to get
    /// through; panics with the last failure.
    pub fn wait_ping_from(&self, src: &str, dst: &str, timeout: Duration) {
        let what = format!("ping -I {src} {dst} from netns {}", self.name);
        crate::wait_for(timeout, crate::POLL, &what, || self.ping_from(src, dst));
    }

    /// `ping -c 1 -W 2 -I SRC DST` (ping -6 for IPv6) from this namespace; the error
    /// shows ping's output, every routing table and the rules.
    pub fn ping_from(&self, src: &str, dst: &str) -> Result<(), String> {
        let fam = if dst.contains(':') { "-6" } else { "-4" };
        let out = self.try_exec(&["ping", fam, "-n", "-c", "1", "-W", "2", "-I", src, dst]);
        let text = String::from_utf8_lossy(&out.stdout);
        if out.status.success() && text.contains("1 received") {
            Ok(())
        } else {
            Err(format!(
                "ping -I {src} {dst} from netns {} failed:\n{text}{}\nroutes:\n{}\nrules:\n{}",
                self.name,
                String::from_utf8_lossy(&out.stderr),
                self.routes("table all"),
                self.stdout(&["ip", fam, "rule"])
            ))
        }
    }

    /// Waits until `addr` answers a ping (up to `timeout`), panicking otherwise.
    pub fn wait_ping(&self, addr: &str, timeout: Duration) {
        crate::wait_until(
            timeout,
            crate::POLL,
            &format!("ping {addr} from netns {}", self.name),
            || self.ping(addr),
        );
    }

    /// Pids the kernel reports inside the namespace.
    pub fn pids(&self) -> Vec<u32> {
        ns_pids(&self.name)
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let tracked: Vec<u32> = std::mem::take(&mut *self.children.lock().unwrap());
        for pid in tracked {
            terminate_pid(pid);
        }
        destroy_netns(&self.name);
    }
}

/// A child process killed (SIGTERM, then SIGKILL after 2 s) and reaped on drop.
pub struct ChildGuard {
    child: Option<Child>,
    desc: String,
    /// The owning namespace's list of live children; the pid leaves it once
    /// reaped, so the namespace never signals a pid that may have been reused.
    registry: Option<Arc<Mutex<Vec<u32>>>>,
}

impl ChildGuard {
    /// The child's pid.
    pub fn id(&self) -> u32 {
        self.child.as_ref().map(|c| c.id()).unwrap_or(0)
    }

    /// Returns the exit status if the child has already exited.
    pub fn try_wait(&mut self) -> Option<ExitStatus> {
        let child = self.child.as_mut()?;
        let status = child.try_wait().ok().flatten();
        if status.is_some() {
            let pid = child.id();
            self.forget(pid);
        }
        status
    }

    /// Sends SIGTERM and waits up to `grace` for it to exit, then SIGKILLs.
    /// Returns the exit status.
    pub fn stop(&mut self, grace: Duration) -> ExitStatus {
        let mut child = self.child.take().expect("child already stopped");
        let status = stop_child(&mut child, grace);
        self.forget(child.id());
        status
    }

    fn forget(&self, pid: u32) {
        if let Some(reg) = &self.registry {
            reg.lock().unwrap().retain(|p| *p != pid);
        }
    }

    /// Sends a signal (e.g. `libc::SIGHUP`) to the child.
    pub fn signal(&self, sig: i32) {
        if let Some(c) = &self.child {
            // SAFETY: kill(2) with a pid we own.
            unsafe { libc::kill(c.id() as i32, sig) };
        }
    }

    /// What was spawned, for messages.
    pub fn describe(&self) -> &str {
        &self.desc
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            stop_child(&mut c, Duration::from_secs(2));
            self.forget(c.id());
        }
    }
}

fn stop_child(child: &mut Child, grace: Duration) -> ExitStatus {
    if let Ok(Some(st)) = child.try_wait() {
        return st;
    }
    // SAFETY: kill(2) on our own child, which has not been reaped yet.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let deadline = Instant::now() + grace;
    while Instant::now() < deadline {
        if let Ok(Some(st)) = child.try_wait() {
            return st;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    child.wait().expect("wait for killed child")
}

/// SIGTERM, short grace, SIGKILL: for pids that may not be our children.
fn terminate_pid(pid: u32) {
    let pid = pid as i32;
    // SAFETY: signal 0 only checks existence; the pids come from our own spawns
    // or from `ip netns pids` of a namespace we own.
    if unsafe { libc::kill(pid, 0) } != 0 {
        return;
    }
    unsafe { libc::kill(pid, libc::SIGTERM) };
    for _ in 0..50 {
        if unsafe { libc::kill(pid, 0) } != 0 || is_zombie(pid) {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    unsafe { libc::kill(pid, libc::SIGKILL) };
}

/// True if `pid` is a zombie (exited, not yet reaped).
pub fn is_zombie(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| {
            s.rsplit_once(')')
                .map(|(_, rest)| rest.trim_start().starts_with('Z'))
                .unwrap_or(false)
        })
        .unwrap_or(true)
}

fn ns_pids(name: &str) -> Vec<u32> {
    Command::new("ip")
        .args(["netns", "pids", name])
        .stderr(Stdio::null())
        .output()
        .map(|o| {
            String::from_utf8_lossy(&o.stdout)
                .split_whitespace()
                .filter_map(|p| p.parse().ok())
                .collect()
        })
        .unwrap_or_default()
}

/// Kills what runs in namespace `name` and deletes it. Never panics: it runs in Drop.
fn destroy_netns(name: &str) {
    for _ in 0..3 {
        let pids = ns_pids(name);
        if pids.is_empty() {
            break;
        }
        for pid in pids {
            terminate_pid(pid);
        }
    }
    let ok = Command::new("ip")
        .args(["netns", "del", name])
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    if !ok && Path::new(&format!("/run/netns/{name}")).exists() {
        eprintln!("warning: could not delete netns {name}");
    }
}

/// Deletes namespaces left by earlier harness processes that died without
/// unwinding (SIGKILL, abort): `wgt-<pid>-...` whose pid is no longer alive.
/// Runs once per process.
pub fn sweep_stale() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let Ok(entries) = std::fs::read_dir("/run/netns") else {
            return;
        };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let Some(pid) = crate::names::owner_pid(&name, NETNS_PREFIX) else {
                continue;
            };
            if !Path::new(&format!("/proc/{pid}")).exists() {
                destroy_netns(&name);
            }
        }
    });
}

/// Runs a command in the host namespace, panicking with its output on failure.
pub(crate) fn run_host<S: AsRef<OsStr>>(args: &[S]) -> Output {
    let out = Command::new(args[0].as_ref())
        .args(&args[1..])
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run `{}`: {e}", show_args(args)));
    if !out.status.success() {
        panic!(
            "`{}` failed ({})\nstdout:\n{}\nstderr:\n{}",
            show_args(args),
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    out
}

pub(crate) fn show_args<S: AsRef<OsStr>>(args: &[S]) -> String {
    args.iter()
        .map(|a| a.as_ref().to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}

/// Joins two namespaces by a veth whose ends, each `(namespace, interface,
/// address)`, are addressed and up: the link every lab is built of. See
/// [`veth`] for an end without an address.
pub fn link(a: (&Netns, &str, &str), b: (&Netns, &str, &str)) {
    veth(a.0, a.1, Some(a.2), b.0, b.1, Some(b.2));
}

/// Joins `a` and `b` with a veth pair (`a_if` in `a`, `b_if` in `b`), puts the
/// addresses on (`"10.1.0.2/24"`; `None` for none; IPv6 without DAD so it is
/// usable at once) and brings both ends up. The pair is created directly inside
/// the namespaces, so the names only need to be unique within each.
pub fn veth(
    a: &Netns,
    a_if: &str,
    a_addr: Option<&str>,
    b: &Netns,
    b_if: &str,
    b_addr: Option<&str>,
) {
    run_host(&[
        "ip", "-n", &a.name, "link", "add", a_if, "type", "veth", "peer", "name", b_if, "netns",
        &b.name,
    ]);
    for (ns, ifname, addr) in [(a, a_if, a_addr), (b, b_if, b_addr)] {
        if let Some(addr) = addr {
            ns.add_addr(ifname, addr);
        }
        ns.exec(&["ip", "link", "set", ifname, "up"]);
    }
}

//! Userspace backend: one supervised `wireguard-go` child per tunnel.
//!
//! ```text
//!  TunnelManager ──Command::Apply/Stop──▶ Supervisor task ──owns──▶ wireguard-go <if>
//!        ▲                                  │  (child exits)            │ stdout/stderr
//!        └──────── reply (oneshot) ─────────┘  restart with backoff,    ▼
//!                                              re-apply desired spec   OutputLog (last lines)
//! ```
//!
//! We spawn `wireguard-go` ourselves in the foreground (`WG_PROCESS_FOREGROUND=1`) so it stays
//! our child: we can wait for it, restart it, and reap it. wireguard-control is then only ever
//! pointed at an existing UAPI socket and never spawns (and orphans) a daemonized copy.
//! All changes to one tunnel go through its task, so a restart never races an update.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::process::{Child, Command as ProcessCommand};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio::time::{Instant, sleep, sleep_until, timeout};

use crate::netlink::Netlink;
use crate::{Backend, TunnelError, TunnelSpec};

/// wireguard-go's `socketDirectory`.
pub(crate) const SOCKET_DIR: &str = "/var/run/wireguard";
/// How long wireguard-go gets to create its TUN and UAPI socket.
const START_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a SIGTERMed wireguard-go gets to clean up before SIGKILL.
const STOP_TIMEOUT: Duration = Duration::from_secs(3);
const FIRST_RETRY: Duration = Duration::from_millis(100);
const MAX_RETRY: Duration = Duration::from_secs(30);
/// A child that ran this long before dying resets the backoff.
const STABLE_AFTER: Duration = Duration::from_secs(10);
/// Poll interval for an adopted instance we cannot `wait()` for.
const ADOPTED_POLL: Duration = Duration::from_secs(1);
const OUTPUT_LINES: usize = 40;

pub(crate) fn socket_path(interface: &str) -> PathBuf {
    Path::new(SOCKET_DIR).join(format!("{interface}.sock"))
}

/// Does something answer on the UAPI socket? (A leftover file from a killed wireguard-go
/// refuses connections.)
async fn socket_alive(path: &Path) -> bool {
    tokio::net::UnixStream::connect(path).await.is_ok()
}

/// What the supervisor shares with [`crate::TunnelManager::status`].
#[derive(Default)]
pub(crate) struct Shared {
    /// PID of the current child; 0 when none.
    pid: AtomicU32,
    restarts: AtomicU32,
}

impl Shared {
    pub fn pid(&self) -> Option<u32> {
        Some(self.pid.load(Ordering::Relaxed)).filter(|p| *p != 0)
    }
    pub fn restarts(&self) -> u32 {
        self.restarts.load(Ordering::Relaxed)
    }
}

/// The last lines a child wrote, for error messages.
#[derive(Clone, Default)]
struct OutputLog(Arc<Mutex<VecDeque<String>>>);

impl OutputLog {
    fn push(&self, line: String) {
        let mut q = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if q.len() == OUTPUT_LINES {
            q.pop_front();
        }
        q.push_back(line);
    }
    fn text(&self) -> String {
        let q = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if q.is_empty() {
            "(nothing)".into()
        } else {
            q.iter().cloned().collect::<Vec<_>>().join(" | ")
        }
    }
    fn drain_into(&self, interface: String, stream: impl AsyncRead + Unpin + Send + 'static) {
        let log = self.clone();
        tokio::spawn(async move {
            let mut lines = BufReader::new(stream).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                tracing::debug!(interface = %interface, "wireguard-go: {line}");
                log.push(line);
            }
        });
    }
}

/// A running wireguard-go serving one interface.
// One per tunnel, so the size difference does not matter.
#[allow(clippy::large_enum_variant)]
enum Instance {
    /// Our own child.
    Child {
        child: Child,
        pid: u32,
        started: Instant,
    },
    /// One that was already serving the interface when we came; not our child, so it is
    /// watched through its socket.
    Adopted,
}

/// Context every supervisor needs.
#[derive(Clone)]
pub(crate) struct Ctx {
    pub binary: PathBuf,
    pub netlink: Netlink,
    /// Children may outlive us ([`Supervisor::detach`]): they get their own
    /// process group and write to a log file beside their socket instead of
    /// a pipe (a Go program dies of SIGPIPE writing to a closed stdout).
    pub detachable: bool,
}

/// Where a detachable child's output goes.
pub(crate) fn log_path(interface: &str) -> PathBuf {
    Path::new(SOCKET_DIR).join(format!("{interface}.log"))
}

/// The last lines of a detachable child's log, for error messages.
fn log_tail(interface: &str) -> String {
    let text = std::fs::read_to_string(log_path(interface)).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    let tail = lines[lines.len().saturating_sub(OUTPUT_LINES)..].join(" | ");
    if tail.is_empty() {
        "(nothing)".into()
    } else {
        tail
    }
}

impl Ctx {
    /// Starts (or adopts) a wireguard-go for `interface` and waits until its socket answers.
    async fn start(&self, interface: &str) -> Result<Instance, TunnelError> {
        let socket = socket_path(interface);
        let link = self.netlink.link(interface).await?;
        if socket_alive(&socket).await {
            // Names are machine-wide for UAPI sockets but per-namespace for links.
            return match link {
                Some(_) => {
                    tracing::info!(interface, "adopting running wireguard-go");
                    Ok(Instance::Adopted)
                }
                None => Err(TunnelError::ForeignSocket {
                    interface: interface.into(),
                    socket,
                }),
            };
        }
        if let Some(link) = link {
            return Err(TunnelError::NotWireguard {
                interface: interface.into(),
                kind: link.kind.unwrap_or_else(|| "unknown".into()),
            });
        }
        remove_stale_socket(interface, &socket)?;

        let output = OutputLog::default();
        let mut command = ProcessCommand::new(&self.binary);
        command
            .arg(interface)
            .env("WG_PROCESS_FOREGROUND", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        if self.detachable {
            let log = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(log_path(interface))
                .and_then(|f| Ok((f.try_clone()?, f)))
                .map_err(|source| TunnelError::Spawn {
                    interface: interface.into(),
                    binary: self.binary.clone(),
                    source,
                })?;
            command.stdout(log.0).stderr(log.1).process_group(0);
        }
        let mut child = command.spawn().map_err(|source| TunnelError::Spawn {
            interface: interface.into(),
            binary: self.binary.clone(),
            source,
        })?;
        let pid = child.id().unwrap_or(0);
        if let Some(s) = child.stdout.take() {
            output.drain_into(interface.to_string(), s);
        }
        if let Some(s) = child.stderr.take() {
            output.drain_into(interface.to_string(), s);
        }
        let started = Instant::now();
        loop {
            if socket_alive(&socket).await {
                tracing::info!(interface, pid, elapsed = ?started.elapsed(), "wireguard-go started");
                return Ok(Instance::Child {
                    child,
                    pid,
                    started,
                });
            }
            if let Ok(Some(status)) = child.try_wait() {
                // Give the output readers a moment to catch the last words.
                sleep(Duration::from_millis(20)).await;
                return Err(TunnelError::ChildExited {
                    interface: interface.into(),
                    status: status.to_string(),
                    output: if self.detachable {
                        log_tail(interface)
                    } else {
                        output.text()
                    },
                });
            }
            if started.elapsed() > START_TIMEOUT {
                let _ = child.kill().await;
                return Err(TunnelError::SocketTimeout {
                    interface: interface.into(),
                    socket,
                    waited: START_TIMEOUT,
                    output: output.text(),
                });
            }
            sleep(Duration::from_millis(10)).await;
        }
    }

    /// Undoes a start whose configuration failed: our own child is stopped, an adopted
    /// instance (somebody else's process) is left running.
    async fn abandon(&self, interface: &str, instance: Instance) {
        if let Instance::Child { .. } = instance
            && let Err(e) = self.stop(interface, instance).await
        {
            tracing::warn!(interface, error = %e, "stopping wireguard-go after failed configuration");
        }
    }

    /// Stops an instance and leaves neither process, socket nor TUN behind.
    async fn stop(&self, interface: &str, instance: Instance) -> Result<(), TunnelError> {
        let socket = socket_path(interface);
        match instance {
            Instance::Child { mut child, pid, .. } => {
                // SIGTERM lets wireguard-go remove its socket and TUN itself.
                // SAFETY: kill(2) on our own child's pid; it cannot have been reaped
                // (and the pid reused) because only `child.wait()` reaps it.
                unsafe { libc::kill(pid as libc::pid_t, libc::SIGTERM) };
                match timeout(STOP_TIMEOUT, child.wait()).await {
                    Ok(Ok(_)) => {}
                    Ok(Err(source)) => {
                        return Err(TunnelError::Stop {
                            interface: interface.into(),
                            pid,
                            source,
                        });
                    }
                    Err(_) => {
                        tracing::warn!(interface, pid, "wireguard-go ignored SIGTERM, killing");
                        child.kill().await.map_err(|source| TunnelError::Stop {
                            interface: interface.into(),
                            pid,
                            source,
                        })?;
                    }
                }
            }
            Instance::Adopted => {
                // Unlinking the socket makes wireguard-go shut down (it watches the file).
                remove_file_if_exists(interface, &socket)?;
            }
        }
        remove_stale_socket(interface, &socket)
    }
}

fn remove_file_if_exists(interface: &str, path: &Path) -> Result<(), TunnelError> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(source) => Err(TunnelError::RemoveSocket {
            interface: interface.into(),
            path: path.to_path_buf(),
            source,
        }),
    }
}

/// Removes the socket file if nothing answers on it (left by a killed wireguard-go).
fn remove_stale_socket(interface: &str, path: &Path) -> Result<(), TunnelError> {
    if std::os::unix::net::UnixStream::connect(path).is_ok() {
        return Ok(());
    }
    remove_file_if_exists(interface, path)
}

enum Command {
    Apply(Box<TunnelSpec>, oneshot::Sender<Result<(), TunnelError>>),
    /// The TUN was deleted: replace the child now.
    Recreate(Box<TunnelSpec>, oneshot::Sender<Result<(), TunnelError>>),
    Stop(oneshot::Sender<Result<(), TunnelError>>),
    /// Leave the child running and end.
    Detach(oneshot::Sender<Result<(), TunnelError>>),
}

/// Handle to one tunnel's supervisor task.
pub(crate) struct Supervisor {
    interface: String,
    tx: mpsc::Sender<Command>,
    task: JoinHandle<()>,
    pub shared: Arc<Shared>,
}

impl Supervisor {
    /// Starts wireguard-go for `spec`, configures it, and hands it to a supervisor task.
    /// Errors here are the caller's (nothing is left running).
    pub async fn start(ctx: Ctx, spec: TunnelSpec) -> Result<Self, TunnelError> {
        let shared = Arc::new(Shared::default());
        let instance = ctx.start(&spec.interface).await?;
        if let Instance::Child { pid, .. } = &instance {
            shared.pid.store(*pid, Ordering::Relaxed);
        }
        if let Err(e) = crate::manager::configure(&ctx.netlink, &spec, Backend::Userspace).await {
            ctx.abandon(&spec.interface, instance).await;
            return Err(e);
        }
        let (tx, rx) = mpsc::channel(8);
        let task = tokio::spawn(run(ctx, spec.clone(), instance, rx, shared.clone()));
        Ok(Supervisor {
            interface: spec.interface,
            tx,
            task,
            shared,
        })
    }

    async fn call(
        &self,
        make: impl FnOnce(oneshot::Sender<Result<(), TunnelError>>) -> Command,
    ) -> Result<(), TunnelError> {
        let gone = || TunnelError::SupervisorGone {
            interface: self.interface.clone(),
        };
        let (reply, rx) = oneshot::channel();
        self.tx.send(make(reply)).await.map_err(|_| gone())?;
        rx.await.map_err(|_| gone())?
    }

    /// Re-applies a (changed) spec in place.
    pub async fn apply(&self, spec: TunnelSpec) -> Result<(), TunnelError> {
        self.call(|reply| Command::Apply(Box::new(spec), reply))
            .await
    }

    /// Replaces the child with a fresh one configured from `spec` (its TUN was deleted; the
    /// old process would exit by itself only when it next touches the device).
    pub async fn recreate(&self, spec: TunnelSpec) -> Result<(), TunnelError> {
        self.call(|reply| Command::Recreate(Box::new(spec), reply))
            .await
    }

    /// Ends the task and leaves the child running with its interface (the
    /// daemon exits with `keep_on_exit`; its next start adopts it).
    pub async fn detach(self) -> Result<(), TunnelError> {
        let result = self.call(Command::Detach).await;
        let _ = self.task.await;
        result
    }

    /// Stops the child, reaps it and ends the task.
    pub async fn stop(self) -> Result<(), TunnelError> {
        let result = self.call(Command::Stop).await;
        let _ = self.task.await;
        result
    }
}

enum Event {
    Exited(String),
    Retry,
    Command(Option<Command>),
}

/// The supervisor task: owns the child, restarts it when it dies, serializes updates.
async fn run(
    ctx: Ctx,
    mut desired: TunnelSpec,
    instance: Instance,
    mut rx: mpsc::Receiver<Command>,
    shared: Arc<Shared>,
) {
    let interface = desired.interface.clone();
    let mut instance = Some(instance);
    let mut retry_at: Option<Instant> = None;
    let mut backoff = FIRST_RETRY;
    loop {
        let event = {
            let exited = async {
                match instance.as_mut() {
                    Some(Instance::Child { child, .. }) => match child.wait().await {
                        Ok(status) => status.to_string(),
                        Err(e) => format!("wait failed: {e}"),
                    },
                    Some(Instance::Adopted) => loop {
                        sleep(ADOPTED_POLL).await;
                        if !socket_alive(&socket_path(&interface)).await {
                            break "UAPI socket stopped answering".to_string();
                        }
                    },
                    None => std::future::pending().await,
                }
            };
            let retry = async {
                match retry_at {
                    Some(t) => sleep_until(t).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                status = exited => Event::Exited(status),
                () = retry => Event::Retry,
                cmd = rx.recv() => Event::Command(cmd),
            }
        };
        match event {
            Event::Exited(status) => {
                let ran = match instance.take() {
                    Some(Instance::Child { started, .. }) => started.elapsed(),
                    _ => Duration::ZERO,
                };
                shared.pid.store(0, Ordering::Relaxed);
                if ran >= STABLE_AFTER {
                    backoff = FIRST_RETRY;
                }
                tracing::warn!(interface = %interface, %status, ?ran, retry_in = ?backoff,
                    "wireguard-go exited unexpectedly; restarting");
                retry_at = Some(Instant::now() + backoff);
                backoff = (backoff * 2).min(MAX_RETRY);
            }
            Event::Retry => match restart(&ctx, &desired, &shared).await {
                Ok(i) => {
                    instance = Some(i);
                    retry_at = None;
                }
                Err(e) => {
                    tracing::warn!(interface = %interface, error = %e, retry_in = ?backoff,
                        "restarting wireguard-go failed");
                    retry_at = Some(Instant::now() + backoff);
                    backoff = (backoff * 2).min(MAX_RETRY);
                }
            },
            Event::Command(Some(Command::Apply(spec, reply))) => {
                desired = *spec;
                let result = match instance {
                    Some(_) => {
                        crate::manager::configure(&ctx.netlink, &desired, Backend::Userspace).await
                    }
                    // Down between restarts: try now rather than at the next retry.
                    None => restart(&ctx, &desired, &shared).await.map(|i| {
                        instance = Some(i);
                        retry_at = None;
                    }),
                };
                let _ = reply.send(result);
            }
            Event::Command(Some(Command::Recreate(spec, reply))) => {
                desired = *spec;
                if let Some(Instance::Child { mut child, pid, .. }) = instance.take() {
                    // Without its TUN it has nothing left to clean up: no SIGTERM grace.
                    if let Err(e) = child.kill().await {
                        tracing::warn!(interface = %interface, pid, error = %e,
                            "killing wireguard-go that lost its interface");
                    }
                }
                shared.pid.store(0, Ordering::Relaxed);
                let result = match remove_stale_socket(&interface, &socket_path(&interface)) {
                    Ok(()) => restart(&ctx, &desired, &shared).await.map(|i| {
                        instance = Some(i);
                        retry_at = None;
                        backoff = FIRST_RETRY;
                    }),
                    Err(e) => Err(e),
                };
                if result.is_err() {
                    // Leave it to the restart loop.
                    retry_at = Some(Instant::now() + backoff);
                }
                let _ = reply.send(result);
            }
            Event::Command(Some(Command::Stop(reply))) => {
                let result = match instance.take() {
                    Some(i) => ctx.stop(&interface, i).await,
                    None => remove_stale_socket(&interface, &socket_path(&interface)),
                };
                shared.pid.store(0, Ordering::Relaxed);
                let _ = reply.send(result);
                return;
            }
            Event::Command(Some(Command::Detach(reply))) => {
                if let Some(Instance::Child { child, pid, .. }) = instance.take() {
                    // Dropping the handle would kill it (kill_on_drop).
                    std::mem::forget(child);
                    tracing::info!(interface = %interface, pid, "wireguard-go left running");
                }
                let _ = reply.send(Ok(()));
                return;
            }
            // The manager was dropped without down(): do not leave the child behind.
            Event::Command(None) => {
                if let Some(i) = instance.take()
                    && let Err(e) = ctx.stop(&interface, i).await
                {
                    tracing::warn!(interface = %interface, error = %e, "stopping wireguard-go");
                }
                return;
            }
        }
    }
}

/// Starts a fresh instance and applies the whole desired spec to it (the TUN, and with it
/// MTU and routes, died with the old process).
async fn restart(ctx: &Ctx, spec: &TunnelSpec, shared: &Shared) -> Result<Instance, TunnelError> {
    let instance = ctx.start(&spec.interface).await?;
    if let Err(e) = crate::manager::configure(&ctx.netlink, spec, Backend::Userspace).await {
        ctx.abandon(&spec.interface, instance).await;
        return Err(e);
    }
    if let Instance::Child { pid, .. } = &instance {
        shared.pid.store(*pid, Ordering::Relaxed);
    }
    shared.restarts.fetch_add(1, Ordering::Relaxed);
    tracing::info!(interface = %spec.interface, pid = ?shared.pid(), "wireguard-go restarted and reconfigured");
    Ok(instance)
}

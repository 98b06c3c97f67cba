//! The control socket: a Unix stream socket carrying JSON lines.
//!
//! The daemon side ([`serve`]) owns the socket file (creates its directory,
//! replaces a stale file, restricts it to root with mode 0600, or 0660 with
//! a configured group) and runs one task per connection; every request line
//! gets exactly one response line, including malformed or oversized ones.
//! Who may send what is decided per request from the peer's credentials
//! (`SO_PEERCRED`), see [`Access`]. The CLI side ([`request`]) turns
//! "nothing is listening" into a message that says what to do.

use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use thiserror::Error;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tokio::task::JoinHandle;

use crate::api::{Request, Response};

/// Largest request line accepted.
pub const MAX_REQUEST: usize = 64 * 1024;
/// Largest response line the client reads (a full table is a few MiB).
pub const MAX_RESPONSE: usize = 256 * 1024 * 1024;
/// How long the client waits for the daemon.
pub const CLIENT_TIMEOUT: Duration = Duration::from_secs(30);

/// What the daemon does with a request.
pub type Handler = Arc<dyn Fn(Request) -> BoxFuture<'static, Response> + Send + Sync>;

/// Who may use the control socket. Root may do everything; members of
/// `admin_group` too; members of `group` may run the read-only requests
/// (`show`). The socket file is owned by root and by `group` (else
/// `admin_group`) with mode 0660, or 0600 when neither is set, so nobody
/// else can even connect.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Access {
    pub group: Option<u32>,
    pub admin_group: Option<u32>,
}

/// What a connected process may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    Admin,
    ReadOnly,
    None,
}

impl Access {
    fn file_group(&self) -> Option<u32> {
        self.group.or(self.admin_group)
    }

    /// The role of a process with user `uid` and groups `gids`.
    fn role(&self, uid: u32, gids: &[u32]) -> Role {
        let member = |g: Option<u32>| g.is_some_and(|g| gids.contains(&g));
        if uid == 0 || member(self.admin_group) {
            Role::Admin
        } else if member(self.group) {
            Role::ReadOnly
        } else {
            Role::None
        }
    }

    /// The role of the process at the other end of `stream`.
    fn role_of(&self, stream: &UnixStream) -> Role {
        let Ok(cred) = stream.peer_cred() else {
            return Role::None;
        };
        let mut gids = vec![cred.gid()];
        if let Some(pid) = cred.pid() {
            gids.extend(supplementary_groups(pid));
        }
        self.role(cred.uid(), &gids)
    }
}

/// The supplementary groups of process `pid` (`Groups:` in its
/// `/proc/PID/status`); empty if it cannot be read.
fn supplementary_groups(pid: i32) -> Vec<u32> {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|status| {
            status.lines().find_map(|l| {
                l.strip_prefix("Groups:").map(|g| {
                    g.split_whitespace()
                        .filter_map(|n| n.parse().ok())
                        .collect()
                })
            })
        })
        .unwrap_or_default()
}

/// The id of group `name` (through NSS, as `getent group` resolves it).
pub fn group_id(name: &str) -> Option<u32> {
    let cname = std::ffi::CString::new(name).ok()?;
    let mut buf = vec![0 as libc::c_char; 4096];
    loop {
        // SAFETY: getgrnam_r writes only into `grp` and `buf` (whose length
        // it is given) and sets `result` to null or to `&grp`.
        let mut grp: libc::group = unsafe { std::mem::zeroed() };
        let mut result: *mut libc::group = std::ptr::null_mut();
        let rc = unsafe {
            libc::getgrnam_r(
                cname.as_ptr(),
                &mut grp,
                buf.as_mut_ptr(),
                buf.len(),
                &mut result,
            )
        };
        if rc == libc::ERANGE && buf.len() < 1 << 20 {
            buf.resize(buf.len() * 2, 0);
            continue;
        }
        return (rc == 0 && !result.is_null()).then_some(grp.gr_gid);
    }
}

/// Binds `path` and serves requests with `handler` until the returned task
/// is aborted. Fails if another process is already answering on `path`.
pub async fn serve(path: &Path, access: Access, handler: Handler) -> io::Result<JoinHandle<()>> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        tokio::fs::create_dir_all(dir).await?;
    }
    if tokio::fs::symlink_metadata(path).await.is_ok() {
        // A live daemon answers; a stale file from a crash does not.
        if UnixStream::connect(path).await.is_ok() {
            return Err(io::Error::new(
                io::ErrorKind::AddrInUse,
                format!("{} is in use: is another wgbgpd running?", path.display()),
            ));
        }
        tokio::fs::remove_file(path).await?;
    }
    let listener = UnixListener::bind(path)?;
    let mode = match access.file_group() {
        Some(gid) => {
            std::os::unix::fs::chown(path, Some(0), Some(gid))?;
            0o660
        }
        None => 0o600,
    };
    tokio::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).await?;
    Ok(tokio::spawn(accept_loop(listener, access, handler)))
}

async fn accept_loop(listener: UnixListener, access: Access, handler: Handler) {
    loop {
        match listener.accept().await {
            Ok((stream, _)) => match access.role_of(&stream) {
                Role::None => {
                    // The file mode keeps them out unless it was changed.
                    tracing::warn!(
                        "control socket: refused a process outside the configured groups"
                    );
                }
                role => {
                    tokio::spawn(connection(stream, role, handler.clone()));
                }
            },
            Err(e) => {
                // EMFILE and friends: back off instead of spinning.
                tracing::warn!(error = %e, "control socket accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

/// Reads a line of at most `max` bytes (without the newline). `Ok(None)` at
/// a clean end of stream; `Err(InvalidData)` when the line is longer.
async fn read_line<R: AsyncRead + Unpin>(
    reader: &mut BufReader<R>,
    max: usize,
) -> io::Result<Option<Vec<u8>>> {
    let mut buf = Vec::new();
    let n = (&mut *reader)
        .take(max as u64 + 1)
        .read_until(b'\n', &mut buf)
        .await?;
    if n == 0 {
        return Ok(None);
    }
    if buf.last() == Some(&b'\n') {
        buf.pop();
    } else if buf.len() > max {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("line longer than {max} bytes"),
        ));
    }
    Ok(Some(buf))
}

async fn connection(stream: UnixStream, role: Role, handler: Handler) {
    let (rd, mut wr) = stream.into_split();
    let mut reader = BufReader::new(rd);
    loop {
        let (response, last) = match read_line(&mut reader, MAX_REQUEST).await {
            Ok(None) => return,
            Ok(Some(line)) if line.iter().all(u8::is_ascii_whitespace) => continue,
            Ok(Some(line)) => (handle(&line, role, &handler).await, false),
            Err(e) if e.kind() == io::ErrorKind::InvalidData => {
                // The rest of the line is unread, so the stream cannot be
                // resynchronised: answer and close.
                (Response::Error(format!("request too large: {e}")), true)
            }
            Err(_) => return,
        };
        let mut out = serde_json::to_vec(&response).unwrap_or_else(|e| {
            serde_json::to_vec(&Response::Error(format!("cannot encode response: {e}")))
                .unwrap_or_default()
        });
        out.push(b'\n');
        if wr.write_all(&out).await.is_err() || last {
            return;
        }
    }
}

async fn handle(line: &[u8], role: Role, handler: &Handler) -> Response {
    let request: Request = match serde_json::from_slice(line) {
        Ok(r) => r,
        Err(e) => return Response::Error(format!("bad request: {e}")),
    };
    if request.changes_state() && role != Role::Admin {
        return Response::Error(format!(
            "permission denied: `{}` needs root or the control_admin_group",
            request.command()
        ));
    }
    // A panicking handler must not take the connection task (or the
    // daemon) with it; run it as its own task and report the panic.
    match tokio::spawn((handler)(request)).await {
        Ok(response) => response,
        Err(e) => Response::Error(format!("internal error: {e}")),
    }
}

/// Why the CLI could not get an answer.
#[derive(Debug, Error)]
pub enum ClientError {
    #[error("cannot connect to {}: is wgbgpd running?", path.display())]
    NotRunning {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("cannot connect to {}: permission denied (run as root, or as a member of the control_group)", path.display())]
    PermissionDenied { path: PathBuf },
    #[error("cannot connect to {}: {source}", path.display())]
    Connect {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("control socket {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("control socket {}: no answer within {}s", path.display(), CLIENT_TIMEOUT.as_secs())]
    Timeout { path: PathBuf },
    #[error("control socket {}: the daemon closed the connection without answering", path.display())]
    NoResponse { path: PathBuf },
    #[error("control socket {}: bad response: {source}", path.display())]
    BadResponse {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
}

/// Sends one request to the daemon at `path` and returns its answer.
pub async fn request(path: &Path, request: &Request) -> Result<Response, ClientError> {
    match tokio::time::timeout(CLIENT_TIMEOUT, exchange(path, request)).await {
        Ok(r) => r,
        Err(_) => Err(ClientError::Timeout {
            path: path.to_path_buf(),
        }),
    }
}

async fn exchange(path: &Path, request: &Request) -> Result<Response, ClientError> {
    let p = || path.to_path_buf();
    let stream = UnixStream::connect(path)
        .await
        .map_err(|source| match source.kind() {
            io::ErrorKind::NotFound | io::ErrorKind::ConnectionRefused => {
                ClientError::NotRunning { path: p(), source }
            }
            io::ErrorKind::PermissionDenied => ClientError::PermissionDenied { path: p() },
            _ => ClientError::Connect { path: p(), source },
        })?;
    let io_err = |source| ClientError::Io { path: p(), source };
    let (rd, mut wr) = stream.into_split();
    let mut line = serde_json::to_vec(request).expect("requests always encode");
    line.push(b'\n');
    wr.write_all(&line).await.map_err(io_err)?;
    let mut reader = BufReader::new(rd);
    let answer = read_line(&mut reader, MAX_RESPONSE)
        .await
        .map_err(io_err)?
        .ok_or_else(|| ClientError::NoResponse { path: p() })?;
    serde_json::from_slice(&answer).map_err(|source| ClientError::BadResponse { path: p(), source })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{Afi, BgpSummary};
    use futures::FutureExt;

    fn echo_handler() -> Handler {
        Arc::new(|req: Request| {
            async move {
                match req {
                    Request::Summary => Response::Summary(BgpSummary::default()),
                    Request::Routes { afi: Afi::Ipv6, .. } => panic!("handler bug"),
                    Request::Routes { afi, .. } => Response::Error(format!("no {afi}")),
                    other => Response::Error(format!("unexpected {other:?}")),
                }
            }
            .boxed()
        })
    }

    async fn raw_exchange(path: &Path, bytes: &[u8]) -> String {
        let mut s = UnixStream::connect(path).await.unwrap();
        s.write_all(bytes).await.unwrap();
        let mut reader = BufReader::new(s);
        let mut line = String::new();
        reader.read_line(&mut line).await.unwrap();
        line
    }

    #[tokio::test]
    async fn serves_requests_and_reports_errors() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/dir/wgbgp.sock");
        // A stale socket file (nobody listening) is replaced.
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        drop(std::os::unix::net::UnixListener::bind(&path).unwrap());
        let task = serve(&path, Access::default(), echo_handler())
            .await
            .unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);

        let r = request(&path, &Request::Summary).await.unwrap();
        assert_eq!(r, Response::Summary(BgpSummary::default()));
        let routes = |afi| Request::Routes { afi, prefix: None };
        let r = request(&path, &routes(Afi::Ipv4)).await.unwrap();
        assert_eq!(r, Response::Error("no ipv4".into()));
        // A panicking handler answers with an error; the server lives on.
        match request(&path, &routes(Afi::Ipv6)).await.unwrap() {
            Response::Error(e) => assert!(e.contains("internal error"), "{e}"),
            r => panic!("{r:?}"),
        }

        let line = raw_exchange(&path, b"{\"cmd\":\"frobnicate\"}\n").await;
        assert!(
            line.starts_with("{\"error\":\"bad request: unknown variant `frobnicate`"),
            "{line}"
        );
        let line = raw_exchange(&path, b"not json\n").await;
        assert!(line.contains("bad request"), "{line}");
        let big = vec![b'x'; MAX_REQUEST + 10];
        let line = raw_exchange(&path, &big).await;
        assert!(line.contains("request too large"), "{line}");

        // Two requests on one connection get two answers.
        let mut s = UnixStream::connect(&path).await.unwrap();
        s.write_all(b"{\"cmd\":\"summary\"}\n{\"cmd\":\"summary\"}\n")
            .await
            .unwrap();
        s.shutdown().await.unwrap();
        let mut all = String::new();
        s.read_to_string(&mut all).await.unwrap();
        assert_eq!(all.lines().count(), 2, "{all}");

        // A second daemon on the same path is refused.
        let e = serve(&path, Access::default(), echo_handler())
            .await
            .unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::AddrInUse);
        task.abort();
    }

    #[test]
    fn roles_follow_uid_and_groups() {
        let access = Access {
            group: Some(100),
            admin_group: Some(4),
        };
        assert_eq!(access.role(0, &[0]), Role::Admin);
        assert_eq!(access.role(1000, &[1000, 4]), Role::Admin);
        assert_eq!(access.role(1000, &[100]), Role::ReadOnly);
        assert_eq!(access.role(1000, &[1000, 27]), Role::None);
        assert_eq!(Access::default().role(1000, &[100, 4]), Role::None);
        assert_eq!(access.file_group(), Some(100));
        let admins_only = Access {
            group: None,
            admin_group: Some(4),
        };
        assert_eq!(admins_only.file_group(), Some(4));
        assert_eq!(admins_only.role(1000, &[100]), Role::None);
    }

    #[test]
    fn groups_resolve_through_nss() {
        assert_eq!(group_id("root"), Some(0));
        assert_eq!(group_id("no-such-group-wgbgp"), None);
        assert_eq!(group_id("bad\0name"), None);
        // This test process's own groups are readable.
        let me = supplementary_groups(std::process::id() as i32);
        let status = std::fs::read_to_string("/proc/self/status").unwrap();
        let line = status.lines().find(|l| l.starts_with("Groups:")).unwrap();
        assert_eq!(me.len(), line.split_whitespace().count() - 1);
    }

    #[tokio::test]
    async fn group_socket_is_0660_and_changing_requests_need_admin() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("wgbgp.sock");
        let access = Access {
            group: group_id("root"),
            admin_group: None,
        };
        let task = serve(&path, access, echo_handler()).await.unwrap();
        let meta = std::fs::metadata(&path).unwrap();
        assert_eq!(meta.permissions().mode() & 0o777, 0o660);
        use std::os::unix::fs::MetadataExt;
        assert_eq!((meta.uid(), meta.gid()), (0, 0));
        task.abort();
        // The check itself, for a read-only member.
        let handler = echo_handler();
        let r = handle(b"{\"cmd\":\"reload\"}", Role::ReadOnly, &handler).await;
        assert_eq!(
            r,
            Response::Error(
                "permission denied: `reload` needs root or the control_admin_group".into()
            )
        );
        let r = handle(b"{\"cmd\":\"summary\"}", Role::ReadOnly, &handler).await;
        assert_eq!(r, Response::Summary(BgpSummary::default()));
    }

    #[tokio::test]
    async fn client_says_daemon_is_not_running() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("wgbgp.sock");
        let e = request(&path, &Request::Summary).await.unwrap_err();
        assert!(matches!(e, ClientError::NotRunning { .. }));
        assert_eq!(
            e.to_string(),
            format!("cannot connect to {}: is wgbgpd running?", path.display())
        );
    }
}

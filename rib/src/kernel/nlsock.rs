//! A blocking rtnetlink socket for the FIB writer's thread: batched route requests with acks
//! matched by sequence number, and route dumps.
//!
//! Why not rtnetlink's `Handle`: every request there is a future and a channel round trip
//! through netlink-proto; packing many `RTM_NEWROUTE`s into one `send()` and draining the acks
//! afterwards is about twice as fast (see /work/shared/notes/crates.md §2), and a dedicated
//! thread with a blocking socket needs no runtime at all.

use std::io;
use std::os::fd::AsRawFd;
use std::time::Duration;

use bgp::socket::setsockopt;
use netlink_packet_core::{
    NLM_F_ACK, NLM_F_ACK_TLVS, NLM_F_DUMP, NLM_F_DUMP_INTR, NLM_F_REQUEST, NetlinkHeader,
    NetlinkMessage, NetlinkPayload,
};
use netlink_packet_route::route::RouteMessage;
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};
use netlink_sys::{Socket, SocketAddr, protocols::NETLINK_ROUTE};

use super::convert::dump_request;
use super::nexthop::{NHMSG_LEN, NexthopMessage, RTM_GETNEXTHOP, RTM_NEWNEXTHOP};

const NLMSG_HDRLEN: usize = 16;
const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
/// `NLMSGERR_ATTR_MSG`: the extended ack's human-readable error string.
const NLMSGERR_ATTR_MSG: u16 = 1;
/// Receive buffer asked for; acks of a whole batch must fit or the kernel drops them.
const RCVBUF: usize = 4 << 20;
/// Upper bound on the kernel's memory per queued ack skb, used to size batches to the buffer.
const ACK_TRUESIZE: usize = 1024;
/// Bytes per send(), well under the default `net.core.wmem_default` (212992) that bounds a
/// netlink datagram.
const MAX_SEND: usize = 64 << 10;
/// One recv() of a dump part; the kernel fills at most 32 KiB per part.
const RX_CHUNK: usize = 64 << 10;
/// A stuck kernel must not hang the writer forever.
const RECV_TIMEOUT: Duration = Duration::from_secs(10);

/// One request in a batch: a route or nexthop message with its netlink type flags.
pub(crate) struct Request {
    pub msg: Body,
    /// `NLM_F_*` flags besides `NLM_F_REQUEST | NLM_F_ACK`.
    pub flags: u16,
}

/// What a request carries: a message netlink-packet-route knows, or a nexthop object message
/// (`RTM_NEWNEXTHOP` / `RTM_DELNEXTHOP`), which it does not and which we encode ourselves.
pub(crate) enum Body {
    Route(RouteNetlinkMessage),
    Nexthop { kind: u16, msg: NexthopMessage },
}

impl From<RouteNetlinkMessage> for Body {
    fn from(m: RouteNetlinkMessage) -> Body {
        Body::Route(m)
    }
}

/// The kernel's answer to one request: 0 or a positive errno, with the extended-ack text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Ack {
    pub errno: i32,
    pub message: Option<String>,
}

/// What `execute` achieved: one ack per request of every completed send(), in request order,
/// and the socket error that stopped it early, if any.
pub(crate) struct Executed {
    pub acks: Vec<Ack>,
    pub error: Option<io::Error>,
}

pub(crate) struct RouteSocket {
    sock: Socket,
    seq: u32,
    tx: Vec<u8>,
    rx: Vec<u8>,
    /// Requests per send(): the configured batch, capped so a batch's acks fit the buffer.
    batch: usize,
}

/// Sets a socket's receive buffer with `SO_RCVBUFFORCE` (we run as root, and it ignores
/// `net.core.rmem_max`), falling back to `SO_RCVBUF` if refused.
pub(crate) fn set_rcvbuf(fd: i32, bytes: usize) -> io::Result<()> {
    let bytes = bytes.min(i32::MAX as usize) as i32;
    setsockopt(fd, libc::SOL_SOCKET, libc::SO_RCVBUFFORCE, &bytes)
        .or_else(|_| setsockopt(fd, libc::SOL_SOCKET, libc::SO_RCVBUF, &bytes))
}

/// Has the kernel drop route notifications of protocol `protocol` before they are queued on
/// `fd` (a classic BPF socket filter, as zebra installs one for its own routes): the FIB
/// writer's own full table would otherwise come back to the watcher as a million messages to
/// parse and discard, buffered in rtnetlink's unbounded channel when the watcher is slower.
/// With `owner` (the FIB writer's netlink port id) only the notifications that socket caused
/// are dropped: the kernel stamps each with the port id of the requester, so a deletion of
/// one of our routes by anyone else still arrives (self-healing needs it). Dump replies
/// (`NLM_F_MULTI`, several messages per datagram) always pass.
pub fn drop_route_notifications(fd: i32, protocol: u8, owner: Option<u32>) -> io::Result<()> {
    // Loads are big-endian; netlink headers are in host order.
    let host16 = |v: u16| u32::from(u16::from_be_bytes(v.to_ne_bytes()));
    let host32 = |v: u32| u32::from_be_bytes(v.to_ne_bytes());
    let stmt = |code: u32, k: u32| libc::sock_filter {
        code: code as u16,
        jt: 0,
        jf: 0,
        k,
    };
    let jump = |code: u32, k: u32, jt: u8, jf: u8| libc::sock_filter {
        code: code as u16,
        jt,
        jf,
        k,
    };
    use libc::{BPF_ABS, BPF_B, BPF_H, BPF_JEQ, BPF_JMP, BPF_JSET, BPF_K, BPF_LD, BPF_RET, BPF_W};
    const ACCEPT: libc::sock_filter = libc::sock_filter {
        code: (BPF_RET | BPF_K) as u16,
        jt: 0,
        jf: 0,
        k: u32::MAX,
    };
    const DROP: libc::sock_filter = libc::sock_filter {
        code: (BPF_RET | BPF_K) as u16,
        jt: 0,
        jf: 0,
        k: 0,
    };
    let mut code = vec![
        // nlmsg_type (offset 4): a route notification?
        stmt(BPF_LD | BPF_H | BPF_ABS, 4),
        jump(BPF_JMP | BPF_JEQ | BPF_K, host16(libc::RTM_NEWROUTE), 1, 0),
        // Not a route message: jump to the final ACCEPT (patched below).
        jump(BPF_JMP | BPF_JEQ | BPF_K, host16(libc::RTM_DELROUTE), 0, 0),
        // nlmsg_flags (offset 6): part of a dump?
        stmt(BPF_LD | BPF_H | BPF_ABS, 6),
        jump(
            BPF_JMP | BPF_JSET | BPF_K,
            host16(libc::NLM_F_MULTI as u16),
            0,
            0,
        ),
        // rtmsg.rtm_protocol (16-byte nlmsghdr, then family, dst_len, src_len, tos, table).
        stmt(BPF_LD | BPF_B | BPF_ABS, 16 + 5),
        jump(BPF_JMP | BPF_JEQ | BPF_K, u32::from(protocol), 0, 0),
    ];
    if let Some(port) = owner {
        // nlmsg_pid (offset 12): caused by the owner's socket?
        code.push(stmt(BPF_LD | BPF_W | BPF_ABS, 12));
        code.push(jump(BPF_JMP | BPF_JEQ | BPF_K, host32(port), 0, 0));
    }
    code.push(DROP);
    code.push(ACCEPT);
    // Patch the jumps to ACCEPT (relative to the next instruction).
    let accept = code.len() - 1;
    let to_accept = |at: usize| (accept - at - 1) as u8;
    code[2].jf = to_accept(2);
    code[4].jt = to_accept(4);
    code[6].jf = to_accept(6);
    if owner.is_some() {
        code[8].jf = to_accept(8);
    }
    let prog = libc::sock_fprog {
        len: code.len() as u16,
        filter: code.as_ptr().cast_mut(),
    };
    // `prog` points to `code`, both alive for the call; the kernel copies the program.
    setsockopt(fd, libc::SOL_SOCKET, libc::SO_ATTACH_FILTER, &prog)
}

impl RouteSocket {
    pub fn open(batch: usize) -> io::Result<RouteSocket> {
        let mut sock = Socket::new(NETLINK_ROUTE)?;
        sock.bind_auto()?;
        sock.connect(&SocketAddr::new(0, 0))?;
        // Acks carry only the original header, not a copy of each request.
        sock.set_cap_ack(true)?;
        sock.set_ext_ack(true)?;
        let fd = sock.as_raw_fd();
        set_rcvbuf(fd, RCVBUF)?;
        let tv = libc::timeval {
            tv_sec: RECV_TIMEOUT.as_secs() as libc::time_t,
            tv_usec: 0,
        };
        setsockopt(fd, libc::SOL_SOCKET, libc::SO_RCVTIMEO, &tv)?;
        let rcvbuf = sock.get_rx_buf_sz()?;
        let batch = batch.clamp(1, (rcvbuf / ACK_TRUESIZE / 2).max(1));
        Ok(RouteSocket {
            sock,
            seq: 1,
            tx: Vec::with_capacity(batch * 128),
            rx: Vec::with_capacity(RX_CHUNK),
            batch,
        })
    }

    /// The socket's netlink port id: the kernel stamps it on the notifications of the changes
    /// this socket makes, which is how the watcher tells our own changes from others'.
    pub fn port_id(&self) -> io::Result<u32> {
        let mut addr = SocketAddr::new(0, 0);
        self.sock.get_address(&mut addr)?;
        Ok(addr.port_number())
    }

    /// Requests per send() actually used.
    pub fn batch(&self) -> usize {
        self.batch
    }

    fn next_seq(&mut self) -> u32 {
        self.seq = self.seq.wrapping_add(1);
        self.seq
    }

    fn recv(&mut self) -> io::Result<()> {
        self.rx.clear();
        self.rx.reserve(RX_CHUNK);
        self.sock.recv(&mut self.rx, 0)?;
        Ok(())
    }

    /// Sends every request in order, up to `batch` (and `MAX_SEND` bytes) per send(), and
    /// returns one ack per request, or, if the socket fails mid-way, the acks of the sends
    /// that completed and the error.
    ///
    /// Only the last request of each send() asks for an ack (`NLM_F_ACK`): the kernel always
    /// reports errors, and processes a send()'s messages in order before returning, so the
    /// last ack arriving means every earlier error has been queued before it. That saves one
    /// ack skb and one recv() per route.
    pub fn execute(&mut self, reqs: Vec<Request>) -> Executed {
        let mut acks = Vec::with_capacity(reqs.len());
        match self.execute_into(reqs, &mut acks) {
            Ok(()) => Executed { acks, error: None },
            Err(e) => Executed {
                acks,
                error: Some(e),
            },
        }
    }

    fn execute_into(&mut self, reqs: Vec<Request>, acks: &mut Vec<Ack>) -> io::Result<()> {
        let mut reqs = reqs.into_iter().peekable();
        while reqs.peek().is_some() {
            let first = self.seq.wrapping_add(1);
            self.tx.clear();
            let mut count = 0;
            while count < self.batch && self.tx.len() < MAX_SEND {
                let Some(r) = reqs.next() else { break };
                let last = count + 1 == self.batch || reqs.peek().is_none();
                count += 1;
                let seq = self.next_seq();
                let off = self.tx.len();
                match r.msg {
                    Body::Route(msg) => {
                        let mut hdr = NetlinkHeader::default();
                        hdr.flags = NLM_F_REQUEST | r.flags;
                        hdr.sequence_number = seq;
                        let mut m = NetlinkMessage::new(hdr, NetlinkPayload::InnerMessage(msg));
                        m.finalize();
                        self.tx.resize(off + m.buffer_len(), 0);
                        m.serialize(&mut self.tx[off..]);
                    }
                    Body::Nexthop { kind, msg } => {
                        push_header(&mut self.tx, kind, NLM_F_REQUEST | r.flags, seq, &msg);
                        msg.encode(&mut self.tx);
                    }
                }
                if last || self.tx.len() >= MAX_SEND {
                    // Flag the last message of this send() in place.
                    let flags =
                        u16::from_ne_bytes([self.tx[off + 6], self.tx[off + 7]]) | NLM_F_ACK;
                    self.tx[off + 6..off + 8].copy_from_slice(&flags.to_ne_bytes());
                }
            }
            let last_seq = self.seq;
            self.sock.send(&self.tx, 0)?;
            let mut got = vec![
                Ack {
                    errno: 0,
                    message: None
                };
                count
            ];
            let mut done = false;
            while !done {
                self.recv()?;
                for (seq, ack) in parse_acks(&self.rx) {
                    let i = seq.wrapping_sub(first) as usize;
                    if i < count {
                        got[i] = ack;
                    }
                    done |= seq == last_seq;
                }
            }
            acks.extend(got);
        }
        Ok(())
    }

    /// Dumps every route of `family` (all tables; the kernel ignores dump filters without
    /// strict checking, so the caller filters).
    pub fn dump_routes(&mut self, family: AddressFamily) -> io::Result<Vec<RouteMessage>> {
        // A dump interrupted by a concurrent change (NLM_F_DUMP_INTR) may be inconsistent:
        // try again a few times, then return what we have.
        for attempt in 0..3 {
            let (routes, interrupted) = self.dump_once(family)?;
            if !interrupted || attempt == 2 {
                return Ok(routes);
            }
        }
        unreachable!("the loop returns on its last attempt")
    }

    fn dump_once(&mut self, family: AddressFamily) -> io::Result<(Vec<RouteMessage>, bool)> {
        let seq = self.next_seq();
        let mut hdr = NetlinkHeader::default();
        hdr.flags = NLM_F_REQUEST | NLM_F_DUMP;
        hdr.sequence_number = seq;
        let mut m = NetlinkMessage::new(
            hdr,
            NetlinkPayload::InnerMessage(RouteNetlinkMessage::GetRoute(dump_request(family))),
        );
        m.finalize();
        self.tx.clear();
        self.tx.resize(m.buffer_len(), 0);
        m.serialize(&mut self.tx);
        self.sock.send(&self.tx, 0)?;
        let mut routes = Vec::new();
        let mut interrupted = false;
        loop {
            self.recv()?;
            let mut off = 0;
            while let Some((h, whole)) = next_message(&self.rx, &mut off) {
                if h.seq != seq {
                    continue;
                }
                interrupted |= h.flags & NLM_F_DUMP_INTR != 0;
                match h.kind {
                    NLMSG_DONE => return Ok((routes, interrupted)),
                    NLMSG_ERROR => {
                        let errno = error_code(&whole[NLMSG_HDRLEN..]);
                        if errno != 0 {
                            return Err(io::Error::from_raw_os_error(errno));
                        }
                    }
                    _ => match NetlinkMessage::<RouteNetlinkMessage>::deserialize(whole) {
                        Ok(NetlinkMessage {
                            payload: NetlinkPayload::InnerMessage(RouteNetlinkMessage::NewRoute(r)),
                            ..
                        }) => routes.push(r),
                        Ok(_) => {}
                        Err(e) => tracing::debug!("undecodable route in dump: {e}"),
                    },
                }
            }
        }
    }
}

impl RouteSocket {
    /// Dumps every nexthop object of the namespace (`RTM_GETNEXTHOP` with `NLM_F_DUMP`).
    /// A kernel without nexthop objects (before 5.3) answers `EOPNOTSUPP`; that error is
    /// returned as it came, and is how the FIB writer decides to fall back.
    pub fn dump_nexthops(&mut self) -> io::Result<Vec<NexthopMessage>> {
        for attempt in 0..3 {
            let seq = self.next_seq();
            let req = NexthopMessage::default();
            self.tx.clear();
            push_header(
                &mut self.tx,
                RTM_GETNEXTHOP,
                NLM_F_REQUEST | NLM_F_DUMP,
                seq,
                &req,
            );
            req.encode(&mut self.tx);
            self.sock.send(&self.tx, 0)?;
            let mut out = Vec::new();
            let mut interrupted = false;
            'recv: loop {
                self.recv()?;
                let mut off = 0;
                while let Some((h, whole)) = next_message(&self.rx, &mut off) {
                    if h.seq != seq {
                        continue;
                    }
                    interrupted |= h.flags & NLM_F_DUMP_INTR != 0;
                    match h.kind {
                        NLMSG_DONE => break 'recv,
                        NLMSG_ERROR => {
                            let errno = error_code(&whole[NLMSG_HDRLEN..]);
                            if errno != 0 {
                                return Err(io::Error::from_raw_os_error(errno));
                            }
                        }
                        RTM_NEWNEXTHOP => match NexthopMessage::decode(&whole[NLMSG_HDRLEN..]) {
                            Ok(m) => out.push(m),
                            Err(e) => tracing::debug!("undecodable nexthop in dump: {e}"),
                        },
                        _ => {}
                    }
                }
            }
            if !interrupted || attempt == 2 {
                return Ok(out);
            }
        }
        unreachable!("the loop returns on its last attempt")
    }
}

/// The FIB writer's ear on what can take nexthop objects away behind its back: link
/// notifications (the kernel flushes the objects of a device that goes down or away, without
/// any notification of its own), and `RTM_DELNEXTHOP` / `RTM_NEWNEXTHOP` sent by other sockets
/// (`ip nexthop del`). Non-blocking: the writer drains it before each command.
pub(crate) struct KernelChanges {
    sock: Socket,
    buf: Vec<u8>,
}

/// `RTNLGRP_LINK`
const RTNLGRP_LINK: u32 = 1;

impl KernelChanges {
    pub fn open() -> io::Result<KernelChanges> {
        let mut sock = Socket::new(NETLINK_ROUTE)?;
        sock.bind_auto()?;
        sock.add_membership(RTNLGRP_LINK)?;
        sock.add_membership(super::nexthop::RTNLGRP_NEXTHOP)?;
        sock.set_non_blocking(true)?;
        Ok(KernelChanges {
            sock,
            buf: Vec::with_capacity(RX_CHUNK),
        })
    }

    /// Reads everything queued; true if any of it may have removed or changed one of our
    /// objects: a link message, a nexthop message another socket than `own_port` caused, or
    /// lost notifications (`ENOBUFS`).
    pub fn drain(&mut self, own_port: u32) -> bool {
        let mut changed = false;
        loop {
            self.buf.clear();
            self.buf.reserve(RX_CHUNK);
            match self.sock.recv(&mut self.buf, 0) {
                Ok(_) => {
                    let mut off = 0;
                    while let Some((h, whole)) = next_message(&self.buf, &mut off) {
                        let port = u32::from_ne_bytes(whole[12..16].try_into().expect("4 bytes"));
                        changed |= match h.kind {
                            libc::RTM_NEWLINK | libc::RTM_DELLINK => true,
                            super::nexthop::RTM_NEWNEXTHOP | super::nexthop::RTM_DELNEXTHOP => {
                                port != own_port
                            }
                            _ => false,
                        };
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return changed,
                Err(e) if e.raw_os_error() == Some(libc::ENOBUFS) => changed = true,
                Err(e) => {
                    tracing::warn!("nexthop change socket failed: {e}");
                    return true;
                }
            }
        }
    }
}

/// The nexthop messages of a datagram: (message type, port id of the socket that caused it,
/// body). Other messages and undecodable bodies are skipped.
pub(crate) fn nexthop_messages(buf: &[u8]) -> Vec<(u16, u32, NexthopMessage)> {
    let mut off = 0;
    let mut out = Vec::new();
    while let Some((h, whole)) = next_message(buf, &mut off) {
        if h.kind != RTM_NEWNEXTHOP && h.kind != super::nexthop::RTM_DELNEXTHOP {
            continue;
        }
        let port = u32::from_ne_bytes(whole[12..16].try_into().expect("4 bytes"));
        match NexthopMessage::decode(&whole[NLMSG_HDRLEN..]) {
            Ok(m) => out.push((h.kind, port, m)),
            Err(e) => tracing::debug!("undecodable nexthop notification: {e}"),
        }
    }
    out
}

/// Appends an `nlmsghdr` for a nexthop message body (port id 0: the kernel fills it in).
fn push_header(buf: &mut Vec<u8>, kind: u16, flags: u16, seq: u32, msg: &NexthopMessage) {
    let len = (NLMSG_HDRLEN + msg.buffer_len()) as u32;
    debug_assert!(msg.buffer_len() >= NHMSG_LEN);
    buf.extend_from_slice(&len.to_ne_bytes());
    buf.extend_from_slice(&kind.to_ne_bytes());
    buf.extend_from_slice(&flags.to_ne_bytes());
    buf.extend_from_slice(&seq.to_ne_bytes());
    buf.extend_from_slice(&0u32.to_ne_bytes());
}

struct Header {
    kind: u16,
    flags: u16,
    seq: u32,
}

/// The next netlink message of a datagram: its header and the whole message (header
/// included); advances `off` past it.
fn next_message<'a>(buf: &'a [u8], off: &mut usize) -> Option<(Header, &'a [u8])> {
    let rest = buf.get(*off..)?;
    if rest.len() < NLMSG_HDRLEN {
        return None;
    }
    let len = u32::from_ne_bytes(rest[0..4].try_into().ok()?) as usize;
    if len < NLMSG_HDRLEN || len > rest.len() {
        return None;
    }
    let h = Header {
        kind: u16::from_ne_bytes(rest[4..6].try_into().ok()?),
        flags: u16::from_ne_bytes(rest[6..8].try_into().ok()?),
        seq: u32::from_ne_bytes(rest[8..12].try_into().ok()?),
    };
    // Messages are 4-byte aligned within a datagram.
    *off += (len + 3) & !3;
    Some((h, &rest[..len]))
}

/// `struct nlmsgerr.error`, negated into a positive errno (0 = ack).
fn error_code(body: &[u8]) -> i32 {
    body.get(0..4)
        .and_then(|b| b.try_into().ok())
        .map(|b| -i32::from_ne_bytes(b))
        .unwrap_or(libc::EPROTO)
}

/// Extended-ack string: TLVs follow the error code and the (capped) original header.
fn ext_ack_message(body: &[u8]) -> Option<String> {
    let mut tlvs = body.get(4 + NLMSG_HDRLEN..)?;
    while tlvs.len() >= 4 {
        let len = u16::from_ne_bytes([tlvs[0], tlvs[1]]) as usize;
        let kind = u16::from_ne_bytes([tlvs[2], tlvs[3]]) & 0x3fff;
        if len < 4 || len > tlvs.len() {
            return None;
        }
        if kind == NLMSGERR_ATTR_MSG {
            let s = &tlvs[4..len];
            let s = s.split(|&b| b == 0).next().unwrap_or(s);
            return Some(String::from_utf8_lossy(s).into_owned());
        }
        tlvs = &tlvs[((len + 3) & !3).min(tlvs.len())..];
    }
    None
}

/// Every (sequence number, ack) in a datagram.
fn parse_acks(buf: &[u8]) -> Vec<(u32, Ack)> {
    let mut off = 0;
    let mut out = Vec::new();
    while let Some((h, whole)) = next_message(buf, &mut off) {
        if h.kind != NLMSG_ERROR {
            continue;
        }
        let body = &whole[NLMSG_HDRLEN..];
        let errno = error_code(body);
        let message = if errno != 0 && h.flags & NLM_F_ACK_TLVS != 0 {
            ext_ack_message(body)
        } else {
            None
        };
        out.push((h.seq, Ack { errno, message }));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nlmsg(kind: u16, flags: u16, seq: u32, body: &[u8]) -> Vec<u8> {
        let len = NLMSG_HDRLEN + body.len();
        let mut v = Vec::new();
        v.extend_from_slice(&(len as u32).to_ne_bytes());
        v.extend_from_slice(&kind.to_ne_bytes());
        v.extend_from_slice(&flags.to_ne_bytes());
        v.extend_from_slice(&seq.to_ne_bytes());
        v.extend_from_slice(&0u32.to_ne_bytes());
        v.extend_from_slice(body);
        while v.len() % 4 != 0 {
            v.push(0);
        }
        v
    }

    #[test]
    fn acks_and_errors_with_extended_ack_text_are_matched_by_sequence() {
        let mut dgram = nlmsg(NLMSG_ERROR, 0, 7, &[0; 4 + NLMSG_HDRLEN]);
        let mut body = (-libc::EINVAL).to_ne_bytes().to_vec();
        body.extend_from_slice(&[0; NLMSG_HDRLEN]);
        let text = b"Nexthop has invalid gateway\0";
        body.extend_from_slice(&((4 + text.len()) as u16).to_ne_bytes());
        body.extend_from_slice(&NLMSGERR_ATTR_MSG.to_ne_bytes());
        body.extend_from_slice(text);
        dgram.extend(nlmsg(NLMSG_ERROR, NLM_F_ACK_TLVS, 8, &body));
        let acks = parse_acks(&dgram);
        assert_eq!(
            acks,
            vec![
                (
                    7,
                    Ack {
                        errno: 0,
                        message: None
                    }
                ),
                (
                    8,
                    Ack {
                        errno: libc::EINVAL,
                        message: Some("Nexthop has invalid gateway".into())
                    }
                ),
            ]
        );
    }

    #[test]
    fn truncated_datagram_stops_parsing() {
        let mut dgram = nlmsg(NLMSG_ERROR, 0, 7, &[0; 4 + NLMSG_HDRLEN]);
        dgram.truncate(dgram.len() - 1);
        assert!(parse_acks(&dgram).is_empty());
    }
}

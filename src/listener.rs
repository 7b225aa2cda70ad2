//! The server's listener: axum's TCP accept loop, with `TCP_NODELAY` on every connection and the
//! connection's socket kept as its `ConnectInfo`, for socket options axum has no API for (the
//! media stream's receive threshold, `telephony::wake`).

use std::net::SocketAddr;
use std::os::fd::{AsFd, OwnedFd};
use std::sync::Arc;

use axum::extract::connect_info::Connected;
use axum::serve::{IncomingStream, Listener};
use tokio::net::{TcpListener, TcpStream};

pub struct Connections(pub TcpListener);

impl Listener for Connections {
    type Io = TcpStream;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (TcpStream, SocketAddr) {
        // axum's loop: it retries, and backs off when out of descriptors.
        let (io, addr) = Listener::accept(&mut self.0).await;
        // Media streams send small frames back to back: Nagle's algorithm would hold them up
        // to 40 ms waiting for an ACK.
        let _ = io.set_nodelay(true);
        (io, addr)
    }

    fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.0.local_addr()
    }
}

/// A duplicate of the accepted connection's descriptor (one `dup` per connection, closed with
/// the last request of the connection that holds it; `None` when it could not be duplicated),
/// and the address of its peer.
#[derive(Clone, Debug)]
pub struct ConnectionSocket {
    fd: Option<Arc<OwnedFd>>,
    peer: Option<SocketAddr>,
}

impl ConnectionSocket {
    /// Duplicates `socket`'s descriptor.
    pub fn of(socket: &impl AsFd, peer: Option<SocketAddr>) -> Self {
        Self {
            fd: socket.as_fd().try_clone_to_owned().ok().map(Arc::new),
            peer,
        }
    }

    pub fn fd(&self) -> Option<&Arc<OwnedFd>> {
        self.fd.as_ref()
    }

    /// Who connected: the client, or the proxy in front of us.
    pub fn peer(&self) -> Option<SocketAddr> {
        self.peer
    }
}

impl Connected<IncomingStream<'_, Connections>> for ConnectionSocket {
    fn connect_info(stream: IncomingStream<'_, Connections>) -> Self {
        Self::of(stream.io(), Some(*stream.remote_addr()))
    }
}

//! The server's listener: axum's TCP accept loop, with `TCP_NODELAY` on every connection and a
//! handle on the connection as its `ConnectInfo`, through which a live call's upgrade gets the
//! connection's descriptor for socket options axum has no API for (the receive threshold,
//! `telephony::wake`). Only connections that ask get a duplicate descriptor.

use std::io;
use std::net::SocketAddr;
use std::os::fd::{AsFd, OwnedFd};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};

use axum::extract::connect_info::Connected;
use axum::serve::{IncomingStream, Listener};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};

pub struct Connections(pub TcpListener);

impl Listener for Connections {
    type Io = Connection;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Connection, SocketAddr) {
        // axum's loop: it retries, and backs off when out of descriptors.
        let (io, addr) = Listener::accept(&mut self.0).await;
        // Media streams send small frames back to back: Nagle's algorithm would hold them up
        // to 40 ms waiting for an ACK.
        let _ = io.set_nodelay(true);
        (
            Connection {
                io,
                descriptor: Arc::default(),
            },
            addr,
        )
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.0.local_addr()
    }
}

/// An accepted connection: its TCP stream, and a duplicate of its descriptor made only when a
/// request on it asks (the live call's socket options; a dashboard or webhook connection never
/// costs a second descriptor).
pub struct Connection {
    io: TcpStream,
    descriptor: Arc<Descriptor>,
}

#[derive(Debug, Default)]
struct Descriptor {
    /// A request asked for the descriptor ([`ConnectionSocket::want_descriptor`]).
    wanted: AtomicBool,
    /// The duplicate, made at the connection's next write after it was asked for: the answer to
    /// that request (a `101 Switching Protocols`) is written before the socket is handed on.
    /// `None` inside when it could not be duplicated.
    fd: OnceLock<Option<Arc<OwnedFd>>>,
}

impl Connection {
    /// Duplicates the descriptor if a request asked for it and it is not done yet.
    fn serve_descriptor(&self) {
        if self.descriptor.wanted.load(Ordering::Acquire) && self.descriptor.fd.get().is_none() {
            let fd = self.io.as_fd().try_clone_to_owned().ok().map(Arc::new);
            let _ = self.descriptor.fd.set(fd);
        }
    }
}

impl AsyncRead for Connection {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl AsyncWrite for Connection {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.serve_descriptor();
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.serve_descriptor();
        Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.serve_descriptor();
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

/// What a request knows of its connection: the peer's address, and the connection's descriptor
/// once asked for (closed with the last holder: the connection or a live call's bridge).
#[derive(Clone, Debug)]
pub struct ConnectionSocket {
    descriptor: Arc<Descriptor>,
    peer: Option<SocketAddr>,
}

impl ConnectionSocket {
    /// A connection's socket with `socket`'s descriptor duplicated at once (for tests and tools
    /// that hold the stream themselves).
    pub fn of(socket: &impl AsFd, peer: Option<SocketAddr>) -> Self {
        let descriptor = Descriptor::default();
        let _ = descriptor
            .fd
            .set(socket.as_fd().try_clone_to_owned().ok().map(Arc::new));
        Self {
            descriptor: Arc::new(descriptor),
            peer,
        }
    }

    /// Asks for the connection's descriptor: it is duplicated when the answer to this request is
    /// written. For a live call's upgrade, whose socket options the bridge tunes.
    pub fn want_descriptor(&self) {
        self.descriptor.wanted.store(true, Ordering::Release);
    }

    /// The duplicated descriptor: `None` until asked for and the answer written, or when it
    /// could not be duplicated.
    pub fn fd(&self) -> Option<&Arc<OwnedFd>> {
        self.descriptor.fd.get().and_then(Option::as_ref)
    }

    /// Who connected: the client, or the proxy in front of us.
    pub fn peer(&self) -> Option<SocketAddr> {
        self.peer
    }
}

impl Connected<IncomingStream<'_, Connections>> for ConnectionSocket {
    fn connect_info(stream: IncomingStream<'_, Connections>) -> Self {
        Self {
            descriptor: Arc::clone(&stream.io().descriptor),
            peer: Some(*stream.remote_addr()),
        }
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    #[tokio::test]
    async fn the_descriptor_is_duplicated_only_when_a_request_asks_for_it() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let mut client = TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let mut connections = Connections(listener);
        let (mut connection, _) = Listener::accept(&mut connections).await;
        let socket = ConnectionSocket {
            descriptor: Arc::clone(&connection.descriptor),
            peer: None,
        };

        // An ordinary request and answer: no second descriptor.
        client.write_all(b"ping").await.unwrap();
        let mut buf = [0; 4];
        connection.read_exact(&mut buf).await.unwrap();
        connection.write_all(b"pong").await.unwrap();
        assert!(socket.fd().is_none());

        // A live call's upgrade asks; the answer's write duplicates it, once.
        socket.want_descriptor();
        assert!(socket.fd().is_none(), "nothing written since");
        connection.write_all(b"101").await.unwrap();
        let fd = Arc::clone(socket.fd().expect("duplicated at the write"));
        connection.write_all(b"more").await.unwrap();
        assert!(Arc::ptr_eq(&fd, socket.fd().unwrap()));
        client.read_exact(&mut [0; 11]).await.unwrap();
    }
}

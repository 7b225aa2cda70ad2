//! Which of the loop's two sockets may have something for it, and the two loop branches that
//! poll them only then.
//!
//! Polling an idle socket is not free (a read attempt is a system call, and the provider's
//! session does its own bookkeeping per poll), and the call's task wakes for either socket. So each
//! socket is polled with a waker of its own, which marks that socket and wakes the task, and a
//! socket is polled only when marked: woken since its last `Pending`, or its last poll gave
//! something (there may be more). The mark is taken before the poll, so a wake-up during the
//! poll is kept.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll, Wake, Waker};

use futures_util::task::AtomicWaker;
use loquent_ai::realtime::RealtimeEvent;

use super::super::media_socket::{CallSocket, Incoming};
use super::super::session::Session;

/// The loop's two sockets.
#[derive(Clone, Copy)]
pub enum Side {
    Caller,
    Provider,
}

pub struct Readiness {
    marks: Arc<Marks>,
    caller: Waker,
    provider: Waker,
}

struct Marks {
    task: AtomicWaker,
    caller: AtomicBool,
    provider: AtomicBool,
}

impl Marks {
    fn flag(&self, side: Side) -> &AtomicBool {
        match side {
            Side::Caller => &self.caller,
            Side::Provider => &self.provider,
        }
    }
}

/// One socket's waker.
struct Marker {
    marks: Arc<Marks>,
    side: Side,
}

impl Wake for Marker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.marks.flag(self.side).store(true, Ordering::Release);
        self.marks.task.wake();
    }
}

impl Readiness {
    /// Both sockets marked: the first pass polls them.
    pub fn new() -> Self {
        let marks = Arc::new(Marks {
            task: AtomicWaker::new(),
            caller: AtomicBool::new(true),
            provider: AtomicBool::new(true),
        });
        let waker = |side| {
            Waker::from(Arc::new(Marker {
                marks: Arc::clone(&marks),
                side,
            }))
        };
        Self {
            caller: waker(Side::Caller),
            provider: waker(Side::Provider),
            marks,
        }
    }

    /// The markers wake `cx`'s task.
    fn register(&self, cx: &Context<'_>) {
        self.marks.task.register(cx.waker());
    }

    /// Whether `side` is marked, clearing the mark.
    fn take(&self, side: Side) -> bool {
        self.marks.flag(side).swap(false, Ordering::AcqRel)
    }

    /// Marks `side` again: its last poll gave something.
    fn mark(&self, side: Side) {
        self.marks.flag(side).store(true, Ordering::Release);
    }

    /// The context to poll `side` with.
    fn context(&self, side: Side) -> Context<'_> {
        Context::from_waker(match side {
            Side::Caller => &self.caller,
            Side::Provider => &self.provider,
        })
    }
}

/// What the loop's caller branch produced.
pub enum FromCaller {
    Message(Incoming),
    /// Nothing more to read for now, and caller audio is held back: time to send it.
    Drained,
    /// The socket failed or ended.
    Gone,
}

/// The loop's caller branch (Twilio's media stream or the browser), polled first on every pass
/// (so it registers the task the markers wake). The caller's socket has one owner, no split and
/// no lock per poll: this writes what is queued for the caller as far as the socket has room,
/// never waiting for room, then reads the next message if the socket is marked. With `flush_due`, says when there is nothing more to
/// read.
pub fn poll_caller(
    readiness: &Readiness,
    socket: &mut CallSocket,
    flush_due: bool,
    cx: &Context<'_>,
) -> Poll<FromCaller> {
    readiness.register(cx);
    let read = readiness.take(Side::Caller);
    let cx = &mut readiness.context(Side::Caller);
    // `Pending` here only means the socket is full: its marker fires when it has room.
    if let Poll::Ready(Err(_)) = socket.poll_flush(cx) {
        readiness.mark(Side::Caller);
        return Poll::Ready(FromCaller::Gone);
    }
    if !read {
        return Poll::Pending;
    }
    let polled = socket.poll_next(cx);
    if socket.has_queued() {
        // The read queued an answer (a pong): it goes out now, not after the next message.
        let _ = socket.poll_flush(cx);
    }
    match polled {
        Poll::Ready(Some(Ok(message))) => {
            // After a message there may be another.
            readiness.mark(Side::Caller);
            Poll::Ready(FromCaller::Message(message))
        }
        Poll::Ready(Some(Err(_)) | None) => {
            readiness.mark(Side::Caller);
            Poll::Ready(FromCaller::Gone)
        }
        // The marker is registered for the next message either way.
        Poll::Pending if flush_due => Poll::Ready(FromCaller::Drained),
        Poll::Pending => Poll::Pending,
    }
}

type NextEventFuture<'a> = Pin<Box<dyn Future<Output = Option<RealtimeEvent>> + Send + 'a>>;

/// The loop's provider branch: the session's next event, polled only while the provider's socket
/// is marked. The `next_event` future, once made, is kept until this is dropped at the end of the
/// loop's pass, as a plain `select!` branch keeps it: a close handshake or a timer inside it
/// resumes where it was, its wake-ups coming through the provider's marker.
pub struct ProviderEvent<'a> {
    readiness: &'a Readiness,
    /// The session until its next event is asked for, then the future that brings it.
    session: Option<&'a mut Session>,
    next: Option<NextEventFuture<'a>>,
}

impl<'a> ProviderEvent<'a> {
    pub fn new(readiness: &'a Readiness, session: &'a mut Session) -> Self {
        Self {
            readiness,
            session: Some(session),
            next: None,
        }
    }
}

impl Future for ProviderEvent<'_> {
    type Output = Option<RealtimeEvent>;

    fn poll(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        while this.readiness.take(Side::Provider) {
            if let Some(session) = this.session.take() {
                this.next = Some(session.next_event());
            }
            let Some(next) = this.next.as_mut() else {
                return Poll::Pending;
            };
            if let Poll::Ready(event) = next
                .as_mut()
                .poll(&mut this.readiness.context(Side::Provider))
            {
                // One server message can carry several events: ask again after one.
                this.readiness.mark(Side::Provider);
                return Poll::Ready(event);
            }
        }
        Poll::Pending
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicUsize;

    use super::*;

    /// Counts the wake-ups of "the call's task".
    struct Task(AtomicUsize);

    impl Wake for Task {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    #[test]
    fn a_socket_is_polled_again_only_once_woken_or_after_it_gave_something() {
        let task = Arc::new(Task(AtomicUsize::new(0)));
        let waker = Waker::from(Arc::clone(&task));
        let readiness = Readiness::new();
        readiness.register(&Context::from_waker(&waker));
        // The first pass polls both.
        assert!(readiness.take(Side::Caller));
        assert!(readiness.take(Side::Provider));
        // Both came back `Pending`: nothing to poll until a socket's waker fires.
        assert!(!readiness.take(Side::Caller));
        assert!(!readiness.take(Side::Provider));
        readiness.context(Side::Provider).waker().wake_by_ref();
        assert_eq!(task.0.load(Ordering::SeqCst), 1, "the task was not woken");
        assert!(!readiness.take(Side::Caller), "the wrong socket was marked");
        assert!(readiness.take(Side::Provider));
        // A poll that gave something marks its socket again: there may be more.
        readiness.mark(Side::Caller);
        assert!(readiness.take(Side::Caller));
        // A wake-up with no task registered since the last one still marks the socket.
        readiness.context(Side::Caller).waker().wake_by_ref();
        assert!(readiness.take(Side::Caller));
    }
}

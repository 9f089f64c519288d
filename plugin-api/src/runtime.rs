//! Each plugin library runs its async code on a tokio runtime of its own: the host polls a
//! plugin's futures, and every poll enters this library's runtime, so timers, sockets and
//! `tokio::spawn` inside plugin code use the plugin's own copy of tokio. Panics are caught here
//! too, so that none crosses the boundary.

use crate::scope::{on_thread, with_scope, OnThread, Scope};
use std::{
    any::Any,
    future::Future,
    ops::Deref,
    panic::{catch_unwind, AssertUnwindSafe},
    pin::Pin,
    sync::{Arc, OnceLock},
    task::{Context, Poll},
};
use tokio::runtime::Runtime;

static RUNTIME: OnceLock<Runtime> = OnceLock::new();

/// This library's runtime. Worker threads: `RUVUMA_PLUGIN_THREADS` (default 2).
pub fn runtime() -> &'static Runtime {
    RUNTIME.get_or_init(|| {
        let threads = std::env::var("RUVUMA_PLUGIN_THREADS")
            .ok()
            .and_then(|v| v.parse::<usize>().ok())
            .filter(|n| *n > 0)
            .unwrap_or(2);
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads)
            .thread_name("ruvuma-plugin")
            .enable_all()
            .build()
            .unwrap_or_else(|e| {
                // Without a runtime no plugin code can run; there is nothing to fall back to.
                eprintln!("ruvuma plugin: cannot start a tokio runtime: {e}");
                std::process::abort()
            })
    })
}

pub(crate) fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "unknown panic payload".to_owned()
    }
}

/// Makes this library's runtime the current one on this thread, for the thread's life. The
/// host polls plugin futures on its own threads; entering and leaving on every poll cost two
/// reference-count changes on the runtime's handle, shared by every thread. This library's
/// tokio is its own copy, so its context on a host thread touches nothing of the host's. Its
/// own workers are inside already, and are left as they are.
#[inline]
fn enter_for_good(t: &OnThread) {
    if !t.inside.get() {
        if tokio::runtime::Handle::try_current().is_err() {
            std::mem::forget(runtime().enter());
        }
        t.inside.set(true);
    }
}

/// Runs a synchronous entry point inside the runtime and scope, turning a panic into an error.
pub(crate) fn guard_sync<R>(scope: Option<&Scope>, f: impl FnOnce() -> R) -> Result<R, String> {
    on_thread(enter_for_good);
    let run = AssertUnwindSafe(|| match scope {
        Some(s) => with_scope(s, f),
        None => f(),
    });
    catch_unwind(run).map_err(|p| format!("panicked: {}", panic_message(p.as_ref())))
}

/// A plugin future, polled in this library's runtime and component scope (held as `S`: an
/// `Arc` for a task of its own, a reference for a future that borrows its component). A panic
/// while polling ends it with `on_panic(message)`.
pub(crate) struct Guarded<F: Future, S = Arc<Scope>> {
    fut: F,
    scope: S,
    on_panic: fn(String) -> F::Output,
    done: bool,
}

impl<F: Future, S: Deref<Target = Scope>> Guarded<F, S> {
    pub(crate) fn new(scope: S, fut: F, on_panic: fn(String) -> F::Output) -> Self {
        Self {
            fut,
            scope,
            on_panic,
            done: false,
        }
    }
}

impl<F: Future, S: Deref<Target = Scope>> Future for Guarded<F, S> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        // SAFETY: `fut` is structurally pinned and never moved out; the other fields are plain data.
        let this = unsafe { self.get_unchecked_mut() };
        if this.done {
            return Poll::Pending;
        }
        let scope: &Scope = &this.scope;
        // SAFETY: see above; `this.fut` stays where it is.
        let fut = unsafe { Pin::new_unchecked(&mut this.fut) };
        let result = on_thread(|t| {
            enter_for_good(t);
            catch_unwind(AssertUnwindSafe(|| t.with_scope(scope, || fut.poll(cx))))
        });
        match result {
            Ok(poll) => poll,
            Err(payload) => {
                this.done = true;
                let message = format!("panicked: {}", panic_message(payload.as_ref()));
                crate::logging::forward(
                    crate::abi::LogLevel::Error,
                    "ruvuma::panic",
                    &format!("component {:?} {message}", scope.name),
                );
                Poll::Ready((this.on_panic)(message))
            }
        }
    }
}

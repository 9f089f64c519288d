//! Which component is running on this thread: plugin code runs inside its component's scope, so
//! that its log lines are tagged with it and reach the host through its services.

use crate::abi::ServicesBox;
use std::cell::Cell;

/// Who is running: the component whose code is on this thread right now.
pub(crate) struct Scope {
    pub name: String,
    pub services: ServicesBox,
}

/// What this library knows of the thread it runs on: one thread-local, so that a poll of plugin
/// code looks it up once (each lookup in a shared library is a call).
pub(crate) struct OnThread {
    /// The component whose code runs on this thread right now (null: none).
    current: Cell<*const Scope>,
    /// Whether this thread is inside this library's runtime for good.
    pub inside: Cell<bool>,
}

thread_local! {
    static ON_THREAD: OnThread = const {
        OnThread {
            current: Cell::new(std::ptr::null()),
            inside: Cell::new(false),
        }
    };
}

/// Calls `f` with this thread's state.
#[inline]
pub(crate) fn on_thread<R>(f: impl FnOnce(&OnThread) -> R) -> R {
    ON_THREAD.with(f)
}

impl OnThread {
    /// Runs `f` with `scope` as the current component (for log tagging). On every poll of
    /// plugin code: inlined where it is called.
    #[inline]
    pub(crate) fn with_scope<R>(&self, scope: &Scope, f: impl FnOnce() -> R) -> R {
        struct Restore<'a>(&'a Cell<*const Scope>, *const Scope);
        impl Drop for Restore<'_> {
            fn drop(&mut self) {
                self.0.set(self.1);
            }
        }
        let _restore = Restore(&self.current, self.current.replace(scope as *const Scope));
        f()
    }
}

/// Runs `f` with `scope` as the current component.
#[inline]
pub(crate) fn with_scope<R>(scope: &Scope, f: impl FnOnce() -> R) -> R {
    on_thread(|t| t.with_scope(scope, f))
}

/// Calls `f` with the current component, if plugin code of this library is running.
#[inline]
pub(crate) fn current_scope<R>(f: impl FnOnce(Option<&Scope>) -> R) -> R {
    let ptr = on_thread(|t| t.current.get());
    // SAFETY: the pointer is set only by `with_scope` for the duration of the call, during which
    // the scope is borrowed and so alive.
    f(unsafe { ptr.as_ref() })
}

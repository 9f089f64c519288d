//! Which component is running on this thread: plugin code runs inside its component's scope, so
//! that its log lines are tagged with it and reach the host through its services.

use crate::abi::ServicesBox;
use std::cell::Cell;

/// Who is running: the component whose code is on this thread right now.
pub(crate) struct Scope {
    pub name: String,
    pub services: ServicesBox,
}

thread_local! {
    static CURRENT: Cell<*const Scope> = const { Cell::new(std::ptr::null()) };
}

/// Runs `f` with `scope` as the current component (for log tagging). On every poll of plugin
/// code: inlined where it is called.
#[inline]
pub(crate) fn with_scope<R>(scope: &Scope, f: impl FnOnce() -> R) -> R {
    let previous = CURRENT.with(|c| c.replace(scope as *const Scope));
    struct Restore(*const Scope);
    impl Drop for Restore {
        fn drop(&mut self) {
            CURRENT.with(|c| c.set(self.0));
        }
    }
    let _restore = Restore(previous);
    f()
}

/// Calls `f` with the current component, if plugin code of this library is running.
#[inline]
pub(crate) fn current_scope<R>(f: impl FnOnce(Option<&Scope>) -> R) -> R {
    let ptr = CURRENT.with(|c| c.get());
    // SAFETY: the pointer is set only by `with_scope` for the duration of the call, during which
    // the scope is borrowed and so alive.
    f(unsafe { ptr.as_ref() })
}

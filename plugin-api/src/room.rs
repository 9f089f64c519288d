//! Room for the future of one consume. Each host consume loop keeps a pinned buffer, a
//! [`Room`], and lends it to the component it hands a delivery to: the plugin writes the future
//! of that delivery there instead of allocating it, and the host polls and drops it in place
//! through the plugin's own functions. A future larger than the room, or one handed an empty
//! slot, is boxed instead.

use abi_stable::StableAbi;
use async_ffi::{ContextExt, FfiContext, FfiPoll};
use std::{
    future::Future,
    marker::{PhantomData, PhantomPinned},
    mem::{ManuallyDrop, MaybeUninit},
    pin::Pin,
    task::{Context, Poll},
};

/// Bytes in a room (the consume futures of this tree's plugins take 224 to 464).
pub const ROOM_BYTES: usize = 1024;
/// The alignment of a room; a future that needs more is boxed.
pub const ROOM_ALIGN: usize = 16;

/// The space lent for one consume: `len` bytes at `ptr`, aligned to [`ROOM_ALIGN`], free to
/// write until the [`RoomFuture`] made in it is dropped. `len` 0 lends nothing.
#[repr(C)]
#[derive(StableAbi, Clone, Copy, Debug)]
pub struct RoomSlot {
    ptr: *mut u8,
    len: usize,
}

impl RoomSlot {
    /// No room: the future is boxed.
    pub const NONE: Self = Self {
        ptr: std::ptr::null_mut(),
        len: 0,
    };
}

/// The future of one consume, in the host's room or in a box, polled and dropped through the
/// functions of the library that made it. It borrows what the consume borrowed (`'a`).
#[repr(C)]
#[derive(StableAbi)]
pub struct RoomFuture<'a, T> {
    fut_ptr: *mut (),
    poll_fn: unsafe extern "C" fn(fut_ptr: *mut (), context: *mut FfiContext) -> FfiPoll<T>,
    drop_fn: unsafe extern "C" fn(fut_ptr: *mut ()),
    _marker: PhantomData<&'a ()>,
}

// SAFETY: made only from `Send` futures (`lodge`), which are polled and dropped through it alone.
unsafe impl<T: Send> Send for RoomFuture<'_, T> {}

impl<'a, T> RoomFuture<'a, T> {
    /// Places `fut` in `slot` when it fits there, and in a box otherwise. A panic in `fut`
    /// aborts: wrap it in the library's panic guard first.
    pub fn lodge<F: Future<Output = T> + Send + 'a>(slot: RoomSlot, fut: F) -> Self {
        Self::lodge_with(slot, || fut)
    }

    /// [`RoomFuture::lodge`] of the future `make` returns, made where it will stay: a future is
    /// as large as its largest state, and moving one copies all of it.
    pub fn lodge_with<F: Future<Output = T> + Send + 'a>(slot: RoomSlot, make: impl FnOnce() -> F) -> Self {
        unsafe extern "C" fn poll_fn<F: Future>(fut_ptr: *mut (), context: *mut FfiContext) -> FfiPoll<F::Output> {
            // SAFETY: `fut_ptr` is the `F` written by `lodge`, which stays where it is (in a
            // pinned room or a box) until `drop_fn`; `context` is the host's, for this poll.
            let fut = unsafe { Pin::new_unchecked(&mut *fut_ptr.cast::<F>()) };
            unsafe { (*context).with_context(|cx| fut.poll(cx)) }.into()
        }
        unsafe extern "C" fn drop_in_room<F>(fut_ptr: *mut ()) {
            // SAFETY: the `F` written by `lodge`, dropped once, where it is.
            unsafe { std::ptr::drop_in_place(fut_ptr.cast::<F>()) }
        }
        unsafe extern "C" fn drop_boxed<F>(fut_ptr: *mut ()) {
            // SAFETY: the box made by `lodge`, dropped once.
            drop(unsafe { Box::from_raw(fut_ptr.cast::<F>()) })
        }
        let fits = std::mem::size_of::<F>() <= slot.len && std::mem::align_of::<F>() <= ROOM_ALIGN;
        let (fut_ptr, drop_fn): (*mut (), unsafe extern "C" fn(*mut ())) = if fits {
            let at = slot.ptr.cast::<F>();
            // SAFETY: the host lent `len` bytes at `ptr`, aligned to ROOM_ALIGN, free until the
            // RoomFuture made here is dropped (`Room::run`).
            unsafe { at.write(make()) };
            (at.cast(), drop_in_room::<F>)
        } else {
            (Box::into_raw(Box::new(make())).cast(), drop_boxed::<F>)
        };
        Self {
            fut_ptr,
            poll_fn: poll_fn::<F>,
            drop_fn,
            _marker: PhantomData,
        }
    }
}

impl<T> Future for RoomFuture<'_, T> {
    type Output = T;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        // SAFETY: `poll_fn` and `fut_ptr` come together from `lodge`.
        match cx.with_ffi_context(|cx| unsafe { (self.poll_fn)(self.fut_ptr, cx) }) {
            FfiPoll::Ready(value) => Poll::Ready(value),
            FfiPoll::Pending => Poll::Pending,
            // `lodge`'s poll function never says so; a library that did broke the protocol.
            FfiPoll::Panicked => panic!("a plugin's consume future panicked across the boundary"),
        }
    }
}

impl<T> Drop for RoomFuture<'_, T> {
    fn drop(&mut self) {
        // SAFETY: `drop_fn` and `fut_ptr` come together from `lodge`; this is the one drop.
        unsafe { (self.drop_fn)(self.fut_ptr) }
    }
}

#[repr(C, align(16))]
struct Bytes([MaybeUninit<u8>; ROOM_BYTES]);

/// A consume loop's room. Keep it pinned where the loop runs (`std::pin::pin!`) and hand each
/// consume to [`Room::run`].
pub struct Room {
    bytes: Bytes,
    /// A future lives in the room. Cleared when it is dropped; one that is leaked instead keeps
    /// the room, and later consumes are boxed.
    occupied: bool,
    _pinned: PhantomPinned,
}

impl Default for Room {
    fn default() -> Self {
        Self::new()
    }
}

impl Room {
    pub const fn new() -> Self {
        Self {
            bytes: Bytes([MaybeUninit::uninit(); ROOM_BYTES]),
            occupied: false,
            _pinned: PhantomPinned,
        }
    }

    /// Starts one consume with the room lent to it (`start` calls the component with the slot).
    /// The room is taken until the returned future is dropped.
    pub fn run<'r, T>(self: Pin<&'r mut Self>, start: impl FnOnce(RoomSlot) -> RoomFuture<'r, T>) -> InRoom<'r, T> {
        // SAFETY: nothing is moved out of the room; its bytes are only lent.
        let room = unsafe { self.get_unchecked_mut() };
        let slot = if room.occupied {
            RoomSlot::NONE
        } else {
            RoomSlot {
                ptr: room.bytes.0.as_mut_ptr().cast(),
                len: ROOM_BYTES,
            }
        };
        let fut = start(slot);
        room.occupied = room.occupied || fut.fut_ptr == slot.ptr.cast();
        InRoom {
            fut: ManuallyDrop::new(fut),
            occupied: &mut room.occupied,
        }
    }
}

impl Drop for Room {
    fn drop(&mut self) {
        if self.occupied {
            // A future leaked in the room cannot be dropped now (what it borrowed may be gone),
            // and its memory must not be freed under it.
            eprintln!("ruvuma: a consume future was leaked in its room; aborting");
            std::process::abort();
        }
    }
}

/// One consume's future, in its room or boxed; dropping it frees the room.
pub struct InRoom<'r, T> {
    fut: ManuallyDrop<RoomFuture<'r, T>>,
    occupied: &'r mut bool,
}

impl<T> Future for InRoom<'_, T> {
    type Output = T;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        // SAFETY: the future is never moved out (its bytes are in the pinned room or a box).
        let this = unsafe { self.get_unchecked_mut() };
        Pin::new(&mut *this.fut).poll(cx)
    }
}

impl<T> Drop for InRoom<'_, T> {
    fn drop(&mut self) {
        // SAFETY: dropped once, here, before the room is marked free.
        unsafe { ManuallyDrop::drop(&mut self.fut) };
        *self.occupied = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    struct Counted(Arc<AtomicUsize>);
    impl Drop for Counted {
        fn drop(&mut self) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn block_on<F: Future>(fut: F) -> F::Output {
        let mut fut = std::pin::pin!(fut);
        let mut cx = Context::from_waker(std::task::Waker::noop());
        loop {
            if let Poll::Ready(v) = fut.as_mut().poll(&mut cx) {
                return v;
            }
        }
    }

    #[test]
    fn a_future_that_fits_is_made_in_the_room_and_dropped_there_once() {
        let drops = Arc::new(AtomicUsize::new(0));
        let mut room = std::pin::pin!(Room::new());
        let start = room.as_ref().get_ref().bytes.0.as_ptr() as usize;
        for i in 0..3 {
            let counted = Counted(drops.clone());
            let fut = room.as_mut().run(|slot| {
                RoomFuture::lodge(slot, async move {
                    let _held = counted;
                    tokio::task::yield_now().await;
                    i * 2
                })
            });
            assert_eq!(fut.fut.fut_ptr as usize, start, "lodged in the room");
            assert_eq!(block_on(fut), i * 2);
            assert_eq!(drops.load(Ordering::SeqCst), i + 1);
            assert!(!room.occupied);
        }
    }

    #[test]
    fn a_future_larger_than_the_room_is_boxed_and_the_room_stays_free() {
        let mut room = std::pin::pin!(Room::new());
        let start = room.as_ref().get_ref().bytes.0.as_ptr() as usize;
        let big = [7u8; ROOM_BYTES + 1];
        let fut = room
            .as_mut()
            .run(|slot| RoomFuture::lodge(slot, async move { big[ROOM_BYTES] }));
        assert_ne!(fut.fut.fut_ptr as usize, start);
        assert!(!*fut.occupied, "a boxed future leaves the room free");
        assert_eq!(block_on(fut), 7);
    }

    #[test]
    fn a_leaked_future_keeps_its_room_and_the_next_consume_is_boxed() {
        let mut room = Box::pin(Room::new());
        let leaked = room.as_mut().run(|slot| RoomFuture::lodge(slot, async { 1 }));
        std::mem::forget(leaked);
        let next = room.as_mut().run(|slot| {
            assert_eq!(slot.len, 0, "no room is lent while a future may live there");
            RoomFuture::lodge(slot, async { 2 })
        });
        assert_eq!(block_on(next), 2);
        // The room cannot be freed under the leaked future (dropping it would abort).
        std::mem::forget(room);
    }
}

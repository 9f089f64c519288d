//! The store's buffer: room for so many records and journal entries not yet written. A
//! publisher waits for room; one that must not wait (it is between two steps that belong
//! together) may overdraw it, and the overdraft is paid back first.

use std::sync::atomic::{AtomicUsize, Ordering};
use tokio::sync::Semaphore;

pub struct Room {
    permits: Semaphore,
    debt: AtomicUsize,
}

impl Room {
    pub fn new(size: usize) -> Self {
        Self {
            permits: Semaphore::new(size),
            debt: AtomicUsize::new(0),
        }
    }

    /// Takes one place, waiting while there is none; whether it had to wait.
    pub async fn take(&self) -> bool {
        if let Ok(p) = self.permits.try_acquire() {
            p.forget();
            return false;
        }
        if let Ok(p) = self.permits.acquire().await {
            p.forget();
        }
        true
    }

    /// Takes one place without waiting, overdrawing when there is none.
    pub fn take_now(&self) {
        match self.permits.try_acquire() {
            Ok(p) => p.forget(),
            Err(_) => {
                self.debt.fetch_add(1, Ordering::AcqRel);
            }
        }
    }

    /// Gives back `n` places written: the overdraft first.
    pub fn give(&self, n: usize) {
        let mut n = n;
        let _ = self.debt.fetch_update(Ordering::AcqRel, Ordering::Acquire, |debt| {
            let paid = debt.min(n);
            n -= paid;
            Some(debt - paid)
        });
        self.permits.add_permits(n);
    }

    pub fn available(&self) -> usize {
        self.permits.available_permits()
    }

    /// Places taken of `size` (with the overdraft): what waits to be written.
    pub fn held(&self, size: usize) -> usize {
        size.saturating_sub(self.available()) + self.debt.load(Ordering::Acquire)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn an_overdraft_is_paid_back_before_room_is_given() {
        let room = Room::new(1);
        assert!(!room.take().await);
        room.take_now();
        room.take_now();
        room.give(2);
        assert_eq!(room.available(), 0, "two overdrawn places paid back first");
        room.give(1);
        assert_eq!(room.available(), 1);
    }
}

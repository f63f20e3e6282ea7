//! The tools' allocator: small allocations from one static arena, bumped and
//! never given back, the rest from the C library.
//!
//! A tool lives for milliseconds and allocates a few hundred small strings,
//! paths and vectors. musl's allocator returns a group of freed slots to the
//! kernel at once, so that pattern costs an mmap and a munmap (with its TLB
//! shootdown) per group: measured, 60 of mkroot's 700 system calls. The arena
//! is .bss, so only the pages used are ever faulted in.
//!
//! Freeing is a no-op but for the latest allocation, which is taken back, and
//! grown in place (a `Vec` or `String` built up). Once the arena is used up,
//! or for a large or over-aligned block, the C library's allocator serves as
//! before: a long listing costs at most the arena's size in extra memory.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::UnsafeCell;
use std::sync::atomic::{AtomicUsize, Ordering};

const SIZE: usize = 512 * 1024;
/// Larger blocks go to the C library: they are few, and bump-allocated they would use up the arena.
const LARGEST: usize = 32 * 1024;
const MOST_ALIGNED: usize = 4096;
/// What C's malloc guarantees (max_align_t), and what code handing a buffer to
/// the C library may count on: nix's control-message buffer is a `Vec<u8>`
/// read as a `cmsghdr`.
const LEAST_ALIGNED: usize = 16;

#[repr(C, align(4096))]
struct Space(UnsafeCell<[u8; SIZE]>);

pub struct Arena {
    space: Space,
    /// Bytes of `space` handed out, the latest block ending here.
    used: AtomicUsize,
    /// Where the latest block starts, so it can be taken back or grown.
    latest: AtomicUsize,
}

// SAFETY: every byte of `space` belongs to at most one live block, decided by
// compare-and-swap on `used`; the arena never reads or writes the bytes itself.
unsafe impl Sync for Arena {}

impl Arena {
    pub const fn new() -> Self {
        Self { space: Space(UnsafeCell::new([0; SIZE])), used: AtomicUsize::new(0), latest: AtomicUsize::new(0) }
    }

    fn base(&self) -> *mut u8 {
        self.space.0.get().cast()
    }

    fn owns(&self, ptr: *mut u8) -> bool {
        let (start, at) = (self.base() as usize, ptr as usize);
        at >= start && at < start + SIZE
    }

    /// A block of `layout` from the arena, or None when it does not fit.
    fn bump(&self, layout: Layout) -> Option<*mut u8> {
        if layout.size() > LARGEST || layout.align() > MOST_ALIGNED {
            return None;
        }
        let mut used = self.used.load(Ordering::Relaxed);
        loop {
            let start = used.checked_next_multiple_of(layout.align().max(LEAST_ALIGNED))?;
            let end = start.checked_add(layout.size()).filter(|&end| end <= SIZE)?;
            match self.used.compare_exchange_weak(used, end, Ordering::AcqRel, Ordering::Relaxed) {
                Ok(_) => {
                    self.latest.store(start, Ordering::Release);
                    // SAFETY: start < end <= SIZE: within `space`.
                    return Some(unsafe { self.base().add(start) });
                }
                Err(now) => used = now,
            }
        }
    }

    /// Offset of `ptr` if it is the latest block, which ends at `used`.
    fn latest_block(&self, ptr: *mut u8, size: usize) -> Option<usize> {
        let start = ptr as usize - self.base() as usize;
        (self.latest.load(Ordering::Acquire) == start && self.used.load(Ordering::Acquire) == start + size)
            .then_some(start)
    }
}

impl Default for Arena {
    fn default() -> Self {
        Self::new()
    }
}

// SAFETY: blocks are disjoint, aligned as asked and of the size asked; blocks
// not from the arena go to and come back from `System` unchanged.
unsafe impl GlobalAlloc for Arena {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        match self.bump(layout) {
            Some(ptr) => ptr,
            // SAFETY: the caller's layout, passed on.
            None => unsafe { System.alloc(layout) },
        }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if !self.owns(ptr) {
            // SAFETY: a block System gave, with its layout.
            return unsafe { System.dealloc(ptr, layout) };
        }
        if let Some(start) = self.latest_block(ptr, layout.size()) {
            // Lost to a concurrent allocation, the block simply stays used.
            let _ = self.used.compare_exchange(start + layout.size(), start, Ordering::AcqRel, Ordering::Relaxed);
        }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if self.owns(ptr)
            && new_size <= LARGEST
            && let Some(start) = self.latest_block(ptr, layout.size())
            && start + new_size <= SIZE
            && self
                .used
                .compare_exchange(start + layout.size(), start + new_size, Ordering::AcqRel, Ordering::Relaxed)
                .is_ok()
        {
            return ptr;
        }
        if !self.owns(ptr) {
            // SAFETY: a block System gave, with its layout; System keeps it or moves it.
            return unsafe { System.realloc(ptr, layout, new_size) };
        }
        // SAFETY: new_size is non-zero and, rounded to the alignment, fits isize (GlobalAlloc's contract).
        let new_layout = unsafe { Layout::from_size_align_unchecked(new_size, layout.align()) };
        // SAFETY: as for alloc.
        let new = unsafe { self.alloc(new_layout) };
        if !new.is_null() {
            // SAFETY: both blocks are live, disjoint and at least min(old, new) bytes long.
            unsafe { std::ptr::copy_nonoverlapping(ptr, new, layout.size().min(new_size)) };
            // SAFETY: the old block, with its layout.
            unsafe { self.dealloc(ptr, layout) };
        }
        new
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layout(size: usize, align: usize) -> Layout {
        Layout::from_size_align(size, align).unwrap()
    }

    #[test]
    fn blocks_are_aligned_disjoint_and_the_latest_comes_back() {
        // A static, as in a tool: half a megabyte is too much for a test thread's stack.
        static ARENA: Arena = Arena::new();
        let arena = &ARENA;
        // SAFETY: the layouts are valid and non-zero; every block is freed with its layout.
        unsafe {
            let a = arena.alloc(layout(3, 1));
            let b = arena.alloc(layout(16, 1));
            assert!(arena.owns(a) && arena.owns(b));
            assert_eq!((a as usize % 16, b as usize % 16), (0, 0), "aligned as malloc would");
            assert!(b as usize >= a as usize + 3);
            arena.dealloc(b, layout(16, 1));
            let c = arena.alloc(layout(16, 1));
            assert_eq!(c, b, "the latest block is taken back");
            let grown = arena.realloc(c, layout(16, 1), 4000);
            assert_eq!(grown, c, "the latest block grows in place");
            let moved = arena.realloc(a, layout(3, 1), 10);
            assert_ne!(moved, a, "a block below the latest moves");
        }
    }

    #[test]
    fn large_and_overflowing_requests_go_to_the_c_library() {
        static ARENA: Arena = Arena::new();
        let arena = &ARENA;
        // SAFETY: as above.
        unsafe {
            let big = arena.alloc(layout(LARGEST + 1, 8));
            assert!(!big.is_null() && !arena.owns(big));
            arena.dealloc(big, layout(LARGEST + 1, 8));
            let mut last = std::ptr::null_mut();
            for _ in 0..(SIZE / LARGEST + 2) {
                last = arena.alloc(layout(LARGEST, 8));
                assert!(!last.is_null());
            }
            assert!(!arena.owns(last), "a full arena hands over to the C library");
            arena.dealloc(last, layout(LARGEST, 8));
            let grown = arena.realloc(arena.alloc(layout(8, 8)), layout(8, 8), LARGEST * 2);
            assert!(!grown.is_null() && !arena.owns(grown));
            arena.dealloc(grown, layout(LARGEST * 2, 8));
        }
    }
}

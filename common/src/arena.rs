//! The tools' allocator: small allocations from one static arena, bumped and
//! taken back in the order they were made, the rest from the C library.
//!
//! A tool lives for milliseconds and allocates a few hundred small strings,
//! paths and vectors. musl's allocator returns a group of freed slots to the
//! kernel at once, so that pattern costs an mmap and a munmap (with its TLB
//! shootdown) per group: measured, 60 of mkroot's 700 system calls. The arena
//! is .bss, so only the pages used are ever faulted in.
//!
//! The arena remembers where its latest blocks start, and which of them are
//! freed. Freeing the latest one takes it back, with every freed one below it,
//! so the usual patterns (a path, a buffer read through it, dropped in either
//! order) leave nothing behind, even in a waiting tool that reads a file every
//! tick. The latest block also grows in place (a `Vec` or `String` built up).
//! A block older than what the arena remembers stays used once freed. Once the arena is used up, or for a large or
//! over-aligned block, the C library's allocator serves as before: at most the
//! arena's size in extra memory.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::UnsafeCell;
use std::sync::atomic::{AtomicBool, Ordering};

const SIZE: usize = 512 * 1024;
/// Larger blocks go to the C library: they are few, and bump-allocated they would use up the arena.
const LARGEST: usize = 32 * 1024;
const MOST_ALIGNED: usize = 4096;
/// What C's malloc guarantees (max_align_t), and what code handing a buffer to
/// the C library may count on: nix's control-message buffer is a `Vec<u8>`
/// read as a `cmsghdr`.
const LEAST_ALIGNED: usize = 16;
/// How many of the latest blocks can be taken back, newest first.
const REMEMBERED: usize = 32;

#[repr(C, align(4096))]
struct Space(UnsafeCell<[u8; SIZE]>);

struct State {
    /// Bytes of the space handed out.
    used: usize,
    /// Where the latest blocks start, oldest first; `starts[..depth]` are remembered.
    starts: [usize; REMEMBERED],
    /// Which of them are freed already, waiting for those above them.
    freed: [bool; REMEMBERED],
    depth: usize,
}

impl State {
    fn top(&self) -> Option<usize> {
        self.depth.checked_sub(1).map(|i| self.starts[i])
    }

    fn push(&mut self, start: usize) {
        if self.depth == REMEMBERED {
            // The oldest is forgotten: it will stay used.
            self.starts.copy_within(1.., 0);
            self.freed.copy_within(1.., 0);
            self.depth -= 1;
        }
        self.starts[self.depth] = start;
        self.freed[self.depth] = false;
        self.depth += 1;
    }

    /// Free the block at `start`: the latest is taken back with every freed
    /// one below it; another remembered one waits, marked.
    fn free(&mut self, start: usize) {
        if self.top() == Some(start) {
            self.depth -= 1;
            self.used = start;
            while let Some(below) = self.top().filter(|_| self.freed[self.depth - 1]) {
                self.depth -= 1;
                self.used = below;
            }
        } else if let Some(i) = self.starts[..self.depth].iter().rposition(|&s| s == start) {
            self.freed[i] = true;
        }
    }
}

pub struct Arena {
    space: Space,
    locked: AtomicBool,
    state: UnsafeCell<State>,
}

// SAFETY: the state is only touched under `locked`; every byte of the space
// belongs to at most one live block, and the arena never reads or writes the
// blocks' bytes itself.
unsafe impl Sync for Arena {}

impl Arena {
    pub const fn new() -> Self {
        Self {
            space: Space(UnsafeCell::new([0; SIZE])),
            locked: AtomicBool::new(false),
            state: UnsafeCell::new(State { used: 0, starts: [0; REMEMBERED], freed: [false; REMEMBERED], depth: 0 }),
        }
    }

    /// `f` on the state, alone. The tools are single-threaded and allocate in
    /// no signal handler, so the lock is never waited for; it keeps the arena
    /// sound all the same.
    fn with<R>(&self, f: impl FnOnce(&mut State) -> R) -> R {
        while self.locked.compare_exchange_weak(false, true, Ordering::Acquire, Ordering::Relaxed).is_err() {
            std::hint::spin_loop();
        }
        // SAFETY: `locked` is ours until the store below: nobody else touches the state.
        let result = f(unsafe { &mut *self.state.get() });
        self.locked.store(false, Ordering::Release);
        result
    }

    fn base(&self) -> *mut u8 {
        self.space.0.get().cast()
    }

    fn owns(&self, ptr: *mut u8) -> bool {
        let (start, at) = (self.base() as usize, ptr as usize);
        at >= start && at < start + SIZE
    }

    fn offset(&self, ptr: *mut u8) -> usize {
        ptr as usize - self.base() as usize
    }

    /// A block of `layout` from the arena, or None when it does not fit.
    fn bump(&self, layout: Layout) -> Option<*mut u8> {
        if layout.size() > LARGEST || layout.align() > MOST_ALIGNED {
            return None;
        }
        let start = self.with(|s| {
            let start = s.used.checked_next_multiple_of(layout.align().max(LEAST_ALIGNED))?;
            let end = start.checked_add(layout.size()).filter(|&end| end <= SIZE)?;
            s.used = end;
            s.push(start);
            Some(start)
        })?;
        // SAFETY: start < SIZE: within the space.
        Some(unsafe { self.base().add(start) })
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
        let start = self.offset(ptr);
        self.with(|s| s.free(start));
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if !self.owns(ptr) {
            // SAFETY: a block System gave, with its layout; System keeps it or moves it.
            return unsafe { System.realloc(ptr, layout, new_size) };
        }
        let start = self.offset(ptr);
        let in_place = new_size <= LARGEST
            && self.with(|s| {
                let fits = s.top() == Some(start) && start + new_size <= SIZE;
                if fits {
                    s.used = start + new_size;
                }
                fits
            });
        if in_place {
            return ptr;
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

    fn used(arena: &Arena) -> usize {
        arena.with(|s| s.used)
    }

    #[test]
    fn blocks_are_aligned_disjoint_and_come_back_newest_first() {
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
            arena.dealloc(grown, layout(4000, 1));
            arena.dealloc(a, layout(3, 1));
            assert_eq!(used(arena), 0, "a path and the buffer read into it, both dropped, leave nothing");
            let d = arena.alloc(layout(8, 8));
            let e = arena.alloc(layout(8, 8));
            let moved = arena.realloc(d, layout(8, 8), 10);
            assert_ne!(moved, d, "a block below the latest moves");
            arena.dealloc(moved, layout(10, 8));
            arena.dealloc(e, layout(8, 8));
            assert_eq!(used(arena), 0, "freed out of order, they all come back at the end");
        }
    }

    #[test]
    fn a_waiting_tool_reading_every_tick_stays_in_place() {
        static ARENA: Arena = Arena::new();
        let arena = &ARENA;
        // SAFETY: as above.
        unsafe {
            let keep = arena.alloc(layout(100, 8));
            // A path, a file read through it into a growing buffer; the path dropped first.
            let tick = || {
                let path = arena.alloc(layout(60, 1));
                let mut buf = arena.alloc(layout(32, 1));
                buf = arena.realloc(buf, layout(32, 1), 64);
                arena.dealloc(path, layout(60, 1));
                arena.dealloc(buf, layout(64, 1));
            };
            tick();
            let after_one = used(arena);
            for _ in 0..10_000 {
                tick();
            }
            assert_eq!(used(arena), after_one);
            arena.dealloc(keep, layout(100, 8));
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

    #[test]
    fn past_what_it_remembers_the_oldest_blocks_stay_used() {
        static ARENA: Arena = Arena::new();
        let arena = &ARENA;
        // SAFETY: as above.
        unsafe {
            let blocks: Vec<*mut u8> = (0..REMEMBERED + 3).map(|_| arena.alloc(layout(16, 16))).collect();
            for &b in blocks.iter().rev() {
                arena.dealloc(b, layout(16, 16));
            }
            assert_eq!(used(arena), 3 * 16, "the three forgotten blocks stay");
        }
    }
}

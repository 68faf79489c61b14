//! Handing freed memory back to the system after a large load.
//!
//! Loading entities parses every record (JSON values, then Cedar's), keeps the compact result
//! and frees the rest; glibc's allocator keeps most of those freed pages for later instead of
//! returning them, so a server that loaded 220,000 entities would go on holding twice the
//! memory its store needs. `malloc_trim` returns them; elsewhere this does nothing. Also: how
//! much a load keeps (`allocated`), for the tenants' memory budget.

/// Returns the allocator's free pages to the system (glibc only).
pub fn release_freed() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: `malloc_trim` only walks the allocator's own free lists; it has no preconditions.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Bytes the allocator has handed out and not had back (glibc: every arena's in-use chunks
/// and mmapped blocks), for measuring what a load keeps; `None` where it cannot be read.
pub fn allocated() -> Option<u64> {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: `mallinfo2` reads the allocator's statistics; it has no preconditions.
        let info = unsafe { libc::mallinfo2() };
        u64::try_from(info.uordblks.saturating_add(info.hblkhd)).ok()
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    {
        None
    }
}

//! Handing freed memory back to the system after a large load.
//!
//! Loading entities parses every record (JSON values, then Cedar's), keeps the compact result
//! and frees the rest; glibc's allocator keeps most of those freed pages for later instead of
//! returning them, so a server that loaded 220,000 entities would go on holding twice the
//! memory its store needs. `malloc_trim` returns them; elsewhere this does nothing.

/// Returns the allocator's free pages to the system (glibc only).
pub fn release_freed() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: `malloc_trim` only walks the allocator's own free lists; it has no preconditions.
    unsafe {
        libc::malloc_trim(0);
    }
}

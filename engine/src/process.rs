//! Process set-up shared by `ipsecd` and `racoon`.

/// Detach: fork (parent exits 0), setsid, fork, chdir /, stdio to /dev/null.
/// Must run before any thread exists.
pub fn daemonize() -> std::io::Result<()> {
    // SAFETY: single-threaded here (no runtime yet); the parents leave with
    // _exit without running destructors.
    unsafe {
        match libc::fork() {
            -1 => return Err(std::io::Error::last_os_error()),
            0 => {}
            _ => libc::_exit(0),
        }
        if libc::setsid() == -1 {
            return Err(std::io::Error::last_os_error());
        }
        match libc::fork() {
            -1 => return Err(std::io::Error::last_os_error()),
            0 => {}
            _ => libc::_exit(0),
        }
        if libc::chdir(c"/".as_ptr()) == -1 {
            return Err(std::io::Error::last_os_error());
        }
        let fd = libc::open(c"/dev/null".as_ptr(), libc::O_RDWR);
        if fd >= 0 {
            libc::dup2(fd, 0);
            libc::dup2(fd, 1);
            libc::dup2(fd, 2);
            if fd > 2 {
                libc::close(fd);
            }
        }
    }
    Ok(())
}

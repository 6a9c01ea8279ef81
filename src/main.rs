use std::process::ExitCode;

fn main() -> ExitCode {
    // Everything this process creates is private to its owner.
    // SAFETY: umask only changes this process's file creation mask.
    unsafe {
        libc::umask(0o077);
    }
    windflow::cli::main()
}

//! stdout that reports a write error instead of panicking (`println!` panics
//! on a full or closed stdout): `outln!` and `out!` return `io::Result`, so
//! `synlab list > /dev/full` ends with one line and exit 2, and
//! `synlab run --all | head -1` stops quietly once `head` is gone
//! ([`closed`] tells that error apart).

use std::io::Write;

/// Write the formatted text and a newline to stdout; `Err` when stdout is
/// full, closed or gone.
macro_rules! outln {
    ($($arg:tt)*) => {
        $crate::stdout::write(format_args!("{}\n", format_args!($($arg)*)))
    };
}

/// Write the formatted text to stdout; `Err` as for `outln!`.
macro_rules! out {
    ($($arg:tt)*) => {
        $crate::stdout::write(format_args!($($arg)*))
    };
}

pub(crate) use {out, outln};

/// Write `args` to stdout and flush it.
pub fn write(args: std::fmt::Arguments) -> std::io::Result<()> {
    let mut o = std::io::stdout().lock();
    o.write_fmt(args)?;
    o.flush()
}

/// The error (or one of its causes) is stdout's reader having gone (EPIPE:
/// `| head`), which a tool ends on quietly.
pub fn closed(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

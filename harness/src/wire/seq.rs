//! Sequence numbers and timestamp values: 32-bit counters that wrap, compared
//! the way the kernel compares them (`before()`/`after()` in include/net/tcp.h,
//! RFC 1982 serial numbers), in the style of smoltcp's `TcpSeqNumber`. The
//! difference of two is a signed distance within ±2^31; adding an offset wraps.

use std::cmp::Ordering;
use std::fmt;
use std::ops::{Add, Sub};

use serde::Serialize;

macro_rules! wrapping_u32 {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, Default, Serialize)]
        #[serde(transparent)]
        pub struct $name(pub u32);

        impl $name {
            /// Strictly later than `other` (`after()` in include/net/tcp.h).
            pub fn after(self, other: $name) -> bool {
                self - other > 0
            }
        }

        /// `self + offset`, mod 2^32 (the offset may be negative).
        impl Add<i64> for $name {
            type Output = $name;
            fn add(self, offset: i64) -> $name {
                // Truncation is reduction mod 2^32, which is the arithmetic wanted.
                $name(self.0.wrapping_add(offset as u32))
            }
        }

        /// `self - offset`, mod 2^32.
        impl Sub<i64> for $name {
            type Output = $name;
            fn sub(self, offset: i64) -> $name {
                // Truncation is reduction mod 2^32, as in `add`.
                $name(self.0.wrapping_sub(offset as u32))
            }
        }

        /// The signed distance `self - other`, within ±2^31.
        impl Sub for $name {
            type Output = i64;
            fn sub(self, other: $name) -> i64 {
                i64::from(self.0.wrapping_sub(other.0) as i32)
            }
        }

        /// Ordered by the signed distance: `a < b` when `b` is after `a`. Not a
        /// total order (the sequence space is a circle), hence no `Ord`.
        impl PartialOrd for $name {
            fn partial_cmp(&self, other: &$name) -> Option<Ordering> {
                Some((*self - *other).cmp(&0))
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&self.0, f)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), self.0)
            }
        }
    };
}

wrapping_u32!(
    /// A TCP sequence (or acknowledgment) number.
    Seq
);
wrapping_u32!(
    /// A TCP timestamp option value (`tsval` or `tsecr`): milliseconds plus a
    /// per-connection offset on Linux; compared like sequence numbers (PAWS,
    /// RFC 7323).
    TsVal
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distance_is_signed_across_the_wrap() {
        assert_eq!(Seq(5) - Seq(u32::MAX - 4), 10);
        assert_eq!(Seq(u32::MAX - 4) - Seq(5), -10);
        assert_eq!(Seq(15) - Seq(10), 5);
        assert_eq!(Seq(0x7fff_ffff) - Seq(0), 2_147_483_647);
        assert_eq!(Seq(0x8000_0000) - Seq(0), -2_147_483_648);
    }

    #[test]
    fn adding_an_offset_wraps_both_ways() {
        assert_eq!(Seq(3) + -1000, Seq(3u32.wrapping_sub(1000)));
        assert_eq!(Seq(u32::MAX) + 2, Seq(1));
        assert_eq!(Seq(0) - 1, Seq(u32::MAX));
        assert_eq!(Seq(5) - 1000, Seq(u32::MAX - 994));
        assert_eq!(Seq(0) + 2_147_483_647, Seq(0x7fff_ffff));
        assert_eq!(Seq(0) + -2_147_483_647, Seq(0x8000_0001));
        // Offsets beyond ±2^32 still reduce mod 2^32.
        assert_eq!(Seq(1) + (1 << 32), Seq(1));
        assert_eq!(Seq(1) + -(1 << 32), Seq(1));
    }

    #[test]
    fn distance_inverts_adding() {
        for base in [0, 1, 1000, u32::MAX / 2, u32::MAX - 1, u32::MAX] {
            for off in [0, 1, -1, 1000, -1000, 2_147_483_647, -2_147_483_647] {
                assert_eq!((Seq(base) + off) - Seq(base), off, "{base} {off}");
                assert_eq!((TsVal(base) + off) - TsVal(base), off, "{base} {off}");
            }
        }
    }

    #[test]
    fn order_is_after_in_sequence_space() {
        assert!(Seq(1).after(Seq(u32::MAX)));
        assert!(Seq(u32::MAX) < Seq(1));
        assert!(!Seq(7).after(Seq(7)));
        assert!(Seq(7) <= Seq(7));
        assert!(!Seq(u32::MAX).after(Seq(1)));
        assert!(TsVal(10) > TsVal(9));
        assert!(TsVal(0) > TsVal(u32::MAX));
    }

    #[test]
    fn serialises_as_the_plain_number() {
        assert_eq!(
            serde_json::to_string(&Seq(4_294_967_295)).unwrap(),
            "4294967295"
        );
        assert_eq!(serde_json::to_string(&Some(TsVal(7))).unwrap(), "7");
    }
}

//! The two ends of the experiment: the kernel server (accepts, closes first), the
//! kernel client (fixed source port, optional forced ISN) and the raw scripted peer.
pub mod kernel;
pub mod raw;

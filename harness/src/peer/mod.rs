//! The two ends of the experiment: the kernel server (accepts, closes first) and
//! the kernel client (fixed source port, optional forced ISN).
pub mod kernel;

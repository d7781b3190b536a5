//! Test-only (compiled under `cfg(test)` alone): the tests of the state trace
//! that reach its internals. `fixtures.rs` holds format files and a perf ring
//! captured on Linux 6.18 for the decoder's unit tests (no privilege needed);
//! `net.rs` runs real connections in private network namespaces on the shared
//! trace (root), with the helpers of `netrun.rs`. What a case's trace shows
//! end to end is tested through `synlab run` in the workspace's `tests/trace.rs`.

pub(super) mod fixtures;
mod net;
mod netrun;

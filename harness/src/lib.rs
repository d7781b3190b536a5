//! synlab: real Linux TCP stacks in throw-away network namespaces, driven by
//! declarative scenario files and judged against what the kernel really does.
//!
//! Flow: `scenario` (parse, validate, expand the matrix) -> `lab` (namespaces,
//! veth, addresses, sysctls) -> `peer` (server and client) -> `observe`
//! (capture, sock_diag, counters) -> `judge` (outcome vs expectation) -> `report`.

pub mod bench;
pub mod error;
pub mod judge;
pub mod lab;
pub mod observe;
pub mod peer;
pub mod report;
pub mod rootless;
pub mod rules;
pub mod run;
pub mod scenario;
pub mod wire;

pub use error::Error;

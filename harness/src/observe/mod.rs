//! Observation, independent of the code that sends: capture on the server's veth,
//! sock_diag (TIME_WAIT), MIB counters, a router's conntrack table.
pub mod capture;
pub mod conntrack;
pub mod counters;
pub mod diag;
pub mod pcap;
pub mod trace;

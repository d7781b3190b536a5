//! Reports of finished cases, all through one interface ([`Reporter`], fed
//! the same events for the running kernel and for every kernel booted in a
//! VM): the human timeline and verdict (`console`, rendered by `text`), one
//! JSON object per case (Contract 2), JUnit XML and KTAP for CI systems, and
//! a self-contained HTML page. `case_end` makes each case's event,
//! `record` is the neutral part every output reads, `table` compares kernels.
pub mod artifacts;
mod case_end;
mod console;
mod error_text;
mod events;
#[cfg(test)]
pub(crate) mod fixtures;
pub mod html;
pub mod json;
pub mod junit;
pub mod ktap;
mod markup;
pub mod phrase;
pub mod record;
pub mod table;
pub mod text;
pub mod timeline;
#[cfg(test)]
mod wrong_model_tests;

pub use artifacts::{
    default_dir as default_artifacts_dir, from_env as artifacts_from_env, write_pcap,
};
pub use case_end::CaseEnd;
pub use console::TextReporter;
pub use events::{
    FanOut, KernelEnd, KernelInfo, ReportError, Reporter, RunEnd, RunInfo, report_case,
};
pub use html::HtmlReporter;
pub use html::write as write_html;
pub use json::JsonReporter;
pub use json::schema as json_schema;
pub use junit::JunitReporter;
pub use ktap::KtapReporter;
pub use text::{error as error_text, render as render_text};
pub use timeline::plain as timeline_plain;

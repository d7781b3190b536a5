//! Reports of a finished case: a human timeline with relative numbers and the
//! verdict, one JSON object per case (contract 2 in shared/README.md), and the
//! run as JUnit XML or KTAP for CI systems.
pub mod artifacts;
#[cfg(test)]
mod fixtures;
pub mod html;
pub mod json;
pub mod junit;
pub mod ktap;
mod markup;
pub mod phrase;
pub mod record;
pub mod text;
pub mod timeline;

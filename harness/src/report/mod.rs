//! Reports of a finished case: a human timeline with relative numbers and the
//! verdict, or one JSON object per case (contract 2 in shared/README.md).
pub mod artifacts;
#[cfg(test)]
mod fixtures;
pub mod html;
pub mod json;
pub mod phrase;
pub mod text;
pub mod timeline;

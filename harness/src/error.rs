//! The library's top-level error: one variant per layer.

use crate::lab::LabError;
use crate::run::RunError;
use crate::scenario::ScenarioError;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Scenario(#[from] ScenarioError),
    #[error(transparent)]
    Lab(#[from] LabError),
    #[error(transparent)]
    Run(#[from] RunError),
}

//! Reading a scenario file, below what its tables mean: the values exactly as
//! TOML spells them with their positions (`raw`), a setting that is one value
//! or a matrix axis (`setting`), the checker every table's reader shares and
//! the errors it gathers at `file:line:column` (`check`, `error`), and the
//! relative expressions of seq and tsval (`expr`). The scenario's tables
//! (`scenario/`), each event kind (`event/`) and the expectations (`expect/`)
//! are read with it; it imports none of them.

pub(crate) mod check;
pub(crate) mod error;
pub(crate) mod expr;
pub(crate) mod raw;
pub(crate) mod setting;

//! The case-by-kernel table of rows written elsewhere (`synlab table`, and
//! the bench that reads back the rows of a whole run): the rows files read
//! into kernel runs (`json::read`), each row made the [`Record`] a `--kernel`
//! run makes of it, and the one [`Table`] both print.

use super::case_end::CaseEnd;
use super::json::read::{self, ReadError};
use super::record::{Record, Tally};
use super::table::{Column, Table};

/// One kernel run of the files: its release, where it came from (`FILE`,
/// `FILE:LINE`) and a record per row.
pub struct KernelRecords {
    pub release: String,
    pub origin: String,
    pub records: Vec<Record>,
}

/// The kernel runs of some rows files and their table.
pub struct RowsTable {
    pub runs: Vec<KernelRecords>,
    table: Table,
}

/// The table of `files` (each its name and its text), a column per kernel
/// run in the order the files hold them; or every line that is not a row
/// and every file without rows.
pub fn rows_table(files: &[(String, String)]) -> Result<RowsTable, Vec<ReadError>> {
    let (runs, errors) = read::kernel_runs(files);
    if !errors.is_empty() {
        return Err(errors);
    }
    let runs: Vec<KernelRecords> = runs
        .iter()
        .map(|run| KernelRecords {
            release: run.release.clone(),
            origin: run.origin(&runs),
            records: run
                .rows
                .iter()
                .filter_map(|r| CaseEnd::from_row(r.clone()))
                .map(|end| end.record)
                .collect(),
        })
        .collect();
    let columns: Vec<Column> = runs
        .iter()
        .map(|run| Column {
            release: run.release.clone(),
            origin: run.origin.clone(),
            cells: Some(&run.records),
        })
        .collect();
    let table = Table::new(&[], &columns);
    Ok(RowsTable { runs, table })
}

impl RowsTable {
    /// As a `--kernel` run prints it at its end (without the empty line before).
    pub fn text(&self) -> String {
        self.table.text().trim_start_matches('\n').to_owned()
    }

    /// As a Markdown table.
    pub fn markdown(&self) -> String {
        self.table.markdown()
    }

    /// The counts of every row of every run.
    pub fn tally(&self) -> Tally {
        Tally::of(self.runs.iter().flat_map(|r| &r.records))
    }
}

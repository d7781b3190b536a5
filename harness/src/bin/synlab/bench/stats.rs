//! Summaries of timing samples: the first (cold) run, nearest-rank p50 and p95.

use std::time::Duration;

/// Summary of one row's samples.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stats {
    pub runs: usize,
    /// The first run (cold: first namespace, first trace of the process).
    pub first: Duration,
    pub p50: Duration,
    pub p95: Duration,
}

impl Stats {
    /// Summarises `samples` in the order they were taken; `None` when empty.
    pub fn of(samples: &[Duration]) -> Option<Stats> {
        let first = *samples.first()?;
        let mut sorted = samples.to_vec();
        sorted.sort();
        Some(Stats {
            runs: samples.len(),
            first,
            p50: percentile(&sorted, 50.0),
            p95: percentile(&sorted, 95.0),
        })
    }
}

/// The nearest-rank percentile `p` (0 < p <= 100) of `sorted` (ascending): the
/// smallest sample that at least p % of the samples are not above. Zero when empty.
pub fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(v: &[u64]) -> Vec<Duration> {
        v.iter().map(|&m| Duration::from_millis(m)).collect()
    }

    #[test]
    fn percentiles_are_nearest_rank() {
        let sorted = ms(&(1..=100).collect::<Vec<_>>());
        assert_eq!(percentile(&sorted, 50.0), Duration::from_millis(50));
        assert_eq!(percentile(&sorted, 95.0), Duration::from_millis(95));
        assert_eq!(percentile(&sorted, 100.0), Duration::from_millis(100));
        let three = ms(&[10, 20, 30]);
        assert_eq!(percentile(&three, 50.0), Duration::from_millis(20));
        assert_eq!(percentile(&three, 95.0), Duration::from_millis(30));
        assert_eq!(percentile(&ms(&[7]), 95.0), Duration::from_millis(7));
        assert_eq!(percentile(&[], 50.0), Duration::ZERO);
    }

    #[test]
    fn stats_keep_the_first_sample_and_sort_the_rest() {
        let s = Stats::of(&ms(&[90, 10, 30, 20, 40])).unwrap();
        assert_eq!(s.runs, 5);
        assert_eq!(s.first, Duration::from_millis(90));
        assert_eq!(s.p50, Duration::from_millis(30));
        assert_eq!(s.p95, Duration::from_millis(90));
        assert_eq!(Stats::of(&[]), None);
    }
}

//! An honest wait estimate: a moving average of how long recent seekers of a program waited
//! before a match, scaled by queue position over the peers able to serve.
//!
//! "Honest" means the relay says nothing (`None`) when it has no data or nobody is online,
//! rather than inventing a number a distressed seeker would hold it to.

use std::time::Duration;

/// Weight of the newest sample in the exponential moving average.
const ALPHA: f64 = 0.25;

/// Per-program moving average of match waits.
#[derive(Clone, Debug, Default)]
pub struct WaitEstimator {
    average_secs: Option<f64>,
}

impl WaitEstimator {
    /// Records how long a matched seeker waited.
    pub fn record(&mut self, waited: Duration) {
        let sample = waited.as_secs_f64();
        self.average_secs = Some(match self.average_secs {
            None => sample,
            Some(avg) => avg + ALPHA * (sample - avg),
        });
    }

    /// Estimated seconds for the seeker at `position` (1 = next) with `serving` peers online.
    /// `None` when there is no sample yet or no peer online.
    pub fn estimate_secs(&self, position: u32, serving: u32) -> Option<u32> {
        let average = self.average_secs?;
        if serving == 0 || position == 0 {
            return None;
        }
        let rounds = position.div_ceil(serving);
        let secs = (average * f64::from(rounds)).ceil();
        // Saturating conversion: a float beyond u32 becomes u32::MAX.
        Some(if secs >= f64::from(u32::MAX) {
            u32::MAX
        } else {
            secs.max(0.0) as u32
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_data_means_no_estimate() {
        let estimator = WaitEstimator::default();
        assert_eq!(estimator.estimate_secs(1, 3), None);
    }

    #[test]
    fn estimate_scales_with_position_and_peers() {
        let mut estimator = WaitEstimator::default();
        estimator.record(Duration::from_secs(10));
        assert_eq!(estimator.estimate_secs(1, 1), Some(10));
        assert_eq!(estimator.estimate_secs(3, 1), Some(30));
        assert_eq!(estimator.estimate_secs(3, 2), Some(20));
        assert_eq!(estimator.estimate_secs(1, 0), None);
        estimator.record(Duration::from_secs(30));
        assert_eq!(estimator.estimate_secs(1, 1), Some(15));
    }
}

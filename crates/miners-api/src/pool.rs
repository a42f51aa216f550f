//! A bounded number of requests in flight, results handed back on the
//! caller's thread as they finish.

use std::{
    ops::ControlFlow,
    sync::{
        atomic::{AtomicBool, AtomicUsize, Ordering},
        mpsc,
    },
};

/// Runs `work` on every job with at most `limit` running at once, calling
/// `deliver(index, result)` on this thread as each finishes (in any order).
/// After the first error, or a delivery that returns [`ControlFlow::Break`],
/// no new job starts; the ones running still finish and are delivered, then
/// the first error (if any) is returned.
pub fn in_flight<J, R, E>(
    jobs: &[J],
    limit: usize,
    work: impl Fn(&J) -> Result<R, E> + Sync,
    mut deliver: impl FnMut(usize, R) -> ControlFlow<()>,
) -> Result<(), E>
where
    J: Sync,
    R: Send,
    E: Send,
{
    let next = AtomicUsize::new(0);
    // A failure or a delivery that says stop: no job starts after it.
    let stopped = AtomicBool::new(false);
    let (sender, receiver) = mpsc::channel();
    std::thread::scope(|scope| {
        for _ in 0..limit.clamp(1, jobs.len().max(1)) {
            let sender = sender.clone();
            let (next, stopped, work) = (&next, &stopped, &work);
            scope.spawn(move || {
                while !stopped.load(Ordering::Acquire) {
                    let index = next.fetch_add(1, Ordering::AcqRel);
                    let Some(job) = jobs.get(index) else { break };
                    let result = work(job);
                    if result.is_err() {
                        stopped.store(true, Ordering::Release);
                    }
                    if sender.send((index, result)).is_err() {
                        break;
                    }
                }
            });
        }
        drop(sender);
        let mut first_error = None;
        for (index, result) in receiver {
            match result {
                Ok(value) => {
                    if deliver(index, value).is_break() {
                        stopped.store(true, Ordering::Release);
                    }
                }
                Err(error) => {
                    first_error.get_or_insert(error);
                }
            }
        }
        first_error.map_or(Ok(()), Err)
    })
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn never_more_than_the_limit_run_and_every_result_arrives() {
        let running = AtomicUsize::new(0);
        let peak = AtomicUsize::new(0);
        let jobs: Vec<usize> = (0..40).collect();
        let mut got = vec![None; jobs.len()];
        in_flight(
            &jobs,
            3,
            |&j| {
                let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                peak.fetch_max(now, Ordering::SeqCst);
                std::thread::sleep(Duration::from_millis(2));
                running.fetch_sub(1, Ordering::SeqCst);
                Ok::<_, ()>(j * 10)
            },
            |i, r| {
                got[i] = Some(r);
                ControlFlow::Continue(())
            },
        )
        .unwrap();
        assert_eq!(peak.load(Ordering::SeqCst), 3);
        assert!(got.iter().enumerate().all(|(i, r)| *r == Some(i * 10)));
    }

    #[test]
    fn after_an_error_no_job_starts_and_finished_ones_are_still_delivered() {
        let jobs: Vec<usize> = (0..100).collect();
        let started = AtomicUsize::new(0);
        let mut delivered = Vec::new();
        let err = in_flight(
            &jobs,
            2,
            |&j| {
                started.fetch_add(1, Ordering::SeqCst);
                std::thread::sleep(Duration::from_millis(2));
                if j == 5 {
                    Err(format!("job {j}"))
                } else {
                    Ok(j)
                }
            },
            |_, r| {
                delivered.push(r);
                ControlFlow::Continue(())
            },
        )
        .unwrap_err();
        assert_eq!(err, "job 5");
        assert!(started.load(Ordering::SeqCst) < 10);
        assert!(delivered.contains(&4));
        assert_eq!(delivered.len() + 1, started.load(Ordering::SeqCst));
    }

    #[test]
    fn a_delivery_that_says_stop_starts_no_more_jobs() {
        let jobs: Vec<usize> = (0..100).collect();
        let started = AtomicUsize::new(0);
        let mut delivered = 0;
        in_flight(
            &jobs,
            2,
            |&j| {
                started.fetch_add(1, Ordering::SeqCst);
                std::thread::sleep(Duration::from_millis(2));
                Ok::<_, ()>(j)
            },
            |_, _| {
                delivered += 1;
                match delivered {
                    3 => ControlFlow::Break(()),
                    _ => ControlFlow::Continue(()),
                }
            },
        )
        .unwrap();
        // The jobs under way when it said stop still arrive; no others start.
        assert!(started.load(Ordering::SeqCst) < 10);
        assert_eq!(delivered, started.load(Ordering::SeqCst));
    }

    #[test]
    fn no_jobs_is_no_work() {
        in_flight(&[] as &[u8], 4, |_| Ok::<_, ()>(()), |_, _| panic!()).unwrap();
    }
}

//! Every team's poll in one run (docs/teams.md): the teams' pollers run concurrently, each
//! with its own key, pacer, checkpoint and lease, all until the same deadline, so a
//! backfill of several teams takes about as long as the slowest one. One team's failure (a
//! revoked key, a 500) ends only that team's poll; the report names it.

use std::sync::Arc;

use chrono::{DateTime, Utc};

use super::Poller;
use super::replay::ReplayError;
use super::report::{PollError, PollOutcome, PollReport};
use crate::admin_api::client::wire::Window;
use crate::admin_api::store::PollStore;
use crate::shipping::deadline::Deadline;
use crate::sink::Counts;

/// The pollers of every team (one, unnamed, for the single-team settings).
#[derive(Debug)]
pub struct TeamPollers<S: PollStore> {
    /// One poller per team, in the list's order.
    pub pollers: Vec<Arc<Poller<S>>>,
}

/// What every team's run did.
#[derive(Debug)]
pub struct TeamsReport {
    /// One report per team polled, in the list's order.
    pub reports: Vec<PollReport>,
}

impl<S: PollStore> TeamPollers<S> {
    /// The live poll of every team.
    pub async fn poll_once(&self, deadline: Deadline) -> TeamsReport {
        self.run(self.pollers.clone(), None, deadline).await
    }

    /// The pollers of `team` alone (all without one); an unknown team is refused.
    pub fn only(&self, team: Option<&str>) -> Result<TeamPollers<S>, ReplayError> {
        let Some(name) = team else {
            return Ok(TeamPollers {
                pollers: self.pollers.clone(),
            });
        };
        let pollers: Vec<_> = self
            .pollers
            .iter()
            .filter(|p| p.team.as_deref() == Some(name))
            .cloned()
            .collect();
        if pollers.is_empty() {
            return Err(ReplayError::UnknownTeam(name.to_owned()));
        }
        Ok(TeamPollers { pollers })
    }

    /// A replay of `range` (validated by [`super::replay::replay_window`]) for every team.
    pub async fn replay(&self, range: Window, deadline: Deadline) -> TeamsReport {
        self.run(self.pollers.clone(), Some(range), deadline).await
    }

    async fn run(
        &self,
        pollers: Vec<Arc<Poller<S>>>,
        replay: Option<Window>,
        deadline: Deadline,
    ) -> TeamsReport {
        let tasks: Vec<_> = pollers
            .into_iter()
            .map(|poller| {
                let team = poller.team.clone();
                let task = tokio::spawn(async move {
                    match replay {
                        Some(range) => poller.replay(range, deadline).await,
                        None => poller.poll_once(deadline).await,
                    }
                });
                (team, task)
            })
            .collect();
        let mut reports = Vec::with_capacity(tasks.len());
        for (team, task) in tasks {
            reports.push(match task.await {
                Ok(report) => report,
                Err(err) => {
                    let mut report = PollReport::new(team, replay);
                    report.outcome = PollOutcome::Failed(PollError::Task(err.to_string()));
                    report
                }
            });
        }
        TeamsReport { reports }
    }
}

impl TeamsReport {
    /// True when no team's run failed.
    pub fn succeeded(&self) -> bool {
        self.reports.iter().all(PollReport::succeeded)
    }

    /// The teams whose run failed, with why.
    pub fn failures(&self) -> Vec<(&str, &PollError)> {
        self.reports
            .iter()
            .filter_map(|report| match &report.outcome {
                PollOutcome::Failed(error) => {
                    Some((report.team.as_deref().unwrap_or("default"), error))
                }
                _ => None,
            })
            .collect()
    }

    /// Every team's counts added up.
    pub fn counts(&self) -> Counts {
        let mut total = Counts::default();
        for report in &self.reports {
            total.add(&report.counts);
        }
        total
    }

    /// Requests and retries to the Admin API, all teams.
    pub fn requests(&self) -> (u64, u64) {
        self.reports.iter().fold((0, 0), |(requests, retries), r| {
            (requests + r.requests, retries + r.api_retries)
        })
    }

    /// The newest event indexed by any team.
    pub fn newest_event(&self) -> Option<DateTime<Utc>> {
        self.reports.iter().filter_map(|r| r.newest_event).max()
    }

    /// Logs how each team's run ended.
    pub fn log_outcomes(&self) {
        for report in &self.reports {
            report.log_outcome();
        }
    }
}

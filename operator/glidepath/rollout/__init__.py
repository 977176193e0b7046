"""PURE rollout logic: observation -> decisions and status. No I/O; the clock is passed in."""

from glidepath.rollout.health import Outcome, compute_status
from glidepath.rollout.observation import Observation, TrackObservation

__all__ = ["Observation", "Outcome", "TrackObservation", "compute_status"]

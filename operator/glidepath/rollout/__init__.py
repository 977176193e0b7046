"""PURE rollout logic: observation -> decisions and status. No I/O; the clock is passed in."""

from glidepath.rollout.analysis import BUILTIN_QUERIES, QueryContext, QueryError, judge, render_query
from glidepath.rollout.decide import Decision, Event, Requests, analysis_due, decide
from glidepath.rollout.health import Outcome, compute_status
from glidepath.rollout.observation import ModelFetch, Observation, TrackObservation
from glidepath.rollout.traffic import Split, canary_replicas, effective_weight, split

__all__ = [
    "BUILTIN_QUERIES",
    "Decision",
    "Event",
    "ModelFetch",
    "Observation",
    "Outcome",
    "QueryContext",
    "QueryError",
    "Requests",
    "Split",
    "TrackObservation",
    "analysis_due",
    "canary_replicas",
    "compute_status",
    "decide",
    "effective_weight",
    "judge",
    "render_query",
    "split",
]

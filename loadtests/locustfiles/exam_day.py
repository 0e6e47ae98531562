"""``exam-day``: a weighted mix of the other profiles' users in one tenant.

Browsers sign in (``sso-storm``), learners pass courses that the worker writes back
(``completion-storm``), connectors post records to the inbox (``writeback-ingest``) and buyers check out
(``checkout``), each user class exactly as in its own profile. The ``weights`` option
(``sso=4,completion=3,writeback=2,checkout=1`` by default) sets how locust shares the users out; the
master applies it before the first user starts.
"""

from __future__ import annotations

from typing import Any

from locust import events
from locust.env import Environment
from locust.runners import WorkerRunner

from loadtests.locustfiles.checkout import Buyer
from loadtests.locustfiles.completion_storm import Learner
from loadtests.locustfiles.sso_storm import Browser
from loadtests.locustfiles.support import plan_of
from loadtests.locustfiles.writeback_ingest import WritebackConnector

USER_CLASSES = {"sso": Browser, "completion": Learner, "writeback": WritebackConnector, "checkout": Buyer}


@events.init.add_listener
def _apply_weights(environment: Environment, **_kwargs: Any) -> None:
    if isinstance(environment.runner, WorkerRunner):
        return  # the master shares the users out; a worker has no plan before its first spawn message
    weights = plan_of(environment).data["weights"]
    for name, user_class in USER_CLASSES.items():
        user_class.weight = weights[name]


__all__ = ["Browser", "Buyer", "Learner", "WritebackConnector"]

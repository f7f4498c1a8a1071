"""Plan, send, measure and judge: replaying a trace against a platform API.

The launch (:mod:`~loadtest.replay.launch`) starts Locust on
:mod:`~loadtest.replay.locustfile`; each worker runs its partition
(:mod:`~loadtest.replay.partition`) on the open-model schedule
(:mod:`~loadtest.replay.schedule`), sending calls through the executor
(:mod:`~loadtest.replay.executor`) over a transport; afterwards the master reconciles,
gates on thresholds and writes ``results.json`` (:mod:`~loadtest.replay.finalize`).
"""

"""The OpenAPI description of the Nash lifecycle routes (for loadtest.emulator.openapi).

``OPERATIONS`` has the shape of ``openapi.OPERATIONS``: (method, path, provider, summary,
body model, query parameters as (name, type, required)).  ``RESPONSES`` maps (method,
path) to the model of the 2xx body: every Nash route answers the job.
"""

from __future__ import annotations

from pydantic import BaseModel

from loadtest.providers import nash

_B = nash.BASE_PATH
_J = f"{_B}/jobs/{{jobId}}"

OPERATIONS: tuple[
    tuple[str, str, str, str, type[BaseModel] | None, tuple[tuple[str, str, bool], ...]], ...
] = (
    (
        "post",
        f"{_B}/select_quote",
        "nash",
        "Select a quote (dispatch the job)",
        nash.SelectQuote,
        (),
    ),
    (
        "post",
        f"{_J}/batch/{{batchId}}/refresh_quotes",
        "nash",
        "Requote a batch job (new quote ids)",
        None,
        (),
    ),
    ("post", f"{_J}/autodispatch", "nash", "Dispatch the job to its winner quote", None, ()),
    ("post", f"{_J}/cancel", "nash", "Cancel every package of a job", None, ()),
    (
        "post",
        f"{_J}/{{partId}}/cancel",
        "nash",
        "Cancel one package (by its cfg_ or tsk_ id)",
        None,
        (),
    ),
    (
        "patch",
        f"{_J}/{{cfgId}}",
        "nash",
        "Change one package (refused once a quote is selected)",
        nash.PackagePatch,
        (),
    ),
)

_JOB: type[BaseModel] = nash.JobOut
RESPONSES: dict[tuple[str, str], type[BaseModel]] = {(op[0], op[1]): _JOB for op in OPERATIONS}
RESPONSES[("post", f"{_B}/batch_job")] = _JOB
RESPONSES[("get", _J)] = _JOB

"""Schemathesis hooks of `make fuzz` (scripts/fuzz.sh)."""

import schemathesis


@schemathesis.hook
def filter_body(ctx, body):
    # `cargo lambda watch` cannot put a text body that is not UTF-8 into a Lambda event: it
    # answers such a request with its own 500 before any function runs. Such bodies are
    # not sent (README, "Fuzzing"); every other malformed body is.
    if isinstance(body, (bytes, bytearray)):
        try:
            bytes(body).decode("utf-8")
        except UnicodeDecodeError:
            return False
    return True


@schemathesis.hook
def filter_failure(ctx, failure, case, response):
    # A cursor is opaque: only the strings the API issued (`next_cursor`) are cursors, and
    # no schema can list them. A generated cursor refused with 422 naming `cursor` alone is
    # the API working; the stateful phase follows real cursors through the NextPage links.
    # Any other field in the refusal keeps the failure.
    #
    # An analytics range is refused when `from` is after `to`, when it is longer than three
    # years, or when `period` comes with `from`/`to`: rules across fields, which a schema
    # cannot state. A refusal saying exactly that keeps no failure; any other does.
    if failure.code != "ST202" or response.status_code != 422:
        return True
    try:
        details = response.json()["error"]["details"]
    except Exception:
        return True
    if set(details) == {"cursor"}:
        return False
    across = ("must not be after to", "the range must be at most", "give a period or from/to")
    return not (
        set(details) <= {"from", "to", "period"}
        and all(any(m.startswith(a) for a in across) for ms in details.values() for m in ms)
    )
